"""The `lvyue` command line (docs/api.md "CLI", README "Command line")."""
from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

import click

from engine import bootstrap, clock
from engine.runtime import definitions, spiff
from engine.access import directory, passwords, signing
from engine.storage import migrate
from engine.supervision import intake, risk
from engine.usecases import instances
from engine.storage.db import Database
from engine.errors import Conflict, Invalid, LvyueError
from engine.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parent.parent


def _settings() -> Settings:
    """The settings `main` read from the environment when the command started."""
    return click.get_current_context().find_object(Settings)


def _url() -> str:
    return _settings().database_url_or_default()


def _db() -> Database:
    return Database(_url())


ADMIN = directory.Principal(0, "cli", "admin")


@click.group(help="Lvyue (履约): post-award contract supervision engine. Configured by environment variables "
                  "(README \"Configuration\").")
@click.pass_context
def main(ctx: click.Context) -> None:
    # Read once, before any command runs: a bad value stops here, naming the variable.
    try:
        ctx.obj = Settings.from_env(os.environ)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    # Every command that runs the engine (worker, tick, audit, calendar, db upgrade, demo …) needs the domain
    # registered with the runtime; registering is cheap and idempotent, so the group does it once for all.
    bootstrap.bootstrap()
    spiff.set_step_budget(ctx.obj.step_budget())


def _fail(exc: LvyueError) -> None:
    click.echo(f"error: {exc.detail}", err=True)
    for field, messages in exc.errors.items():
        click.echo(f"  {field}: {'; '.join(messages)}", err=True)
    sys.exit(1)


# ---------------------------------------------------------------- db
@main.group(help="Database schema.")
def db() -> None:
    pass


@db.command("upgrade", help="Apply every migration (Alembic upgrade head).")
def db_upgrade() -> None:
    migrate.upgrade(_url())
    click.echo("database at head")


# ---------------------------------------------------------------- directory
@main.group(help="Supervising departments.")
def departments() -> None:
    pass


@departments.command("add")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--parent")
@click.option("--escalates-to")
@click.option("--webhook", "webhook_url")
@click.option("--secret", "webhook_secret", help="the signing secret: whsec_<base64 of 24-64 random bytes> "
              "(Standard Webhooks), or an older text secret (its whsec_ form: whsec_ + base64 of its UTF-8 text)")
def departments_add(code, name, parent, escalates_to, webhook_url, webhook_secret) -> None:
    try:
        with _db().transaction() as session:
            directory.add_department(session, code, name, parent, escalates_to, webhook_url, webhook_secret)
    except LvyueError as exc:
        _fail(exc)
    click.echo(f"department {code} added")


@departments.command("route", help="Send a department's leads of one type to a receiving body: official_interference "
                     "→ discipline inspection, bid_rigging → the police, late_payment → the SME complaint channel; the "
                     "risk indicators' types (abnormal_win_rate, expert_scoring …) too. Without a route a lead goes to "
                     "the department's escalation target.")
@click.argument("code")
@click.option("--type", "--lead-type", "lead_type", required=True, help="the lead type (see above)")
@click.option("--to", "to_department", required=True, help="the receiving body's department code")
def departments_route(code, lead_type, to_department) -> None:
    from engine.supervision import credit, leads  # local import: the CLI loads the domain only for the commands that use it

    try:
        with _db().transaction() as session:
            known = (*credit.LEAD_TYPES, *sorted(set(risk.rules().leads) - set(credit.LEAD_TYPES)))
            if lead_type not in known:
                raise Invalid("unknown lead type", {"type": [f"one of {', '.join(known)}"]})
            if lead_type in credit.LEAD_TYPES:
                leads.set_route(session, code, lead_type, to_department)
            else:
                risk.set_route(session, code, lead_type, to_department)
    except LvyueError as exc:
        _fail(exc)
    click.echo(f"{lead_type} leads of {code} go to {to_department}")


@main.group(help="Organisations (employers, contractors, guarantors).")
def orgs() -> None:
    pass


