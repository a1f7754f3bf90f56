#!/usr/bin/env python
"""Timer sweep benchmark on PostgreSQL (ARCHITECTURE.md §4): what a sweep costs when nothing is due at
a realistic table size, and how fast real `lvyue worker` processes drain a burst of due timers.

Run by hand from the repository root:

    .venv/bin/python bench/timer_sweep.py                  # 100 000 contracts, 10 000 due, 2 workers
    .venv/bin/python bench/timer_sweep.py --quick          # 2 000 contracts, 500 due: under a minute

It works in its own database (`--bench-db`, default `lvyue_bench`) on the server of `--database-url`
(default: $TEST_DATABASE_URL, else postgresql+psycopg://postgres@127.0.0.1:5432/postgres), creates it
when missing, and DROPS AND RECREATES ITS `public` SCHEMA on every run. Two runs at once must use
different --bench-db names.

What it builds — N running contracts of tests/fixtures/short_timer.bpmn, each waiting on one timer:
* the non-due majority (N − due) is bulk-inserted with SQLAlchemy core (instances, instance_parties,
  tasks, timers; no audit events): each row is a clone of one template contract started for real, with
  fresh task ids and its own due instant (spread over 30–400 days) written into the workflow state
  too, so every clone is a valid instance that would fire correctly when its day came; then ANALYZE,
  as autovacuum would long since have done on a production table (without it the planner's stale
  statistics tripled the cost of a start and of an empty sweep at 10^5 rows);
* the `--due` contracts are started one by one through `engine.usecases.instances.start` under a frozen clock an
  hour in the past, all due at the same instant R a few seconds after population ends (or, with
  `--spread S`, due evenly over [R, R + S): a steady arrival of due / S timers per second). R is
  chosen from a calibration of the start rate; if population overruns R the overrun is reported (it
  inflates lag).

What it measures:
* empty sweep: `timers.lease` with nothing due, `--empty-sweeps` times (default 50) — median, p90;
* burst: `--workers` real `lvyue worker` processes (sweep every `--sweep-seconds`) fire the due timers;
  fire_all_seconds = last fired_at − R; throughput = due / fire_all_seconds (with --spread, the
  arrival rate bounds it: read the lag instead);
* lag p50/p99/max: `timers.lag_ms` of the fired rows (fire time − due time);
* workers' peak RSS: VmHWM of /proc/<pid>/status, read just before they are stopped;
* exactly-once: fired rows, alerts and timer_fired audit events all equal `--due`.

Prints a table and writes JSON (`--output`, default bench/results/timer_sweep.json). Exits 1 when the
burst did not fire every due timer exactly once within `--timeout`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import databases  # noqa: E402
from engine import bootstrap, clock
from engine.runtime import definitions, timers
from engine.usecases import instances
from engine.storage import migrate  # noqa: E402
from engine.storage.db import Database  # noqa: E402
from engine.access.directory import Principal, add_department, add_organisation  # noqa: E402
from engine.storage.models import Alert, AuditEvent, Incident, Instance, Party, TaskRow, Timer  # noqa: E402

bootstrap.bootstrap()  # the engine is driven directly here, not through the app or the CLI

DIAGRAM = ROOT / "tests" / "fixtures" / "short_timer.bpmn"
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "timer_sweep.json"
ADMIN = Principal(0, "bench", "admin")
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
TEMPLATE_DUE = datetime(2099, 1, 1, 0, 0, tzinfo=timezone.utc)  # whole seconds: one text form per field
CHUNK = 2000


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL")
                   or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                   help="a PostgreSQL URL; only its server and credentials are used (see --bench-db)")
    p.add_argument("--bench-db", default="lvyue_bench", help="database to (re)create the bench schema in")
    p.add_argument("--contracts", type=int, default=100_000, help="running contracts, one pending timer each")
    p.add_argument("--due", type=int, default=10_000, help="of which this many fall due together")
    p.add_argument("--workers", type=int, default=2, help="`lvyue worker` processes firing the burst")
    p.add_argument("--sweep-seconds", type=float, default=1.0, help="LVYUE_SWEEP_SECONDS of the workers")
    p.add_argument("--empty-sweeps", type=int, default=50, help="samples of the empty sweep")
    p.add_argument("--spread", type=float, default=0.0,
                   help="seconds over which the --due instants are spread evenly (0: all at one instant, a burst)")
    p.add_argument("--timeout", type=float, default=None, help="seconds allowed for the burst (default scales with --due)")
    p.add_argument("--quick", action="store_true", help="2 000 contracts, 500 due: a smoke run under a minute")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    p.add_argument("--seed", type=int, default=20260601)
    args = p.parse_args(argv)
    if args.quick:
        args.contracts, args.due = 2000, 500
    if not 1 <= args.due < args.contracts:
        p.error("need 1 <= --due < --contracts")
    if args.spread < 0:
        p.error("--spread must be >= 0")
    if args.timeout is None:
        args.timeout = max(60.0, args.due * 0.05)
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# ---------------------------------------------------------------- database
def prepare_database(server_url: str, name: str) -> str:
    """Create `name` on the server if missing, reset its schema, migrate it; its URL."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise SystemExit(f"--bench-db {name!r}: lower-case letters, digits and _ only")
    if not make_url(server_url).drivername.startswith("postgresql"):
        raise SystemExit("this bench measures PostgreSQL (FOR UPDATE SKIP LOCKED, several workers)")
    return databases.fresh_postgres(server_url, name)


