#!/usr/bin/env python
"""What a durable step's SQL costs (issue 9, item 1: what limits the lifecycle ratio): the statements a
post_award contract issues, and the cost of one statement through each layer of the stack.

Run by hand from the repository root:

    .venv/bin/python bench/statement_cost.py            # 8 contracts, 9 rounds of 400 statements per layer
    .venv/bin/python bench/statement_cost.py --quick    # 2 contracts, 3 rounds of 100: well under a minute

In process, on a fresh SQLite file (the embedded default), no HTTP:

* contracts: the same post_award contract as bench/lifecycle.py (3 milestones, 19 tasks + the start,
  the same parties and data), driven through the Flask test client of `api.create_app()` — every
  request goes through authentication, the engine's use case and the response view, as over HTTP.
  Counted with a SQLAlchemy `before_cursor_execute` listener: statements per contract, by kind
  (SELECT, INSERT, UPDATE, DELETE, BEGIN), and CPU milliseconds per contract (`time.process_time`,
  which leaves out the time the machine's other tenants take);
* one statement, four ways, in a read transaction: the indexed lookup every step makes (the READY task
  rows of a contract, none found) —
  `orm`   `session.scalars(select(TaskRow).where(…))`, statement built per call (how the engine reads);
  `orm_prebuilt` the same ORM select built once with a bind parameter, executed with its value;
  `core`  `session.execute(select(tasks_table).where(…))`, statement built per call;
  `core_prebuilt` `session.execute(stmt, {"i": …})`, the statement built once with a bind parameter;
  `dbapi` the same SQL on the sqlite3 cursor underneath (SQLite's own work plus the driver).
  The layers take turns within each round; reported: the median of the per-round means, and each
  layer's ratio to `dbapi`.

Prints a table and writes JSON (`--output`, default bench/results/statement_cost.json).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import lifecycle  # noqa: E402  (the contract, the seed and the machine record are shared)

DEFAULT_OUTPUT = ROOT / "bench" / "results" / "statement_cost.json"
LAYERS = ("orm", "orm_prebuilt", "core", "core_prebuilt", "dbapi")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--contracts", type=int, default=8, help="contracts driven in process (after one warm-up)")
    p.add_argument("--rounds", type=int, default=9, help="rounds; each times every layer once")
    p.add_argument("--statements", type=int, default=400, help="statements per layer per round")
    p.add_argument("--quick", action="store_true", help="2 contracts, 3 rounds of 100: a smoke run")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = p.parse_args(argv)
    if args.quick:
        args.contracts, args.rounds, args.statements = 2, 3, 100
    if min(args.contracts, args.rounds, args.statements) < 1:
        p.error("--contracts, --rounds and --statements must be at least 1")
    return args


class TestClient:
    """bench/lifecycle.py's Client interface over Flask's test client (no sockets)."""

    def __init__(self, app):
        self.client = app.test_client()

    def request(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        response = self.client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {token}"})
        return response.status_code, response.get_json()

    def close(self) -> None:
        pass


def drive(url: str, contracts: int) -> dict[str, Any]:
    """Seed `url`, then drive contracts in process; statements and CPU time per contract."""
    import sqlalchemy
    from sqlalchemy import event

    tokens = lifecycle.seed(url)
    os.environ["DATABASE_URL"] = url
    from api import create_app

    app = create_app()
    driver = lifecycle.Driver(TestClient(app), tokens, lifecycle.today_cn())
    seen: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _executemany):
        seen.append(statement.lstrip().split(None, 1)[0].upper())

    driver.contract("STMT-WARM")
    event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", count)
    try:
        requests_before, cpu = driver.requests, []
        for i in range(contracts):
            began = time.process_time()
            driver.contract(f"STMT-{i}")
            cpu.append((time.process_time() - began) * 1000)
    finally:
        event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", count)
    kinds = Counter(seen)
    return {"contracts": contracts,
            "requests_per_contract": round((driver.requests - requests_before) / contracts, 2),
            "statements_per_contract": round(len(seen) / contracts, 1),
            "statements_by_kind": {k: round(v / contracts, 1) for k, v in kinds.most_common()},
            "cpu_ms_per_contract": {"median": round(statistics.median(cpu), 1), "min": round(min(cpu), 1),
                                    "samples": [round(c, 1) for c in cpu]}}


def layers(url: str, rounds: int, n: int) -> dict[str, Any]:
    """The same indexed lookup through each layer; the median of each layer's per-round mean, in µs."""
    from sqlalchemy import bindparam, select

    from engine.storage.db import Database
    from engine.storage.models import Instance, TaskRow

    db = Database(url)
    try:
        with db.read() as session:
            instance_id = session.scalar(select(Instance.id).limit(1))
        table = TaskRow.__table__
        orm_prebuilt = select(TaskRow).where(TaskRow.instance_id == bindparam("i"), TaskRow.state == "ready")
        prebuilt = select(table).where(table.c.instance_id == bindparam("i"), table.c.state == "ready")
        sql = "SELECT * FROM tasks WHERE instance_id = ? AND state = 'ready'"
        calls = {
            "orm": lambda s: list(s.scalars(select(TaskRow).where(TaskRow.instance_id == instance_id,
                                                                  TaskRow.state == "ready"))),
            "orm_prebuilt": lambda s: list(s.scalars(orm_prebuilt, {"i": instance_id})),
            "core": lambda s: s.execute(select(table).where(table.c.instance_id == instance_id,
                                                            table.c.state == "ready")).all(),
            "core_prebuilt": lambda s: s.execute(prebuilt, {"i": instance_id}).all(),
            "dbapi": lambda s: s.connection().connection.dbapi_connection.execute(sql, (instance_id,)).fetchall(),
        }
        samples: dict[str, list[float]] = {name: [] for name in LAYERS}
        for _ in range(rounds):
            for name in LAYERS:
                with db.read() as session:
                    found = calls[name](session)  # warm: the statement cache, the connection
                    if found:
                        raise RuntimeError(f"{name}: expected no READY task in a completed contract, got {len(found)}")
                    began = time.process_time()
                    for _ in range(n):
                        calls[name](session)
                    samples[name].append((time.process_time() - began) / n * 1e6)
    finally:
        db.dispose()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {name: {"median_us": round(medians[name], 1), "min_us": round(min(samples[name]), 1),
                   "ratio_to_dbapi": round(medians[name] / medians["dbapi"], 1),
                   "samples_us": [round(v, 1) for v in samples[name]]} for name in LAYERS}


