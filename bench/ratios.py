#!/usr/bin/env python
"""Throughput ratios (issue 20, acceptance 2), the three from one run, each against bare SpiffWorkflow doing the
same steps with serialization:

1. two-task: whole lifecycles of a two-user-task diagram (tests/fixtures/approval.bpmn: start → request_variation
   (contractor) → approve_variation (employer) → gateway → end) through the HTTP API, one client, `lvyue serve`
   on SQLite (one process), against bare SpiffWorkflow doing the same 3 durable steps in process (parse once; per
   step deserialize from JSON, complete, run, serialize). Target ≥ 0.15.
2. post_award: whole post_award contracts (bench/lifecycle.py's contract: 21 user tasks + the start, milestones as
   separate workflows), one client, `lvyue serve` on SQLite, against lifecycle.py's bare-SpiffWorkflow limit in one
   process. Target ≥ 0.4.
3. two processes: post_award contracts on PostgreSQL through gunicorn (`-k gthread --threads T`), `--pg-clients`
   clients, with 2 worker processes against 1 (no `lvyue worker`: no timer falls due in an on-time contract).
   Target ≥ 1.6. Both configurations run on the same database (a fresh one, `--bench-db`, created and DROPPED).

Run by hand from the repository root (it takes 3–6 minutes):

    .venv/bin/python bench/ratios.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/ratios.py --quick        # a smoke run (SQLite only unless --database-url), < 1 min

Each configuration runs `--runs` times, alternating (a) and (b) run by run so that the machine's drift hits both;
reported: medians, the load average before and after each run, and the ratios of the medians. Prints a table and
writes JSON (`--output`, default bench/results/ratios.json).
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import lifecycle  # noqa: E402  (bench/lifecycle.py: the contract, the limit, the servers and the HTTP driver)
from lifecycle import Client, HttpError, Servers, load_average, log, machine, write_result  # noqa: E402

TWO_TASK = ROOT / "tests" / "fixtures" / "approval.bpmn"
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "ratios.json"
TARGETS = {"two_task": 0.15, "post_award": 0.4, "two_processes": 1.6}
START = {"employer": "EMP", "contractor": "CON"}
REQUEST = {"amount": "1200.50", "reason": "设计变更"}
APPROVE = {"approved": True}


# ================================================================ (b) bare SpiffWorkflow, two tasks
class TwoTaskLimit:
    """The two-task diagram on bare SpiffWorkflow: per step deserialize, complete, run, serialize."""

    def __init__(self):
        from SpiffWorkflow.bpmn import BpmnWorkflow
        from SpiffWorkflow.bpmn.parser import BpmnParser
        from SpiffWorkflow.util.task import TaskState

        from engine.runtime import diagrams, forms

        # lifecycle.Limit's serializer (spec stored once, not per instance; Decimal and date registered) and engine.
        base = copy.copy(lifecycle.Limit(lifecycle.today_cn()))
        self.base = base
        parser = BpmnParser()
        parser.add_bpmn_file(str(TWO_TASK))
        self.spec = parser.get_spec("variation_approval")
        base.subprocess_specs = parser.get_subprocess_specs("variation_approval")
        self.BpmnWorkflow, self.TaskState = BpmnWorkflow, TaskState
        model = diagrams.read(TWO_TASK.read_bytes()).model
        self.steps = []
        for element, raw in (("request_variation", REQUEST), ("approve_variation", APPROVE)):
            form = model["user_tasks"][element]["form"]
            typed, errors = forms.validate(form, raw)
            if errors:
                raise RuntimeError(f"{element}: {errors}")
            self.steps.append((element, form, typed))
        self.start = dict(START)

    def lifecycle(self) -> None:
        base = self.base
        wf = self.BpmnWorkflow(self.spec, base.subprocess_specs, script_engine=base.engine)
        wf.task_tree.set_data(**self.start)
        base.run(wf)
        state = base.dump(wf)
        for element, form, typed in self.steps:
            state, wf = base.complete(state, self.spec, element, form, typed)
        if not wf.is_completed():
            raise RuntimeError("the bare two-task lifecycle did not complete")


def limit_two_task(count: int) -> float:
    limit = TwoTaskLimit()
    for _ in range(20):
        limit.lifecycle()  # warm-up
    began = time.perf_counter()
    for _ in range(count):
        limit.lifecycle()
    return count / (time.perf_counter() - began)


def limit_post_award(count: int) -> float:
    wall, _steps = lifecycle._limit_worker((lifecycle.today_cn().isoformat(), count))
    return count / wall


# ================================================================ (a) through the API
def two_task_lifecycle(client: Client, tokens: dict[str, str], key: str) -> int:
    """One lifecycle of the two-task diagram through the API; the HTTP requests it took (3)."""
    def call(method: str, path: str, who: str, body: Any, expect: int = 200) -> Any:
        status, out = client.request(method, "/api/v1" + path, tokens[who], body)
        if status != expect:
            raise HttpError(f"{method} {path} as {who}: {status} {json.dumps(out, ensure_ascii=False)[:300]}")
        return out

    out = call("POST", "/instances", "operator",
               {"definition": "variation_approval", "business_key": key, "data": START}, expect=201)
    [task] = out["tasks"]
    out = call("POST", f"/tasks/{task['id']}/complete", "contractor", {"data": REQUEST})
    [task] = out["next_tasks"] or out["instance"]["tasks"]
    out = call("POST", f"/tasks/{task['id']}/complete", "employer", {"data": APPROVE})
    if out["instance"]["status"] != "completed":
        raise HttpError(f"{key}: the lifecycle ended {out['instance']['status']}")
    return 3


def api_two_task(port: int, tokens: dict[str, str], count: int, prefix: str) -> float:
    client = Client("127.0.0.1", port)
    try:
        for i in range(10):
            two_task_lifecycle(client, tokens, f"{prefix}-W{i}")
        began = time.perf_counter()
        for i in range(count):
            two_task_lifecycle(client, tokens, f"{prefix}-{i}")
        return count / (time.perf_counter() - began)
    finally:
        client.close()


def seed_with_two_task(url: str) -> dict[str, str]:
    from engine.access import directory
    from engine.runtime import definitions
    from engine.storage.db import Database

    tokens = lifecycle.seed(url)  # migrate, directory, post_award
    db = Database(url)
    try:
        definitions.deploy(db, directory.Principal(0, "bench", "designer"), TWO_TASK.read_bytes())
    finally:
        db.dispose()
    return tokens


def start_sqlite(servers: Servers, logdir: Path) -> tuple[int, dict[str, str]]:
    url = f"sqlite:///{logdir / 'ratios.sqlite'}"
    tokens = seed_with_two_task(url)
    port = lifecycle.free_port()
    proc = servers.start("lvyue-serve", [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
                         lifecycle.server_env(url, logdir))
    servers.wait_http(port, proc, "lvyue-serve")
    return port, tokens


def gunicorn(servers: Servers, logdir: Path, url: str, workers: int, threads: int) -> int:
    port = lifecycle.free_port()
    proc = servers.start(f"gunicorn-w{workers}", [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "gthread",
                                                  "--threads", str(threads), "-b", f"127.0.0.1:{port}", "--timeout", "120",
                                                  "api:create_app()"], lifecycle.server_env(url, logdir))
    servers.wait_http(port, proc, f"gunicorn-w{workers}")
    return port


# ================================================================ CPU in process (load-independent)
def cpu_ratios(runs: int, lifecycles: int, contracts: int) -> dict[str, Any]:
    """CPU milliseconds (`time.process_time`: what the machine's other tenants take is left out) per two-task
    lifecycle and per post_award contract, Lvyue in process (the Flask test client of `api.create_app()` on a fresh
    SQLite file: authentication, the use case, the response; no sockets) against bare SpiffWorkflow; medians of
    `runs` rounds, the two sides alternating."""
    import os

    from statement_cost import TestClient

    folder = tempfile.mkdtemp(prefix="lvyue-ratios-cpu-")
    url = f"sqlite:///{folder}/cpu.sqlite"
    tokens = seed_with_two_task(url)
    os.environ["DATABASE_URL"] = url
    from api import create_app

    client = TestClient(create_app())
    driver = lifecycle.Driver(client, tokens, lifecycle.today_cn())
    two_bare, pa_bare = TwoTaskLimit(), lifecycle.Limit(lifecycle.today_cn())
    for i in range(10):
        two_task_lifecycle(client, tokens, f"CW{i}")
        two_bare.lifecycle()
    driver.contract("CPU-WARM")
    pa_bare.contract()

    def cpu_ms(fn, n: int) -> float:
        began = time.process_time()
        for i in range(n):
            fn(i)
        return (time.process_time() - began) * 1000 / n

    rows: dict[str, list[float]] = {"two_task_lvyue": [], "two_task_bare": [], "post_award_lvyue": [], "post_award_bare": []}
    for r in range(runs):
        rows["two_task_bare"].append(cpu_ms(lambda i: two_bare.lifecycle(), lifecycles * 5))
        rows["two_task_lvyue"].append(cpu_ms(lambda i: two_task_lifecycle(client, tokens, f"C{r}-{i}"), lifecycles))
        rows["post_award_bare"].append(cpu_ms(lambda i: pa_bare.contract(), contracts))
        rows["post_award_lvyue"].append(cpu_ms(lambda i: driver.contract(f"CPA{r}-{i}"), contracts))
        log(f"CPU round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} ms" for k, v in rows.items()))
    out = {k: {"median_ms": round(statistics.median(v), 2), "samples_ms": [round(x, 2) for x in v]} for k, v in rows.items()}
    out["two_task_ratio"] = round(out["two_task_bare"]["median_ms"] / out["two_task_lvyue"]["median_ms"], 3)
    out["post_award_ratio"] = round(out["post_award_bare"]["median_ms"] / out["post_award_lvyue"]["median_ms"], 3)
    return out


# ================================================================ main
def sample(label: str, fn) -> dict[str, Any]:
    before = load_average()
    value = fn()
    after = load_average()
    log(f"{label}: {value:.2f}/s (load {before} → {after})")
    return {"value": round(value, 3), "load_before": before, "load_after": after}


def summary(samples: list[dict[str, Any]], unit: str) -> dict[str, Any]:
    values = [s["value"] for s in samples]
    return {"unit": unit, "median": round(statistics.median(values), 3), "min": min(values), "max": max(values),
            "samples": samples}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=None, help="PostgreSQL server for ratio 3 (skipped without it)")
    p.add_argument("--bench-db", default="bench_ratios", help="database created and dropped there (bench_*)")
    p.add_argument("--runs", type=int, default=5, help="runs per configuration (the median is reported)")
    p.add_argument("--two-task", type=int, default=200, help="lifecycles per run through the API (ratio 1)")
    p.add_argument("--two-task-limit", type=int, default=2000, help="lifecycles per run of bare SpiffWorkflow (ratio 1)")
    p.add_argument("--contracts", type=int, default=16, help="post_award contracts per run through the API (ratios 2, 3)")
    p.add_argument("--limit-contracts", type=int, default=40, help="post_award contracts per run of bare SpiffWorkflow")
    p.add_argument("--pg-clients", type=int, default=4, help="client threads for ratio 3")
    p.add_argument("--threads", type=int, default=2, help="gunicorn threads per worker process (ratio 3)")
    p.add_argument("--cpu-only", action="store_true",
                   help="only the CPU per lifecycle in process (Lvyue through the Flask test client, and bare): "
                        "ratios that the machine's other tenants do not move")
    p.add_argument("--quick", action="store_true", help="a smoke run: 1 run of a few of each")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = p.parse_args(argv)
    if args.quick:
        args.runs, args.two_task, args.two_task_limit, args.contracts, args.limit_contracts = 1, 10, 50, 2, 3
    return args


def table(result: dict[str, Any]) -> str:
    lines = ["", f"{'ratio':<14}{'Lvyue':>44}{'against':>44}{'ratio':>8}{'target':>8}  "]
    for name, row in result["ratios"].items():
        lines.append(f"{name:<14}{row['a']:>44}{row['b']:>44}{row['ratio']:>8.3f}{'≥ ' + str(row['target']):>8}  "
                     f"{'met' if row['met'] else 'MISSED'}")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    from engine import bootstrap

    bootstrap.bootstrap()
    result: dict[str, Any] = {
        "bench": "ratios", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "quick": args.quick,
        "machine": machine(), "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                                          if k not in ("database_url", "output")},
        "measured": {}, "ratios": {},
    }
    m = result["measured"]
    if args.cpu_only:
        result["cpu_in_process"] = cpu_ratios(args.runs, max(10, args.two_task // 2), max(2, args.contracts // 4))
        result["machine"]["load_average_at_end"] = load_average()
        print(json.dumps(result["cpu_in_process"], indent=1))
        write_result(args.output, result)
        return 0
    with tempfile.TemporaryDirectory(prefix="lvyue-ratios-") as folder:
        logdir = Path(folder)
        servers = Servers(logdir)
        try:
            port, tokens = start_sqlite(servers, logdir)
            two_a, two_b, pa_a, pa_b = [], [], [], []
            for r in range(args.runs):
                two_b.append(sample(f"two-task, bare SpiffWorkflow, run {r + 1}", lambda: limit_two_task(args.two_task_limit)))
                two_a.append(sample(f"two-task, HTTP, SQLite, run {r + 1}",
                                    lambda: api_two_task(port, tokens, args.two_task, f"TT{r}")))
                pa_b.append(sample(f"post_award, bare SpiffWorkflow, run {r + 1}", lambda: limit_post_award(args.limit_contracts)))
                pa_a.append(sample(f"post_award, HTTP, SQLite, run {r + 1}",
                                   lambda: lifecycle.run_api(port, tokens, 1, args.contracts, 1, "sqlite/1",
                                                             f"PA{r}")["contracts_per_second"]))
            m["two_task_api_sqlite"] = summary(two_a, "lifecycles/s")
            m["two_task_bare"] = summary(two_b, "lifecycles/s")
            m["post_award_api_sqlite"] = summary(pa_a, "contracts/s")
            m["post_award_bare"] = summary(pa_b, "contracts/s")
        finally:
            servers.stop()
        if args.database_url:
            url = lifecycle.pg_database(args.database_url, args.bench_db)
            servers = Servers(logdir)
            try:
                tokens = seed_with_two_task(url)
                ports = {w: gunicorn(servers, logdir, url, w, args.threads) for w in (1, 2)}
                one, two = [], []
                for r in range(args.runs):
                    for workers, out in ((1, one), (2, two)):
                        out.append(sample(f"post_award, PostgreSQL, gunicorn -w {workers}, {args.pg_clients} clients, run {r + 1}",
                                          lambda: lifecycle.run_api(ports[workers], tokens, args.pg_clients, args.contracts, 1,
                                                                    f"pg/w{workers}", f"PG{workers}-{r}")["contracts_per_second"]))
                m["post_award_pg_1_process"] = summary(one, "contracts/s")
                m["post_award_pg_2_processes"] = summary(two, "contracts/s")
            finally:
                servers.stop()
                lifecycle.pg_database(args.database_url, args.bench_db, drop_only=True)

    def ratio(name: str, a: str, b: str, label_a: str, label_b: str) -> None:
        value = m[a]["median"] / m[b]["median"]
        result["ratios"][name] = {"a": f"{label_a} {m[a]['median']:.2f}", "b": f"{label_b} {m[b]['median']:.2f}",
                                  "ratio": round(value, 3), "target": TARGETS[name], "met": value >= TARGETS[name]}

    ratio("two_task", "two_task_api_sqlite", "two_task_bare", "HTTP/SQLite lifecycles/s", "bare lifecycles/s")
    ratio("post_award", "post_award_api_sqlite", "post_award_bare", "HTTP/SQLite contracts/s", "bare contracts/s")
    if "post_award_pg_2_processes" in m:
        ratio("two_processes", "post_award_pg_2_processes", "post_award_pg_1_process", "PG 2 procs contracts/s",
              "PG 1 proc contracts/s")
    result["machine"]["load_average_at_end"] = load_average()
    print(table(result))
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