def seed(db: Database) -> None:
    with db.transaction() as s:
        add_department(s, "BENCH", "基准测试住建局")
        add_organisation(s, "EMP", "某市第一中学")
    definitions.deploy(db, ADMIN, DIAGRAM.read_bytes())


def start_data(due_at: datetime) -> dict:
    return {"employer": "EMP", "department": "BENCH", "due_at": due_at.isoformat(), "amount": "350000.00"}


# ---------------------------------------------------------------- the non-due majority
def bulk_clone(db: Database, count: int, rng: random.Random, base: datetime) -> None:
    """`count` running contracts cloned from one real template, inserted with SQLAlchemy core."""
    template = instances.start(db, ADMIN, "short_timer", None, "BULK-TEMPLATE", start_data(TEMPLATE_DUE))
    with db.read() as s:
        # Every column of the template's rows, so a column added by a later migration is copied too.
        tpl = _columns(s.get(Instance, template["id"]))
        task = _columns(s.get(TaskRow, template["tasks"][0]["id"]))
        timer = _columns(s.get(Timer, template["timers"][0]["id"]))
        parties = [_columns(p) for p in s.scalars(select(Party).where(Party.instance_id == template["id"]))]
    due_iso, due_str = TEMPLATE_DUE.isoformat(), str(TEMPLATE_DUE)
    assert due_iso in tpl["state"] and due_str in tpl["state"], "the template state should hold its due instant"
    pattern = re.compile(f"{UUID_RE}|{re.escape(due_iso)}|{re.escape(due_str)}")

    def clone(i: int):
        due_at = (base + timedelta(days=rng.uniform(30, 400))).replace(microsecond=0)
        ids: dict[str, str] = {}

        def swap(m: re.Match) -> str:
            found = m.group(0)
            if found == due_iso:
                return due_at.isoformat()
            if found == due_str:
                return str(due_at)
            return ids.setdefault(found, str(uuid.uuid4()))

        state = pattern.sub(swap, tpl["state"])
        instance_id = str(uuid.uuid4())
        instance = {**tpl, "id": instance_id, "business_key": f"BULK-{i:07d}", "state": state,
                    "data": {**tpl["data"], "due_at": due_at.isoformat()}, "created_at": base, "updated_at": base}
        party_rows = [{**p, "instance_id": instance_id} for p in parties]
        task_row = {**task, "id": ids[task["id"]], "instance_id": instance_id, "created_at": base, "due_at": due_at}
        timer_row = {**timer, "id": ids[timer["id"]], "instance_id": instance_id, "created_at": base, "due_at": due_at}
        return instance, party_rows, task_row, timer_row

    for first in range(0, count, CHUNK):
        rows = [clone(i) for i in range(first, min(count, first + CHUNK))]
        with db.engine.begin() as conn:
            conn.execute(insert(Instance.__table__), [r[0] for r in rows])
            conn.execute(insert(Party.__table__), [p for r in rows for p in r[1]])
            conn.execute(insert(TaskRow.__table__), [r[2] for r in rows])
            conn.execute(insert(Timer.__table__), [r[3] for r in rows])


