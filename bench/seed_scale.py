#!/usr/bin/env python
"""Supervisor queries at provincial scale (issue 20): seed N post_award contracts by direct inserts, then time
the supervisors' queries against a real `lvyue serve` on PostgreSQL.

Run by hand from the repository root:

    .venv/bin/python bench/seed_scale.py --contracts 100000            # seed, then measure
    .venv/bin/python bench/seed_scale.py --contracts 100000 --measure-only   # measure what is seeded
    .venv/bin/python bench/seed_scale.py --quick                        # 2 000 contracts: a smoke run

It works in its own database (`--bench-db`, default `bench_scale`) on the server of `--database-url`, creates it
when missing, and (unless --measure-only) DROPS AND RECREATES ITS `public` SCHEMA, applies the migrations,
deploys the bundled diagrams and adds a directory: a provincial department PROV with CITIES city departments
below it, 2 000 employers, 5 000 contractors, and a supervisor of PROV (who sees every contract, yellow alerts
excepted: the provincial platform's view) and an admin.

What one contract is (a seeded random mix, `--seed`): a post_award instance (no workflow state: the queries never
read it) with its award notice date spread over the two years before the reported month, signed (95 %) and
filed (90 % of those), 1–4 payment milestones summing to its amount, each with the record_payment task whose
due date the engine would have set (30 days after acceptance) and its payments: 78 % paid on time, 10 % paid
late, 5 % partly paid, 7 % not paid (arrears); 6 % of contracts are works contracts with an advance (C01)
term, half of them paid; the sign and file tasks with their deadlines; an alert per late obligation (arrears
or non-performance; yellow/orange/red by age, resolved when met) with its alert_* audit events; a 10 % of red
arrears alerts confirmed (credit record and lead); 4 % cancelled, 25 % completed; the payment_obligations rows the
engine keeps beside each contract (payment_obligations, contract_deadlines). Rows go in with COPY.

What it measures, each the median of `--repeat` (5) calls by the PROV supervisor against `lvyue serve`:
the monthly report (JSON and CSV) of `--month`, the dashboard, the first and a deep page (the cursor after
`--deep` rows, walked once beforehand) of /alerts and /instances, one contract's ledger, the OCDS release
package of the month; and the server's peak RSS (VmHWM) after all of them. Prints a table, writes JSON
(`--output`, default bench/results/seed_scale_<N>.json).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from engine import bootstrap  # noqa: E402
from engine.access import directory  # noqa: E402
from engine.access.directory import Principal  # noqa: E402
from engine.runtime import definitions  # noqa: E402
from engine.storage import migrate  # noqa: E402
from engine.storage.db import Database, Money  # noqa: E402
from engine.storage.models import Definition  # noqa: E402
from engine.supervision import bindings, obligations, timing  # noqa: E402

bootstrap.bootstrap()
REGISTRY = timing.registry()

UTC = timezone.utc
CST = timezone(timedelta(hours=8))
CITIES = 12
EMPLOYERS, CONTRACTORS = 2000, 5000
FUNDING = ("fiscal_budget", "special_bonds", "state_owned", "self_raised", "mixed", None)


def end_of_day(day: date) -> datetime:
    """24:00 China time of `day`, as an aware UTC instant (what deadlines.end_of_day gives)."""
    return datetime(day.year, day.month, day.day, tzinfo=CST).astimezone(UTC) + timedelta(days=1)


def at_noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=CST).astimezone(UTC)


def ensure_db(server_url: str, name: str) -> str:
    if not (name.startswith("bench_") or name.startswith("test_")):
        raise SystemExit("--bench-db must start with bench_ or test_")
    url = make_url(server_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        if not c.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def reset_schema(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def directory_and_definitions(db: Database) -> tuple[int, dict[str, str]]:
    migrate.upgrade(db.url)
    admin = Principal(0, "bench", "admin")
    for path in sorted((ROOT / "bpmn").glob("*.bpmn")):
        definitions.deploy(db, admin, path.read_bytes())
    tokens = {}
    with db.transaction() as s:
        directory.add_department(s, "JJ", "省纪委监委")
        directory.add_department(s, "PROV", "省住房和城乡建设厅", escalates_to="JJ")
        for c in range(CITIES):
            directory.add_department(s, f"C{c:02d}", f"市住建局 {c:02d}", parent="PROV", escalates_to="JJ")
        s.flush()
        for e in range(EMPLOYERS):
            directory.add_organisation(s, f"E{e:05d}", f"建设单位 {e:05d}", public_body=e % 3 == 0)
        for k in range(CONTRACTORS):
            directory.add_organisation(s, f"K{k:05d}", f"施工单位 {k:05d}", sme=k % 2 == 0)
        s.flush()
        _, tokens["supervisor"] = directory.add_user(s, "prov-supervisor", "supervisor", None, "PROV")
        _, tokens["admin"] = directory.add_user(s, "bench-admin", "admin", None, None)
    with db.read() as s:
        definition_id = s.query(Definition.id).filter(Definition.key == "post_award").order_by(Definition.version.desc()).first()[0]
    del admin
    return definition_id, tokens


# ---------------------------------------------------------------- the rows of one contract
CONTRACT_DEADLINES = ("instance_id", "department_code", "awarded_on", "signed_on", "sign_last_day", "filed_on",
                      "file_last_day", "bid_release_due_at", "bid_released_on", "bid_exempt", "performance_release_due_at",
                      "performance_released_on", "quality_release_due_at", "quality_released_on", "works_terms",
                      "signed_month", "filed_month")


class Rows:
    """COPY buffers per table."""

    COLUMNS = {
        "instances": ("id", "business_key", "definition_id", "status", "roles", "department_code", "data", "state",
                      "created_at", "updated_at", "created_by", "audit_seq", "version"),
        "instance_parties": ("instance_id", "role", "org_code"),
        "tasks": ("id", "instance_id", "item_no", "element_id", "name", "lane", "assignee_org",
                  "assignee_department", "state", "created_at", "due_at", "completed_at", "completed_by"),
        "payments": ("id", "instance_id", "milestone_no", "paid_at", "amount", "voucher_no", "payer", "payee",
                     "recorded_at", "recorded_by", "kind", "reference"),
        "alerts": ("id", "instance_id", "business_key", "element_id", "occurrence", "awaited_task_id", "kind", "code",
                   "severity", "department_code", "escalated_to", "responsible_role", "responsible_org", "due_at",
                   "raised_at", "updated_at", "amount_overdue", "legal_basis", "interest_rate", "status",
                   "resolved_at", "resolution", "first_severity", "orange_at", "red_at", "funding_source"),
        "audit_events": ("instance_id", "seq", "at", "actor", "action", "element_id", "data", "prev_hash", "hash"),
        "alert_decisions": ("alert_id", "decision", "note", "decided_at", "decided_by"),
        "credit_records": ("id", "alert_id", "org_code", "instance_id", "business_key", "department_code", "track",
                           "code", "legal_basis", "record_date", "publicity_rule", "publicity_basis",
                           "publicity_until", "created_at", "created_by"),
        "leads": ("id", "alert_id", "instance_id", "business_key", "department_code", "to_department",
                  "responsible_org", "code", "legal_basis", "escalated_at", "created_at", "created_by", "evidence"),
        "payment_obligations": ("instance_id", "milestone_no", "department_code", "employer", "funding_source", "amount",
                                "due_at", "last_day", "interest_micro_percent", "paid", "last_paid_on", "paid_in_full_on"),
        "contract_deadlines": CONTRACT_DEADLINES,
    }

    def __init__(self):
        self.rows: dict[str, list[tuple]] = {t: [] for t in self.COLUMNS}

    def add(self, table: str, *values) -> None:
        self.rows[table].append(values)

    def count(self) -> int:
        return sum(len(r) for r in self.rows.values())

    def flush(self, raw) -> None:
        with raw.cursor() as cur:
            for table, rows in self.rows.items():
                if not rows:
                    continue
                with cur.copy(f"COPY {table} ({', '.join(self.COLUMNS[table])}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        raw.commit()
        self.rows = {t: [] for t in self.COLUMNS}


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def contract(rows: Rows, rng: random.Random, n: int, definition_id: int, month_first: date, now: datetime) -> None:
    iid = _uid(rng)
    key = f"SC-{n:07d}"
    dept = f"C{rng.randrange(CITIES):02d}"
    employer, contractor = f"E{rng.randrange(EMPLOYERS):05d}", f"K{rng.randrange(CONTRACTORS):05d}"
    span = 730
    award = month_first + timedelta(days=30) - timedelta(days=rng.randrange(span))
    today = now.astimezone(CST).date()
    amount_fen = rng.randrange(10_000, 2_000_000) * 1000  # 100 000 … 20 000 000 CNY
    works = rng.random() < 0.06
    track = "tendering" if rng.random() < 0.7 else "gov_procurement"
    data: dict = {"project_code": f"PJ-{n:07d}", "project_name": f"项目 {n}", "track": track,
                  "category": "works" if track == "tendering" else "goods", "award_notice_date": award.isoformat(),
                  "contract_amount": f"{amount_fen / 100:.2f}", "employer": employer, "contractor": contractor,
                  "department": dept, "bid_bond": {"amount": "20000.00", "form": rng.choice(("cash", "e_guarantee", "exempt"))},
                  "performance_guarantee_rate": "0", "retention_rate": "3", "payment_term_days": 30, "acceptance_days": 14}
    fund = rng.choice(FUNDING)
    if fund:
        data["funding_source"] = fund
    sme = int(contractor[1:]) % 2 == 0
    data["payment_basis"] = {"employer_kind": "public_body", "contractor_sme": sme, "rule": "P01" if sme else "none",
                             "legal_basis": "保障中小企业款项支付条例", "interest": {"rule": "P05" if sme else None}}
    status = "cancelled" if rng.random() < 0.04 else "running"
    created = at_noon(award)
    tasks_due = {}
    alerts_of: list[tuple] = []

    def task(element: str, due: datetime | None, done: datetime | None, item_no: int | None = None,
             org: str | None = employer) -> str:
        tid = _uid(rng)
        state = "completed" if done is not None else ("cancelled" if status == "cancelled" else "ready")
        rows.add("tasks", tid, iid, item_no, element, element, "employer", org, dept, state, created, due, done,
                 "bench" if done else None)
        return tid

    def alert(element: str, occurrence: str, kind: str, code: str, due: datetime, met: datetime | None,
              task_id: str, amount_fen: int | None, responsible: str) -> None:
        end = met or now
        overdue_days = (end - due).days
        severity = "red" if overdue_days >= 30 else "orange" if overdue_days >= 0 else "yellow"
        aid = _uid(rng)
        raised = due - timedelta(days=3) if kind != "arrears" else due
        resolved = met if met is not None else None
        state = "resolved" if resolved is not None or status == "cancelled" else "open"
        if state == "resolved" and resolved is None:
            resolved = created + timedelta(days=60)
        escalated = "JJ" if severity == "red" else None
        steps = [("yellow", raised)]
        if severity in ("orange", "red"):
            steps.append(("orange", due + timedelta(hours=1)))
        if severity == "red":
            steps.append(("red", due + timedelta(days=30)))
        rose = {sev: at for sev, at in steps if at <= now}  # how it rose, as alerts.raise_from_throw types it (0018)
        rows.add("alerts", aid, iid, key, element, occurrence, task_id, kind, code, severity, dept, escalated,
                 "employer", responsible, due, raised, resolved or now, amount_fen, "保障中小企业款项支付条例",
                 "0.050000" if kind == "arrears" and sme else None, state, resolved,
                 "obligation met" if state == "resolved" else None, "yellow", rose.get("orange"), rose.get("red"),
                 fund)
        alerts_of.append((aid, steps, severity, code, kind, resolved))

    # signing and filing
    sign_due = end_of_day(award + timedelta(days=30))
    signed = filed = None
    if rng.random() < 0.95 and award + timedelta(days=3) < today:
        signed = award + timedelta(days=rng.choice((5, 10, 15, 20, 25, 28, 33, 40)))
        signed = min(signed, today)
        data["signed_at"] = signed.isoformat()
        data["contract_no"] = f"HT-{n:07d}"
    sign_tid = task(bindings.SIGN_CONTRACT, sign_due, at_noon(signed) if signed else None)
    contract_dues = {bindings.SIGN_CONTRACT: sign_due}
    if (signed and signed > award + timedelta(days=30)) or (not signed and sign_due < now):
        alert(bindings.SIGN_CONTRACT, "1", "non_performance", "R04", sign_due, at_noon(signed) if signed else None,
              sign_tid, None, employer)
    if signed:
        file_due = end_of_day(signed + timedelta(days=9))
        if rng.random() < 0.9:
            filed = min(signed + timedelta(days=rng.choice((1, 3, 5, 7, 12))), today)
            data["filed_at"] = filed.isoformat()
        file_tid = task(bindings.FILE_CONTRACT, file_due, at_noon(filed) if filed else None)
        contract_dues[bindings.FILE_CONTRACT] = file_due
        if (filed and end_of_day(filed) > file_due) or (not filed and file_due < now):
            alert(bindings.FILE_CONTRACT, "1", "non_performance", "L01", file_due, at_noon(filed) if filed else None,
                  file_tid, None, employer)

    # milestones and payments
    count = rng.randint(1, 4)
    shares = [amount_fen // count] * count
    shares[-1] += amount_fen - sum(shares)
    milestones = []
    pay_dues: dict[int, datetime] = {}
    pay_paid: dict[int, list] = {}
    all_paid = True
    for no in range(1, count + 1):
        planned = (signed or award) + timedelta(days=60 * no)
        milestones.append({"name": f"第{no}期", "amount": f"{shares[no - 1] / 100:.2f}", "planned_date": planned.isoformat()})
        if not signed or planned > today or status == "cancelled":
            all_paid = False
            continue
        due = end_of_day(planned + timedelta(days=30))
        roll = rng.random()
        paid_fen, pays = shares[no - 1], []
        if roll < 0.78:
            pays = [(planned + timedelta(days=rng.randrange(5, 29)), paid_fen)]
        elif roll < 0.88:
            pays = [(planned + timedelta(days=rng.randrange(32, 200)), paid_fen)]
        elif roll < 0.93:
            pays = [(planned + timedelta(days=rng.randrange(5, 60)), paid_fen // 2)]
        pays = [(d, a) for d, a in pays if d <= today]
        for d, a in pays:
            rows.add("payments", _uid(rng), iid, no, d, a, f"V{n}-{no}", employer, contractor, at_noon(d), "bench",
                     "milestone", None)
        paid_total = sum(a for _, a in pays)
        pay_paid[no] = [(d, Decimal(a).scaleb(-2)) for d, a in pays]
        full_day = pays[-1][0] if pays and paid_total >= shares[no - 1] else None
        tid = task(bindings.RECORD_PAYMENT, due, at_noon(full_day) if full_day else None, no)
        pay_dues[no] = due
        if full_day is None:
            all_paid = False
        if (full_day is None and due < now) or (full_day is not None and end_of_day(full_day) > due):
            alert(bindings.RECORD_PAYMENT, str(no), "arrears", "P01", due, at_noon(full_day) if full_day else None,
                  tid, shares[no - 1] - paid_total if full_day is None else shares[no - 1], employer)
    data["milestones"] = milestones
    if works and signed:
        advance_fen = amount_fen // 10
        data["payment_terms"] = {"advance": {"percent": "10", "amount": f"{advance_fen / 100:.2f}"},
                                 "works_start_date": (signed + timedelta(days=10)).isoformat()}
        if rng.random() < 0.5 and signed + timedelta(days=20) <= today:
            d = signed + timedelta(days=20)
            rows.add("payments", _uid(rng), iid, None, d, advance_fen, f"A{n}", employer, contractor, at_noon(d),
                     "bench", "advance", None)
            pay_paid[obligations.ADVANCE] = [(d, Decimal(advance_fen).scaleb(-2))]
    if status == "running" and all_paid and signed and rng.random() < 0.6:
        status = "completed"
        data["completed_at"] = min(today, (signed or award) + timedelta(days=60 * count + 20)).isoformat()

    seq = 0
    events = []
    for aid, steps, severity, code, kind, resolved in alerts_of:
        for sev, instant in steps:
            if instant <= now:
                events.append((instant, f"alert_{sev}", aid))
        if severity == "red" and kind == "arrears" and rng.random() < 0.1:
            decided = min(now, steps[-1][1] + timedelta(days=3))
            rows.add("alert_decisions", aid, "confirmed", "属实", decided, "prov-supervisor")
            day = decided.astimezone(CST).date()
            rows.add("credit_records", _uid(rng), aid, employer, iid, key, dept, track, code, "条例", day, "S02",
                     "basis", day + timedelta(days=365), decided, "prov-supervisor")
            rows.add("leads", _uid(rng), aid, iid, key, dept, "JJ", employer, code, "条例", steps[-1][1], decided,
                     "prov-supervisor", json.dumps({"events": []}))
    prev = "0" * 64
    for instant, action, aid in sorted(events):
        seq += 1
        h = hashlib.sha256(f"{prev}{seq}{action}{aid}".encode()).hexdigest()
        rows.add("audit_events", iid, seq, instant, "system", action, None, json.dumps({"alert_id": aid}), prev, h)
        prev = h
    roles = {"employer": employer, "contractor": contractor, "department": dept}
    rows.add("instances", iid, key, definition_id, status, json.dumps(roles), dept, json.dumps(data, ensure_ascii=False),
             "", created, now, "bench", seq, 1)
    rows.add("instance_parties", iid, "employer", employer)
    rows.add("instance_parties", iid, "contractor", contractor)
    # The typed milestone rows the engine keeps beside the contract (engine/supervision/obligations.py), as it would.
    for o in obligations.rows_for(iid, dept, roles, data, pay_dues, pay_paid, REGISTRY):
        rows.add("payment_obligations", iid, o["milestone_no"], o["department_code"], o["employer"], o["funding_source"],
                 Money.to_fen(o["amount"]), o["due_at"], o["last_day"], o["interest_micro_percent"],
                 Money.to_fen(o["paid"]), o["last_paid_on"], o["paid_in_full_on"])
    deadline = obligations.contract_row_for(iid, dept, data, contract_dues)
    rows.add("contract_deadlines", *(deadline[c] for c in CONTRACT_DEADLINES))


def seed(url: str, n: int, month: str, seed_value: int) -> dict:
    db = Database(url)
    t0 = time.monotonic()
    definition_id, tokens = directory_and_definitions(db)
    month_first = date.fromisoformat(month + "-01")
    now = end_of_day(month_first + timedelta(days=40))  # seeded "now": 10 days into the next month
    rng = random.Random(seed_value)
    raw = db.engine.raw_connection().driver_connection
    rows = Rows()
    total = 0
    for i in range(n):
        contract(rows, rng, i, definition_id, month_first, now)
        if rows.count() >= 50_000:
            total += rows.count()
            rows.flush(raw)
            print(f"  {i + 1} contracts, {total} rows, {time.monotonic() - t0:.0f} s", flush=True)
    total += rows.count()
    rows.flush(raw)
    raw.close()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text("ANALYZE"))
        sizes = {t: c.scalar(text(f"SELECT count(*) FROM {t}")) for t in Rows.COLUMNS}
        size = c.scalar(text("SELECT pg_database_size(current_database())"))
    engine.dispose()
    db.dispose()
    return {"contracts": n, "rows": sizes, "seconds": round(time.monotonic() - t0, 1), "tokens": tokens,
            "database_mib": round(size / 2**20)}


# ---------------------------------------------------------------- measuring
def _get(base: str, path: str, token: str) -> tuple[int, bytes, float]:
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            body = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        body, status = e.read(), e.code
    return status, body, time.perf_counter() - t


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _deep_cursor(base: str, path: str, token: str, deep: int) -> str | None:
    cursor, seen = None, 0
    while seen < deep:
        sep = "&" if "?" in path else "?"
        q = f"{path}{sep}limit=500" + (f"&cursor={cursor}" if cursor else "")
        status, body, _ = _get(base, q, token)
        page = json.loads(body)
        seen += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return cursor


def measure(url: str, tokens: dict, month: str, repeat: int, deep: int, port: int, root: Path = ROOT,
            only: list[str] | None = None, slow_repeat: int | None = None) -> dict:
    engine = create_engine(url)
    with engine.connect() as c:
        ledger_key = c.scalar(text("SELECT business_key FROM instances WHERE business_key LIKE 'SC-%' "
                                   "ORDER BY business_key OFFSET (SELECT count(*) / 2 FROM instances) LIMIT 1"))
    engine.dispose()
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="lvyue-scale-")
    env = dict(os.environ, DATABASE_URL=url, LVYUE_INSTANCE_PATH=folder, LVYUE_SWEEP_SECONDS="3600")
    log = open(Path(folder) / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], cwd=root, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        token = tokens["supervisor"]
        rss_idle = _rss_kib(proc.pid)
        alerts_deep = _deep_cursor(base, "/api/v1/alerts", token, deep)
        instances_deep = _deep_cursor(base, "/api/v1/instances", token, deep)
        queries = {
            "monthly report (JSON)": f"/api/v1/reports/monthly?month={month}",
            "monthly report (CSV)": f"/api/v1/reports/monthly?month={month}&format=csv",
            "dashboard": "/api/v1/reports/dashboard",
            "alerts page 1": "/api/v1/alerts?limit=50",
            f"alerts page after {deep}": f"/api/v1/alerts?limit=50&cursor={alerts_deep}",
            "contracts page 1": "/api/v1/instances?limit=50",
            f"contracts page after {deep}": f"/api/v1/instances?limit=50&cursor={instances_deep}",
            "one ledger": f"/api/v1/contracts/{urllib.parse.quote(ledger_key)}",
            "OCDS package of the month": f"/api/v1/ocds/releases?month={month}",
        }
        out = {}
        for name, path in queries.items():
            if only and not any(o in name for o in only):
                continue
            times, sizes, statuses = [], [], set()
            n = repeat
            for i in range(repeat):
                if i == 1 and slow_repeat is not None and times[0] > 10:
                    n = slow_repeat  # a call over 10 s: fewer samples (said in the output)
                if i >= n:
                    break
                status, body, seconds = _get(base, path, token)
                times.append(seconds)
                sizes.append(len(body))
                statuses.add(status)
            out[name] = {"median_ms": round(statistics.median(times) * 1000, 1), "samples": len(times),
                         "min_ms": round(min(times) * 1000, 1), "max_ms": round(max(times) * 1000, 1),
                         "bytes": sizes[-1], "status": sorted(statuses)}
            print(f"  {name:32} {out[name]['median_ms']:>10.1f} ms  ({sizes[-1]} bytes, {sorted(statuses)}, "
                  f"n={len(times)})", flush=True)
        return {"queries": out, "ledger": ledger_key, "server_rss_idle_mib": round(rss_idle / 1024, 1),
                "server_peak_rss_mib": round(_rss_kib(proc.pid) / 1024, 1)}
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL",
                                                            "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--bench-db", default="bench_scale")
    p.add_argument("--contracts", type=int, default=100_000)
    p.add_argument("--month", default="2026-11")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--deep", type=int, default=5000, help="rows walked before the deep page")
    p.add_argument("--port", type=int, default=0, help="the server's port (0: a free one)")
    p.add_argument("--measure-only", action="store_true", help="measure the database seeded by an earlier run")
    p.add_argument("--seed-only", action="store_true")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seed", type=int, default=20)
    p.add_argument("--output")
    p.add_argument("--root", type=Path, default=ROOT, help="the source tree whose `lvyue serve` is measured")
    p.add_argument("--only", action="append", help="measure only the queries whose name contains this")
    p.add_argument("--slow-repeat", type=int, help="samples of a query whose first call took over 10 s")
    args = p.parse_args()
    if args.quick:
        args.contracts, args.deep = 2000, 200
    url = ensure_db(args.database_url, args.bench_db)
    state_file = ROOT / "bench" / "results" / f".seed_scale_{args.bench_db}.json"
    result: dict = {"database": args.bench_db, "month": args.month}
    if not args.measure_only:
        reset_schema(url)
        print(f"seeding {args.contracts} contracts into {args.bench_db} …", flush=True)
        seeded = seed(url, args.contracts, args.month, args.seed)
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps(seeded))
        print(f"seeded in {seeded['seconds']} s: {seeded['rows']}, {seeded['database_mib']} MiB", flush=True)
    seeded = json.loads(state_file.read_text())
    result["seeded"] = {k: v for k, v in seeded.items() if k != "tokens"}
    if not args.seed_only:
        print(f"measuring (median of {args.repeat}) …", flush=True)
        result.update(measure(url, seeded["tokens"], args.month, args.repeat, args.deep, args.port, args.root,
                              args.only, args.slow_repeat))
        print(f"  server peak RSS {result['server_peak_rss_mib']} MiB", flush=True)
    output = Path(args.output or ROOT / "bench" / "results" / f"seed_scale_{seeded['contracts']}.json")
    output.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