def table(result: dict[str, Any]) -> str:
    c = result["contracts"]
    lines = ["", f"post_award contract in process: {c['statements_per_contract']} statements "
                 f"({', '.join(f'{k} {v}' for k, v in c['statements_by_kind'].items())}) over "
                 f"{c['requests_per_contract']} requests; {c['cpu_ms_per_contract']['median']} ms CPU (median)",
             "", f"{'one indexed SELECT through':<36}{'µs (median)':>12}{'× dbapi':>10}"]
    for name, row in result["layers"].items():
        lines.append(f"{name:<36}{row['median_us']:>12.1f}{row['ratio_to_dbapi']:>10.1f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    result: dict[str, Any] = {"bench": "statement_cost", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              "quick": args.quick, "machine": lifecycle.machine(),
                              "params": {"contracts": args.contracts, "rounds": args.rounds, "statements": args.statements}}
    with tempfile.TemporaryDirectory(prefix="lvyue-statement-cost-") as folder:
        os.environ["LVYUE_INSTANCE_PATH"] = str(Path(folder) / "instance")
        url = f"sqlite:///{Path(folder) / 'statement_cost.sqlite'}"
        lifecycle.log(f"driving {args.contracts} contract(s) in process")
        result["contracts"] = drive(url, args.contracts)
        lifecycle.log(f"one statement through each layer: {args.rounds} rounds of {args.statements}")
        result["layers"] = layers(url, args.rounds, args.statements)
    result["machine"]["load_average_at_end"] = lifecycle.load_average()
    print(table(result))
    lifecycle.write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