def _columns(row) -> dict:
    """A mapped row as {column name: value}, for a core INSERT of its clone (generated columns left out)."""
    return {attr.columns[0].name: getattr(row, attr.key) for attr in row.__mapper__.column_attrs
            if attr.columns[0].computed is None}  # a generated column is the database's to write


# ---------------------------------------------------------------- the due set
def start_due(db: Database, count: int, due_at: datetime, frozen: datetime, offset: int = 0, spread: float = 0.0) -> float:
    """Start `count` real contracts due at `due_at` (or evenly over [due_at, due_at + spread s)) under a
    clock frozen at `frozen`; seconds taken."""
    began = time.perf_counter()
    with clock.frozen_at(frozen):
        for n, i in enumerate(range(offset, offset + count)):
            due = due_at + timedelta(seconds=spread * n / count) if spread else due_at
            instances.start(db, ADMIN, "short_timer", None, f"DUE-{i:07d}", start_data(due))
    return time.perf_counter() - began


# ---------------------------------------------------------------- workers
def start_workers(n: int, url: str, sweep_seconds: float, logdir: Path) -> list[tuple[subprocess.Popen, Path]]:
    env = dict(os.environ, DATABASE_URL=url, LVYUE_SWEEP_SECONDS=str(sweep_seconds),
               LVYUE_INSTANCE_PATH=str(logdir / "instance"))
    out = []
    for i in range(n):
        path = logdir / f"worker-{i}.log"
        handle = open(path, "w")
        proc = subprocess.Popen([sys.executable, "-m", "api.cli", "worker"], cwd=ROOT, env=env,
                                stdout=handle, stderr=subprocess.STDOUT)
        handle.close()
        out.append((proc, path))
    return out


def wait_ready(workers, deadline: float) -> None:
    """Each worker logs 'sweep every' once its scheduler is configured."""
    pending = list(workers)
    while pending and time.monotonic() < deadline:
        for proc, path in list(pending):
            if proc.poll() is not None:
                raise SystemExit(f"a worker exited with {proc.returncode}; see {path}")
            if "sweep every" in path.read_text(errors="replace"):
                pending.remove((proc, path))
        time.sleep(0.1)
    if pending:
        raise SystemExit(f"workers not ready in time; see {pending[0][1]}")


def peak_rss_mib(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmHWM:\s+(\d+)\s+kB", status, re.M)
    return round(int(found.group(1)) / 1024, 1) if found else None


def stop_workers(workers) -> None:
    for proc, _ in workers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc, _ in workers:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def exactly_once_held(due: int, fired: list, alerts: int, fired_events: int, distinct_fired: int,
                          still_waiting: int) -> bool:
    return len(fired) == due == alerts == fired_events == distinct_fired and still_waiting == 0


def analyze(db: Database) -> None:
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))


def fired_count(db: Database) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).where(Timer.status == "fired"))


