#!/usr/bin/env python
"""Step cost against contract size (issue 4, acceptance 4): completing a task in a contract with 100
paid milestones must cost no more than twice what it costs in a contract with one.

Run by hand from the repository root:

    .venv/bin/python bench/step_cost.py                 # sizes 1, 10, 100; 15 repetitions; SQLite
    .venv/bin/python bench/step_cost.py --quick         # 7 repetitions: well under a minute
    .venv/bin/python bench/step_cost.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
                                                        # SQLite and PostgreSQL

In process, through the engine's use cases (`engine.usecases.instances.start`, `engine.usecases.tasks.complete`: what the
API calls, without HTTP), under a frozen engine clock so that no deadline falls due:

* for each size N, one template database holds one post_award contract (bpmn/post_award.bpmn,
  tendering/works) with N milestones, signed, filed, every milestone delivered, accepted and
  invoiced, and every milestone paid except the last: one record_payment task is open;
* each repetition takes a fresh copy of that template (SQLite: the backup API into a new file;
  PostgreSQL: CREATE DATABASE … TEMPLATE), opens it, reads the open task, the contract and its ledger
  (warming the connection and the tables, as a client's reads would), and times `tasks.complete` of
  that last payment as the employer — the step that also completes
  the partition and moves the main workflow on to confirm_completion, which is checked;
* the sizes take turns, one repetition each per round, so that other load on the machine falls on all alike;
* reported: median, p90 and min per size, and the ratio of the medians of the largest size to size 1
  (`ratio`; `min_ratio` is the same for the minima).

PostgreSQL (--database-url, a server URL; only its host and credentials are used) works in databases
named `<--bench-db>_*` that it creates and DROPS. Two runs at once need different --bench-db names.

Prints a table and writes JSON (`--output`, default bench/results/step_cost.json). Exits 1 when a
repetition did not end as expected (the measured step failed or went elsewhere).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from engine import bootstrap, clock
from engine.runtime import definitions
from engine.usecases import instances, tasks
from engine.supervision import ledger
from engine.storage import migrate  # noqa: E402
from engine.storage.db import Database  # noqa: E402
from engine.access.directory import Principal, add_department, add_organisation  # noqa: E402
from engine.storage.models import Instance, Timer  # noqa: E402

bootstrap.bootstrap()  # the engine is driven directly here, not through the app or the CLI

DIAGRAM = ROOT / "bpmn" / "post_award.bpmn"
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "step_cost.json"
CN = timezone(timedelta(hours=8))
BUILT_AT = datetime(2026, 8, 20, 10, tzinfo=CN)      # every date of the contract lies before it
MEASURED_AT = datetime(2026, 8, 20, 11, tzinfo=CN)   # and every deadline after it (planned dates 12-31)
ADMIN = Principal(0, "bench", "admin")
EMPLOYER = Principal(1, "bench-employer", "party", org_code="EMP")
MILESTONE_AMOUNT = "1000.00"
TARGET_RATIO = 2.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1,10,100", help="milestone counts, comma-separated (the first is the base)")
    p.add_argument("--repetitions", type=int, default=15, help="timed completions per size, each on a fresh copy")
    p.add_argument("--quick", action="store_true", help="7 repetitions per size: a smoke run under a minute")
    p.add_argument("--database-url", default=None,
                   help="also measure PostgreSQL on this server (a postgresql:// URL); SQLite is always measured")
    p.add_argument("--bench-db", default="lvyue_step_cost", help="prefix of the PostgreSQL databases created and dropped")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = p.parse_args(argv)
    if args.quick:
        args.repetitions = 7
    args.sizes = [int(s) for s in args.sizes.split(",")]
    if not args.sizes or args.sizes[0] < 1 or sorted(set(args.sizes)) != args.sizes:
        p.error("--sizes: increasing positive counts, such as 1,10,100")
    if args.repetitions < 1:
        p.error("--repetitions must be at least 1")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", args.bench_db):
        p.error("--bench-db: lower-case letters, digits and _ only")
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# ---------------------------------------------------------------- the contract
def start_data(n: int) -> dict:
    return {
        "project_code": f"BENCH-{n}", "project_name": "基准测试工程", "track": "tendering", "category": "works",
        "award_notice_date": "2026-08-03", "contract_amount": f"{n * 1000}.00",
        # R03's report was made before the contract entered supervision: no report_tendering task
        "tendering_reported_at": "2026-08-03",
        "employer": "EMP", "contractor": "CON", "department": "BENCH",
        "bid_bond": {"form": "exempt"}, "performance_guarantee_rate": "0", "retention_rate": "0",
        "payment_term_days": 30, "acceptance_days": 14,
        "milestones": [{"name": f"节点 {i + 1}", "amount": MILESTONE_AMOUNT, "planned_date": "2026-12-31"}
                       for i in range(n)],
    }


def build(url: str, n: int) -> dict:
    """Migrate `url` and leave in it one contract of `n` milestones, all paid but the last."""
    migrate.upgrade(url)
    db = Database(url)
    try:
        with clock.frozen_at(BUILT_AT):
            with db.transaction() as s:
                add_department(s, "BENCH", "基准测试住建局")
                add_organisation(s, "EMP", "某市第一中学")
                add_organisation(s, "CON", "某建设集团", "AAA")
            definitions.deploy(db, ADMIN, DIAGRAM.read_bytes())
            instance_id = instances.start(db, ADMIN, "post_award", None, f"BENCH-{n}", start_data(n))["id"]

            def complete_all(element_id: str, data: dict, keep_open: int = 0) -> int:
                ready = _ready(db, instance_id, element_id)
                for task in ready[:len(ready) - keep_open]:
                    tasks.complete(db, ADMIN, task["id"], data)
                return len(ready)

            complete_all("sign_contract", {"signed_at": "2026-08-12", "contract_no": f"HT-{n}",
                                           "document_sha256": "a" * 64, "amount": f"{n * 1000}.00"})
            complete_all("confirm_signature", {"confirmed": True, "confirmed_at": "2026-08-12", "document_sha256": "a" * 64})
            complete_all("file_contract", {"filed_at": "2026-08-13", "document_sha256": "a" * 64})
            complete_all("review_filing", {"decision": "accepted"})
            complete_all("report_delivery", {"delivered_at": "2026-08-17"})
            complete_all("accept_delivery", {"accepted_at": "2026-08-18", "result": "passed"})
            complete_all("submit_invoice", {"invoice_no": "INV", "amount": MILESTONE_AMOUNT, "issued_at": "2026-08-18"})
            payments = complete_all("record_payment", {"paid_at": "2026-08-19", "amount": MILESTONE_AMOUNT}, keep_open=1)
            if payments != n or len(_ready(db, instance_id, "record_payment")) != 1:
                raise SystemExit(f"size {n}: expected {n} payment tasks and one left open")
        with db.read() as s:
            instance = s.get(Instance, instance_id)
            timer_rows = s.scalar(select(func.count()).select_from(Timer).where(Timer.instance_id == instance_id))
            return {"state_bytes": len(instance.state), "timer_rows": timer_rows}
    finally:
        db.dispose()


def _ready(db: Database, instance_id: str, element_id: str) -> list[dict]:
    out, cursor = [], None
    while True:
        page = tasks.list_ready(db, ADMIN, 500, cursor, instance_id, element_id)
        out += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


def measure_once(url: str) -> float:
    """Seconds taken by completing the open last payment in the contract of `url`."""
    db = Database(url)
    try:
        with clock.frozen_at(MEASURED_AT):
            [task] = tasks.list_ready(db, EMPLOYER, 10, None, None, "record_payment")["items"]
            # A fresh copy is a cold database: read the contract and its ledger first, as a client would,
            # so that the connection, the catalog and the tables the step touches are warm.
            instances.get(db, EMPLOYER, task["instance_id"])
            ledger.contract(db, EMPLOYER, task["business_key"])
            gc.collect()
            began = time.perf_counter()
            out = tasks.complete(db, EMPLOYER, task["id"], {"paid_at": "2026-08-20", "amount": MILESTONE_AMOUNT})
            elapsed = time.perf_counter() - began
        nxt = [t["element_id"] for t in out["next_tasks"]]
        if nxt != ["confirm_completion"]:
            raise RuntimeError(f"the last payment should lead to confirm_completion, got {nxt}")
        return elapsed
    finally:
        db.dispose()


# ---------------------------------------------------------------- backends
class SQLiteBackend:
    name = "sqlite"

    def __init__(self, folder: Path):
        self.folder = folder

    def template(self, n: int) -> str:
        return f"sqlite:///{self.folder / f'template-{n}.sqlite'}"

    def copy(self, n: int, rep: int) -> str:
        source = self.folder / f"template-{n}.sqlite"
        target = self.folder / f"copy-{n}-{rep}.sqlite"
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        src.close(), dst.close()
        return f"sqlite:///{target}"

    def drop(self, url: str) -> None:
        path = Path(make_url(url).database)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)


class PostgresBackend:
    name = "postgresql"

    def __init__(self, server_url: str, prefix: str):
        url = make_url(server_url)
        if not url.drivername.startswith("postgresql"):
            raise SystemExit("--database-url must be a PostgreSQL URL")
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        self.url, self.prefix = url, prefix
        self.admin = create_engine(url, isolation_level="AUTOCOMMIT")

    def _url(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def _recreate(self, name: str, template: str | None = None) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))

    def template(self, n: int) -> str:
        name = f"{self.prefix}_tpl_{n}"
        self._recreate(name)
        return self._url(name)

    def copy(self, n: int, rep: int) -> str:
        name = f"{self.prefix}_copy_{n}_{rep}"
        self._recreate(name, f"{self.prefix}_tpl_{n}")
        return self._url(name)

    def drop(self, url: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}"'))

    def close(self, sizes: list[int]) -> None:
        for n in sizes:
            self.drop(self._url(f"{self.prefix}_tpl_{n}"))
        self.admin.dispose()


def run_backend(backend, sizes: list[int], repetitions: int) -> dict:
    """Build every size's template, then time the sizes in turn, round after round: a burst of load on
    the machine then hits every size alike instead of one of them."""
    facts, samples = {}, {n: [] for n in sizes}
    for n in sizes:
        began = time.perf_counter()
        facts[n] = build(backend.template(n), n)
        facts[n]["build_seconds"] = round(time.perf_counter() - began, 2)
        log(f"{backend.name}: {n:>4} milestones: template built in {facts[n]['build_seconds']:.1f} s "
            f"(main state {facts[n]['state_bytes']} bytes, {facts[n]['timer_rows']} timer rows)")
    for rep in range(repetitions):
        for n in sizes:
            url = backend.copy(n, rep)
            try:
                samples[n].append(measure_once(url) * 1000)
            finally:
                backend.drop(url)
    out: dict = {"sizes": {}}
    for n in sizes:
        ms = samples[n]
        out["sizes"][str(n)] = {
            "milestones": n, "repetitions": repetitions, "median_ms": round(statistics.median(ms), 3),
            "p90_ms": round(percentile(ms, 90), 3), "min_ms": round(min(ms), 3),
            "samples_ms": [round(x, 3) for x in ms], **facts[n]}
        log(f"{backend.name}: {n:>4} milestones: median {statistics.median(ms):7.2f} ms "
            f"(min {min(ms):.2f}, p90 {percentile(ms, 90):.2f})")
    base, top = out["sizes"][str(sizes[0])], out["sizes"][str(sizes[-1])]
    out["ratio"] = round(top["median_ms"] / base["median_ms"], 3)
    out["ratio_of"] = f"{sizes[-1]}/{sizes[0]}"
    out["min_ratio"] = round(top["min_ms"] / base["min_ms"], 3)
    return out


def table(result: dict) -> str:
    sizes = result["params"]["sizes"]
    lines = ["", f"{'backend':<11}" + "".join(f"{str(n) + ' ms':>12}" for n in sizes) + f"{'ratio':>10}"]
    for name, backend in result["backends"].items():
        cells = "".join(f"{backend['sizes'][str(n)]['median_ms']:>12.2f}" for n in sizes)
        lines.append(f"{name:<11}{cells}{backend['ratio']:>10.2f}")
    lines.append(f"(median of {result['params']['repetitions']} completions of the last payment, each on a fresh copy; "
                 f"ratio {sizes[-1]}/{sizes[0]}, target ≤ {TARGET_RATIO:g})")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = {"params": {"sizes": args.sizes, "repetitions": args.repetitions, "quick": args.quick,
                         "target_ratio": TARGET_RATIO, "diagram": str(DIAGRAM.relative_to(ROOT))},
              "machine": {"python": platform.python_version(), "platform": platform.platform(),
                          "cpus": os.cpu_count()},
              "backends": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="lvyue-step-cost-") as folder:
            result["backends"]["sqlite"] = run_backend(SQLiteBackend(Path(folder)), args.sizes, args.repetitions)
        if args.database_url:
            pg = PostgresBackend(args.database_url, args.bench_db)
            try:
                result["backends"]["postgresql"] = run_backend(pg, args.sizes, args.repetitions)
            finally:
                pg.close(args.sizes)
    except RuntimeError as exc:
        log(f"FAILED: {exc}")
        return 1
    result["ratio"] = result["backends"]["sqlite"]["ratio"]
    result["within_target"] = all(b["ratio"] <= TARGET_RATIO for b in result["backends"].values())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(result))
    log(f"written {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