@orgs.command("add")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--credit-rating", type=click.Choice(directory.CREDIT_RATINGS))
@click.option("--sme", is_flag=True, help="a small or medium-sized enterprise (保障中小企业款项支付条例)")
@click.option("--public-body", is_flag=True, help="a government body or public institution (机关、事业单位)")
@click.option("--large-enterprise", is_flag=True, help="a large enterprise, e.g. an SOE (大型企业; P02)")
@click.option("--uscc", help="the unified social credit code (统一社会信用代码, 18 characters, GB 32100-2015)")
def orgs_add(code, name, credit_rating, sme, public_body, large_enterprise, uscc) -> None:
    try:
        with _db().transaction() as session:
            directory.add_organisation(session, code, name, credit_rating, sme, public_body, large_enterprise, uscc)
    except LvyueError as exc:
        _fail(exc)
    click.echo(f"organisation {code} added")


@orgs.command("callback-secret", help="Set the secret an issuer's e-guarantee platform signs its callbacks with "
              "(POST /api/v1/instances/{id}/messages/guarantee_issued, Standard Webhooks headers); without --secret "
              "a new random whsec_ secret is printed once, alone on the last line.")
@click.argument("code")
@click.option("--secret", help="whsec_<base64 of 24-64 bytes>, or an older text secret of at least 16 characters "
                               "(default: a new random whsec_ secret)")
def orgs_callback_secret(code, secret) -> None:
    from engine.supervision import guarantees

    generated = secret is None
    secret = secret if secret is not None else signing.new_secret()
    try:
        with _db().transaction() as session:
            guarantees.set_callback_secret(session, code, secret)
    except LvyueError as exc:
        _fail(exc)
    click.echo(f"callback secret of {code} set" + ("; secret:" if generated else ""))
    if generated:
        click.echo(secret)


@main.group(help="Users and their tokens.")
def users() -> None:
    pass


@users.command("add", help="Create a user; its token is printed once, alone on the last line.")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(directory.ROLES))
@click.option("--org")
@click.option("--department")
@click.option("--expires-days", type=click.IntRange(1, directory.MAX_TOKEN_DAYS),
              help=f"token lifetime in days, 1–{directory.MAX_TOKEN_DAYS} (default: no expiry)")
def users_add(name, role, org, department, expires_days) -> None:
    try:
        with _db().transaction() as session:
            _, token = directory.add_user(session, name, role, org, department, expires_days)
    except LvyueError as exc:
        _fail(exc)
    click.echo(f"user {name} ({role}) added; token:")
    click.echo(token)


@users.command("password", help="Set a user's password for signing in from a browser (read from standard input when "
                                "it is not a terminal, else asked twice without echo); the user's browser sessions end.")
@click.argument("name")
def users_password(name) -> None:
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        with _db().transaction() as session:
            passwords.set_password(session, name, password)
    except LvyueError as exc:
        _fail(exc)
    click.echo(f"password of {name} set")


@main.group(help="API tokens.")
def tokens() -> None:
    pass


@tokens.command("revoke", help="Revoke every token of a user.")
@click.argument("name")
def tokens_revoke(name) -> None:
    try:
        with _db().transaction() as session:
            n = directory.revoke_tokens(session, name)
    except LvyueError as exc:
        _fail(exc)
    click.echo(f"{n} token(s) revoked")


# ---------------------------------------------------------------- definitions
@main.group(help="Process definitions.")
def definitions_group() -> None:
    pass


main.add_command(definitions_group, "definitions")