# ---------------------------------------------------------------- main
def run(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    t_all = time.perf_counter()
    log(f"preparing database {args.bench_db}")
    url = prepare_database(args.database_url, args.bench_db)
    db = Database(url)
    seed(db)
    with db.read() as s:
        server_version = s.scalar(text("SHOW server_version"))

    frozen = datetime.now(timezone.utc) - timedelta(hours=1)
    majority = args.contracts - args.due
    # The non-due majority = the template + its clones + a few real starts that calibrate the start rate.
    calibration = min(20, majority - 1)
    clones = majority - 1 - calibration
    t = time.perf_counter()
    log(f"bulk-inserting {clones} non-due contracts (clones of a real one)")
    bulk_clone(db, clones, rng, datetime.now(timezone.utc))
    bulk_seconds = time.perf_counter() - t
    t = time.perf_counter()
    analyze(db)  # as autovacuum would have long since done on a production table
    analyze_seconds = time.perf_counter() - t

    # Calibrate the start rate on real starts that fall due far out, then pick the burst instant R.
    probe_seconds = start_due(db, calibration, TEMPLATE_DUE, frozen, offset=args.due) if calibration else 0.0
    per_start = probe_seconds / calibration if calibration else 0.02
    estimate = per_start * args.due
    burst_at = (datetime.now(timezone.utc) + timedelta(seconds=estimate * 1.3 + 8 + args.empty_sweeps * 0.05)
                ).replace(microsecond=0) + timedelta(seconds=1)
    last_due = burst_at + timedelta(seconds=args.spread)
    log(f"starting {args.due} due contracts through instances.start (~{per_start * 1000:.1f} ms each), "
        + (f"due evenly from {burst_at.isoformat()} to {last_due.isoformat()}" if args.spread else
           f"all due at {burst_at.isoformat()}"))
    due_seconds = start_due(db, args.due, burst_at, frozen, spread=args.spread)

    with db.read() as s:
        total = s.scalar(select(func.count()).select_from(Instance).where(Instance.status == "running"))
        waiting = s.scalar(select(func.count()).where(Timer.status == "waiting"))
    analyze(db)

    # Empty sweeps: nothing is due before R.
    if datetime.now(timezone.utc) >= burst_at:
        log("warning: population overran the burst instant; the empty-sweep samples are skipped")
        empty = []
    else:
        owner = timers.worker_name()
        empty = []
        for _ in range(args.empty_sweeps):
            if datetime.now(timezone.utc) >= burst_at - timedelta(seconds=0.5):
                break
            t = time.perf_counter()
            leased = timers.lease(db, owner)
            empty.append((time.perf_counter() - t) * 1000)
            if leased:
                raise SystemExit(f"an empty sweep leased {len(leased)} timers: the bench is wrong")
    log(f"empty sweep over {waiting} waiting timers: median {statistics.median(empty):.2f} ms" if empty else
        "no empty-sweep samples")

    logdir = Path(tempfile.mkdtemp(prefix="lvyue-bench-"))
    workers = start_workers(args.workers, url, args.sweep_seconds, logdir)
    rss: list[float | None] = []
    try:
        wait_ready(workers, time.monotonic() + 60)
        overrun = max(0.0, (datetime.now(timezone.utc) - burst_at).total_seconds())
        log(f"{args.workers} workers ready; waiting for the burst at {burst_at.time()}"
            + (f" (overran by {overrun:.1f} s)" if overrun else ""))
        deadline = (time.monotonic() + max(0.0, (burst_at - datetime.now(timezone.utc)).total_seconds())
                    + args.spread + args.timeout)
        done = 0
        while time.monotonic() < deadline:
            done = fired_count(db)
            if done >= args.due:
                break
            time.sleep(0.2)
        rss = [peak_rss_mib(proc.pid) for proc, _ in workers]
    finally:
        stop_workers(workers)

    with db.read() as s:
        fired = list(s.execute(select(Timer.lag_ms, Timer.fired_at, Timer.due_at, Timer.fired_by)
                               .where(Timer.status == "fired")))
        alerts = s.scalar(select(func.count()).select_from(Alert))
        fired_events = s.scalar(select(func.count()).where(AuditEvent.action == "timer_fired"))
        distinct_fired = s.scalar(select(func.count(func.distinct(AuditEvent.instance_id)))
                                  .where(AuditEvent.action == "timer_fired"))
        incidents = s.scalar(select(func.count()).select_from(Incident))
        still_waiting = s.scalar(select(func.count()).where(Timer.status.in_(("waiting", "leased")),
                                                            Timer.due_at <= last_due))
    db.dispose()

    if exactly_once_held(args.due, fired, alerts, fired_events, distinct_fired, still_waiting):
        shutil.rmtree(logdir, ignore_errors=True)
    lags = [row.lag_ms for row in fired if row.lag_ms is not None]
    last_fired = max((row.fired_at for row in fired), default=None)
    first_fired = min((row.fired_at for row in fired), default=None)
    fire_all = (last_fired - burst_at).total_seconds() if last_fired else None
    per_worker: dict[str, int] = {}
    for row in fired:
        per_worker[row.fired_by] = per_worker.get(row.fired_by, 0) + 1
    exactly_once = exactly_once_held(args.due, fired, alerts, fired_events, distinct_fired, still_waiting)
    return {
        "bench": "timer_sweep",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "postgresql": server_version},
        "params": {"contracts": args.contracts, "due": args.due, "workers": args.workers,
                   "sweep_seconds": args.sweep_seconds, "empty_sweeps": args.empty_sweeps,
                   "spread_seconds": args.spread, "batch": timers.BATCH, "fire_group": timers.FIRE_GROUP,
                   "seed": args.seed},
        "offered_per_second": round(args.due / args.spread, 1) if args.spread else None,
        "contracts_total": total,
        "waiting_timers_at_empty_sweep": waiting,
        "populate_seconds": {"bulk_insert": round(bulk_seconds, 2), "bulk_rows_per_second": round(clones / bulk_seconds) if bulk_seconds else None,
                             "due_starts": round(due_seconds, 2), "ms_per_start": round(due_seconds / args.due * 1000, 2),
                             "analyze": round(analyze_seconds, 2)},
        "burst_overrun_seconds": round(overrun, 3),
        "empty_sweep_ms": {"median": round(statistics.median(empty), 3) if empty else None,
                           "p90": round(percentile(empty, 90), 3) if empty else None,
                           "min": round(min(empty), 3) if empty else None, "samples": len(empty)},
        "fire_all_seconds": round(fire_all, 3) if fire_all is not None else None,
        "first_fire_seconds": round((first_fired - burst_at).total_seconds(), 3) if first_fired else None,
        # With --spread the timers arrive at offered_per_second, so this is no capacity figure.
        "throughput_per_second": round(args.due / fire_all, 1) if fire_all else None,
        "lag_ms": {"p50": percentile(lags, 50) if lags else None, "p99": percentile(lags, 99) if lags else None,
                   "max": max(lags) if lags else None, "count": len(lags)},
        "worker_peak_rss_mib": rss,
        "fired_per_worker": sorted(per_worker.values(), reverse=True),
        "exactly_once": {"ok": exactly_once, "fired": len(fired), "alerts": alerts, "timer_fired_events": fired_events,
                         "distinct_instances_fired": distinct_fired, "due_still_waiting": still_waiting,
                         "incidents": incidents},
        "worker_logs": None if exactly_once else str(logdir),  # kept only when something went wrong
        "total_seconds": round(time.perf_counter() - t_all, 1),
    }


