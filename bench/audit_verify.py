#!/usr/bin/env python
"""What `lvyue audit verify` and `lvyue audit anchor` cost (issue 14): the time to check every chain, its
anchored head, its ledger rows and role bindings, at N performed contracts.

Run by hand from the repository root:

    .venv/bin/python bench/audit_verify.py                  # 1,000 contracts on a fresh SQLite file
    .venv/bin/python bench/audit_verify.py --url postgresql+psycopg://postgres@127.0.0.1:5432/bench_audit
    .venv/bin/python bench/audit_verify.py --quick          # 5 contracts: a smoke run

The contracts are bench/lifecycle.py's post_award contract (3 milestones, 19 tasks + the start: three
payments, three invoices, a bid bond and a performance guarantee), driven to completion in process
through the Flask test client (bench/statement_cost.py's driver). A PostgreSQL URL names a database that
is emptied first (its schema dropped): its name must start with bench_ or test_. Then, timed: one `anchor.write` (the first entry, every head) and
one `audit.verify` against the log, which must find nothing. Reported: seconds, events and ledger rows
checked, the anchor line's size, and the process's peak resident memory.

Prints a line and writes JSON (`--output`, default bench/results/audit_verify.json).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import lifecycle  # noqa: E402
from statement_cost import TestClient  # noqa: E402

DEFAULT_OUTPUT = ROOT / "bench" / "results" / "audit_verify.json"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--contracts", type=int, default=1000)
    p.add_argument("--url", help="database to fill (default: a fresh SQLite file)")
    p.add_argument("--quick", action="store_true", help="5 contracts")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = p.parse_args(argv)
    if args.quick:
        args.contracts = 5
    return args


def _empty_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def run(url: str, contracts: int, folder: Path) -> dict:
    from sqlalchemy import func, select

    from engine.runtime import anchor, audit
    from engine.storage.db import Database
    from engine.storage.models import AuditEvent, Guarantee, Invoice, Payment

    tokens = lifecycle.seed(url)
    os.environ["DATABASE_URL"] = url
    from api import create_app

    app = create_app()
    driver = lifecycle.Driver(TestClient(app), tokens, lifecycle.today_cn())
    began = time.perf_counter()
    for i in range(contracts):
        driver.contract(f"AUDIT-{i}")
        if (i + 1) % 100 == 0:
            lifecycle.log(f"{i + 1} contracts driven")
    driven = time.perf_counter() - began
    app.extensions["lvyue"].db.dispose()

    db = Database(url)
    with db.read() as s:
        events = s.scalar(select(func.count()).select_from(AuditEvent))
        rows = sum(s.scalar(select(func.count()).select_from(cls)) for cls in (Payment, Invoice, Guarantee))
    log_path = folder / "audit-anchor.jsonl"
    began = time.perf_counter()
    anchor.write(db, log_path)
    anchored = time.perf_counter() - began
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    log = anchor.read(log_path)
    with db.read() as s:
        breaks = [str(b) for b in audit.verify(s, None, log.anchored)]
    verified = time.perf_counter() - began
    db.dispose()
    assert not breaks and not log.problems, (breaks[:5], log.problems)
    return {"contracts": contracts, "events": events, "ledger_rows": rows, "drive_seconds": round(driven, 1),
            "anchor_seconds": round(anchored, 3), "anchor_line_bytes": log_path.stat().st_size,
            "verify_seconds": round(verified, 2), "verify_ms_per_contract": round(verified * 1000 / contracts, 2),
            "max_rss_mb_before_verify": round(rss_before / 1024, 1),
            "max_rss_mb_after_verify": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lvyue-audit-verify-") as folder:
        os.environ["LVYUE_INSTANCE_PATH"] = str(Path(folder) / "instance")
        url = args.url or f"sqlite:///{Path(folder) / 'audit.sqlite'}"
        if url.startswith("postgresql"):
            name = url.rsplit("/", 1)[-1].split("?")[0]
            if not name.startswith(("bench_", "test_")):
                raise SystemExit(f"--url names the database {name}: its schema is dropped, so it must be a bench_ or test_ one")
            _empty_postgres(url)
        lifecycle.log(f"driving {args.contracts} contract(s) in process on {url.split(':')[0]}")
        result = {"bench": "audit_verify", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "quick": args.quick, "backend": url.split("+")[0].split(":")[0], "machine": lifecycle.machine(),
                  **run(url, args.contracts, Path(folder))}
    result["machine"]["load_average_at_end"] = lifecycle.load_average()
    print(f"{result['backend']}: {result['contracts']} contracts, {result['events']} events, {result['ledger_rows']} "
          f"ledger rows: anchor {result['anchor_seconds']} s ({result['anchor_line_bytes']} bytes), verify "
          f"{result['verify_seconds']} s ({result['verify_ms_per_contract']} ms per contract), max RSS "
          f"{result['max_rss_mb_before_verify']} → {result['max_rss_mb_after_verify']} MB")
    lifecycle.write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