@definitions_group.command("deploy", help="Validate and deploy a BPMN file as a new version.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def definitions_deploy(files) -> None:
    database = _db()
    for path in files:
        try:
            out, created = definitions.deploy(database, ADMIN, path.read_bytes())
        except LvyueError as exc:
            _fail(exc)
        click.echo(f"{out['key']} version {out['version']} {'deployed' if created else 'unchanged'} ({path.name})")


# ---------------------------------------------------------------- running
# The libraries' loggers that `--log-level` sets: at INFO, APScheduler logs every job run (four lines a second)
# and SpiffWorkflow every state change, which buries the start-up block in seconds.
LIBRARY_LOGGERS = ("apscheduler", "spiff", "SpiffWorkflow", "waitress")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# The pages a browser opens, in the order the start-up block lists them (api/pages.py).
PAGES = (("/", "home: sign in, links to the pages your role may use"), ("/tasks", "task inbox (parties)"),
         ("/contracts", "contracts and their ledgers (supervisors, parties)"),
         ("/dashboard", "supervision dashboard"), ("/bulletin", "monthly market bulletin"),
         ("/modeler", "BPMN modeler (designers)"), ("/docs", "API docs (Swagger UI); the contract: docs/api.md"))


def configure_logging(level: str) -> None:
    """Lvyue's own loggers at INFO (the access log, sweeps that fired something, warnings); the libraries' at
    `level`. One line per record, UTC timestamps, key=value fields where Lvyue writes them."""
    import logging
    import time as _time

    handler = logging.StreamHandler()
    formatter = logging.Formatter("%(asctime)sZ %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = _time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(level)


def startup_block(base: str, api_line: str, tokens: str | None) -> list[str]:
    """The lines `lvyue serve` prints last at start-up: where the pages are, then the demo tokens if given."""
    width = max(len(path) for path, _ in PAGES)
    lines = ["", "=" * 72, f"Lvyue 履约 is ready at {base}/", api_line, "", "Pages:"]
    lines += [f"  {base + path:<{len(base) + width}}  {what}" for path, what in PAGES]
    lines.append(f"  {base + '/api/v1':<{len(base) + width}}  the API (bearer tokens)")
    if tokens:
        lines += ["", *tokens.rstrip("\n").splitlines()]
    lines.append("=" * 72)
    return lines


@main.command(help="Run the API, the pages and the embedded scheduler in one process.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=32, show_default=True, type=click.IntRange(2, 512),
              help="request threads; each open alert stream (SSE) holds one, and streams get at most half "
                   "(LVYUE_STREAMS_MAX overrides)")
@click.option("--log-level", default="WARNING", show_default=True, type=click.Choice(LOG_LEVELS, case_sensitive=False),
              help="level of the libraries' loggers (APScheduler, SpiffWorkflow, waitress); Lvyue's own access log "
                   "and warnings are always written")
@click.option("--demo-tokens", "demo_tokens", type=click.Path(dir_okay=False, path_type=Path),
              help="print this file (written by `lvyue demo`) in the start-up block; ./dev serve passes it")
@click.option("--trusted-proxy", "trusted_proxy", metavar="IP",
              help="the address of a TLS-terminating proxy whose X-Forwarded-Proto is believed (the sign-in "
                   "cookies are then Secure for https requests); any other client's X-Forwarded-* headers are dropped")
def serve(host, port, threads, log_level, demo_tokens, trusted_proxy) -> None:
    import waitress

    from engine.runtime import scheduler

    from . import bodies, create_app

    configure_logging(log_level.upper())
    app = create_app({"LVYUE_REQUEST_THREADS": threads}, _settings())
    state = app.extensions["lvyue"]
    schedule = state.settings.schedule()
    scheduler.start_background(state.db, schedule)
    streams = state.streams
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    tokens = demo_tokens.read_text(encoding="utf-8") if demo_tokens and demo_tokens.is_file() else None
    api_line = (f"API /api/v1; timer sweep every {schedule.sweep_seconds}s; {threads} request threads, at most "
                f"{streams.total} alert streams ({streams.per_token} per token); libraries log at {log_level.upper()}")
    # waitress, not werkzeug's development server: keep-alive, a bounded thread pool, production-grade parsing.
    # waitress buffers a whole body before the app sees it (by default up to 1 GB): it stops at
    # WAITRESS_BODY_FACTOR × the largest body the app takes; below that the app answers 413 as problem+json.
    # Connections cost waitress a file descriptor, not a thread; at its default limit (100) a party holding
    # a hundred keep-alive connections (refused streams included) would stop it accepting anyone else.
    # The socket is bound before the start-up block is printed: "ready" is true when it is read.
    server = waitress.create_server(app, host=host, port=port, threads=threads, ident="lvyue",
                                    max_request_body_size=WAITRESS_BODY_FACTOR * bodies.MAX_BODY,
                                    connection_limit=_connection_limit(), **_proxy_options(trusted_proxy))
    for line in startup_block(f"http://{shown}:{port}", api_line, tokens):
        click.echo(line)
    sys.stdout.flush()
    server.run()


WAITRESS_BODY_FACTOR = 4


def _proxy_options(trusted_proxy: str | None) -> dict:
    """waitress' proxy settings: none by default (X-Forwarded-* ignored); with a trusted proxy, its
    X-Forwarded-Proto sets the request's scheme and the header is cleared from anyone else's requests."""
    if not trusted_proxy:
        return {}
    return {"trusted_proxy": trusted_proxy, "trusted_proxy_headers": {"x-forwarded-proto"},
            "clear_untrusted_proxy_headers": True}
MAX_CONNECTIONS = 1000


def _connection_limit() -> int:
    """MAX_CONNECTIONS, or fewer where the process may open fewer files (some are kept for the database)."""
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return MAX_CONNECTIONS if soft == resource.RLIM_INFINITY else max(100, min(MAX_CONNECTIONS, soft - 100))


@main.command(help="Run the scheduler only: timer sweeps and webhook deliveries (any number of workers).")
@click.option("--log-level", default="WARNING", show_default=True, type=click.Choice(LOG_LEVELS, case_sensitive=False),
              help="level of the libraries' loggers (APScheduler, SpiffWorkflow)")
def worker(log_level) -> None:
    from engine.runtime import scheduler

    configure_logging(log_level.upper())
    scheduler.run_forever(_db(), _settings().schedule())


@main.command(help="Fire everything due at that instant (default: now), deliver webhooks, then exit.")
@click.option("--at", "at", help="ISO 8601 instant with offset, e.g. 2026-12-01T09:00:00+08:00")
def tick(at) -> None:
    from engine import clock
    from engine.supervision import holidays
    from engine.runtime import timers, webhooks

    instant = _parse_at(at)
    database = _db()
    holidays.install(database)
    schedule = _settings().schedule()
    result = timers.tick(database, instant, lease_for=schedule.timer_lease, group_of=schedule.fire_group)
    if instant is not None:
        with clock.frozen_at(instant):
            delivered = webhooks.deliver_due(database, "tick")
    else:
        delivered = webhooks.deliver_due(database, "tick")
    click.echo(f"fired {result.fired} timer(s), {result.failed} failed, {delivered} delivery attempt(s)")


@main.group(help="The official holiday calendar (国务院办公厅 schedule).")
def calendar() -> None:
    pass


@calendar.command("import", help="Import one year's schedule (JSON) and move the deadlines it changes.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def calendar_import(file) -> None:
    from engine.supervision import holidays

    try:
        out = holidays.import_year(_db(), file.read_text(encoding="utf-8"), source=file.name)
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{out['year']}: {out['holidays']} holidays, {out['workdays']} make-up workdays; "
               f"{out['timers_moved']} timer(s) and {out['alerts_moved']} alert deadline(s) moved")


@calendar.command("list", help="The years whose official schedule is loaded.")
def calendar_list() -> None:
    from engine.supervision import holidays

    for y in holidays.years(_db()):
        click.echo(f"{y['year']}  {y['holidays']:3d} holidays  {y['workdays']:2d} workdays  {y['source']}")


@main.group(help="The audit trail.")
def audit() -> None:
    pass


def _anchor_path(given: Path | None) -> Path:
    return given or _settings().anchor_path


@audit.command("anchor", help="Append every chain's head to the anchor log (outside the database): "
               "$LVYUE_AUDIT_ANCHOR, default instance/audit-anchor.jsonl. Keep a copy off this machine.")
@click.option("--anchor", "path", type=click.Path(dir_okay=False, path_type=Path), help="the anchor log to append to")
def audit_anchor(path) -> None:
    from engine.runtime import anchor

    path = _anchor_path(path)
    entry = anchor.write(_db(), path)
    click.echo(f"anchored {entry['count']} chain head(s), {len(entry['heads'])} changed, as entry {entry['n']} "
               f"of {path}")
    if entry["gone"]:
        click.echo(f"warning: {len(entry['gone'])} contract(s) anchored before are gone from the database; "
                   "run lvyue audit verify", err=True)


@audit.command("verify", help="Check every hash chain, the heads against the latest anchor, and the ledger rows "
               "and role bindings against the events that wrote them; name each contract that fails.")
@click.option("--instance", "instance_id")
@click.option("--anchor", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the anchor log to check against, e.g. the department's copy (default: the configured log)")
def audit_verify(instance_id, path) -> None:
    from engine.runtime import anchor
    from engine.runtime import audit as trail

    log_path = _anchor_path(path)
    log = anchor.read(log_path)
    broken = 0
    for problem in log.problems:
        click.echo(f"BROKEN anchor log {log_path}: {problem}")
        broken += 1
    if not log.entries:
        click.echo(f"note: no anchor log at {log_path}: the chains are checked against the database only", err=True)
    with _db().read() as session:
        for b in trail.verify(session, instance_id, log.anchored):
            click.echo(f"BROKEN {b}")
            broken += 1
    if broken:
        sys.exit(1)
    click.echo("audit trail intact" + (f" (anchored {log.last_at}, entry {log.entries})" if log.entries else ""))


@main.group(help="The trading platform's OCDS 1.1 release packages (docs/intake.md).")
def ocds() -> None:
    pass


@ocds.command("import", help="Import an OCDS 1.1 release package (tenders, bids, awards); idempotent by release id. "
              "Prints how many releases were created, updated and unchanged.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def ocds_import(file) -> None:
    try:
        if file.stat().st_size > intake.MAX_PACKAGE_BYTES:
            raise Invalid(f"{file} is larger than {intake.MAX_PACKAGE_BYTES} bytes",
                                 {"file": [f"at most {intake.MAX_PACKAGE_BYTES} bytes; split the package"]})
        result = intake.import_package(_db(), ADMIN, intake.load(file.read_bytes()), _settings().ocds_schema_dir)
    except LvyueError as exc:
        _fail(exc)
    click.echo(f"{result['releases']} releases: {len(result['created'])} created, {len(result['updated'])} updated, "
               f"{len(result['unchanged'])} unchanged; {result['tenders']} tenders, {result['awards']} awards")


@main.command(help="Set up a demo directory and deploy the bundled diagrams; prints the demo tokens.")
@click.option("--tokens-file", type=click.Path(dir_okay=False, path_type=Path),
              help="also write the token block to this file (mode 0600), for `lvyue serve --demo-tokens`")
def demo(tokens_file) -> None:
    from engine.supervision import demo as demo_data

    migrate.upgrade(_url())
    db = _db()
    seeded = list(demo_data.seed(db, ROOT / "bpmn", _settings().ocds_schema_dir))
    operator = directory.Principal(0, "demo", "operator")
    today = clock.now().astimezone(clock.SHANGHAI).date()
    for key, data in demo_data.contracts(today):
        try:
            instances.start(db, operator, "post_award", None, key, data)
            click.echo(f"demo contract {key} started")
        except Conflict:
            click.echo(f"demo contract {key} exists")
    lines = []
    for line in seeded:
        click.echo(line)
        lines.append(line)
    if tokens_file is not None:
        # The token block, for `lvyue serve --demo-tokens` to repeat last at start-up (./dev serve); owner-only.
        start = next(i for i, line in enumerate(lines) if line.startswith("Demo password"))
        tokens_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tokens_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("\n".join(lines[start:]) + "\n")


def _parse_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        raise click.BadParameter("give an offset, e.g. 2026-12-01T09:00:00+08:00")
    return at


if __name__ == "__main__":
    main()