def table(result: dict) -> str:
    p, e, lag = result["params"], result["empty_sweep_ms"], result["lag_ms"]
    rows = [
        ("contracts (running, 1 timer each)", f"{result['contracts_total']:,}"),
        ("due in the burst", f"{p['due']:,}" + (f", spread evenly over {p['spread_seconds']} s "
                                                 f"({result['offered_per_second']}/s)" if p.get("spread_seconds") else
                                                 ", all at one instant")),
        ("workers × sweep interval", f"{p['workers']} × {p['sweep_seconds']} s"),
        ("empty sweep, median (p90) [ms]", f"{e['median']} ({e['p90']})  n={e['samples']}"),
        ("fire all due [s] (first due instant → last fired)", f"{result['fire_all_seconds']}"),
        ("throughput [timers/s]", f"{result['throughput_per_second']}"),
        ("lag p50 / p99 / max [ms]", f"{lag['p50']} / {lag['p99']} / {lag['max']}"),
        ("worker peak RSS [MiB]", ", ".join(str(r) for r in result["worker_peak_rss_mib"])),
        ("fired per worker", ", ".join(str(n) for n in result["fired_per_worker"])),
        ("exactly once", "yes" if result["exactly_once"]["ok"] else f"NO: {result['exactly_once']}"),
        ("bulk insert [contracts/s], ms per real start", f"{result['populate_seconds']['bulk_rows_per_second']}, "
                                                    f"{result['populate_seconds']['ms_per_start']}"),
        ("burst overrun [s]", f"{result['burst_overrun_seconds']}"),
        ("total run [s]", f"{result['total_seconds']}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = run(args)
    print(table(result))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    log(f"wrote {args.output}")
    return 0 if result["exactly_once"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
