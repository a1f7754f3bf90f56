#!/usr/bin/env python
"""API latency under concurrent clients (issue 9, item 4): p50/p99 of task completion and of
`GET /tasks`, and the error count, against gunicorn + PostgreSQL as README runs it in production.

Run by hand from the repository root:

    .venv/bin/python bench/api_latency.py                # 50 clients for 60 s, after a warm-up
    .venv/bin/python bench/api_latency.py --quick        # 20 clients for 8 s: a smoke run under a minute
    .venv/bin/python bench/api_latency.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Server: `gunicorn -w 4 -k gthread --threads 2 'api:create_app()'` (README "Running in production";
`--gunicorn-workers`, `--gunicorn-threads`) and one `lvyue worker`, on loopback, in the database
`--bench-db` (default bench_api_latency) of the server of `--database-url` (default
$TEST_DATABASE_URL's server, else postgresql+psycopg://postgres@127.0.0.1:5432/postgres). The
database is created and DROPPED; its name must start with `bench_`.

Load: `--clients` threads in this process (a closed loop: each sends its next request when the last
answered, after a think time drawn uniformly from 0.5–1.5 × `--think-ms`), each with one keep-alive
HTTP/1.1 connection, each driving its own post_award contracts (bench/lifecycle.py's contract:
3 milestones, 19 tasks) as the real parties would. Per task a client:
  1. lists the acting party's inbox, `GET /api/v1/tasks?limit=50` (every running contract's tasks
     of that organisation — the `GET /tasks` measured),
  2. finds its task in the contract view (`tasks`) of the last reply, as bench/lifecycle.py does,
     else asks `GET /api/v1/tasks?instance_id=…&element_id=…` (measured apart, `GET /tasks (filtered)`),
  3. completes it, `POST /api/v1/tasks/{id}/complete` (the task completion measured);
and starts a new contract (`POST /api/v1/instances`) when one ends. Requests are bounded: the run
stops after `--seconds` or `--max-requests`, whichever comes first; only loopback is addressed.

Reported per kind of request: count, p50, p90, p99, max (ms), and errors (any status other than the
expected one, or a failed connection). Prints a table and writes JSON (`--output`, default
bench/results/api_latency.json). Exits 1 when a request failed (the issue's target is zero errors).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lifecycle import (  # noqa: E402
    ROOT,
    Client,
    Driver,
    Servers,
    load_average,
    log,
    machine,
    percentile,
    pg_database,
    plan,
    start_postgres,
    today_cn,
    write_result,
)

DEFAULT_OUTPUT = ROOT / "bench" / "results" / "api_latency.json"
TARGET_P99_MS = 250.0
KINDS = ("POST /tasks/{id}/complete", "GET /tasks", "GET /tasks (filtered)", "POST /instances")


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.samples: dict[str, list[float]] = {k: [] for k in KINDS}
        self.errors: dict[str, int] = {k: 0 for k in KINDS}
        self.error_examples: list[str] = []
        self.recording = False
        self.requests = 0

    def add(self, kind: str, ms: float, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.requests += 1
            if not self.recording:
                return
            self.samples[kind].append(ms)
            if not ok:
                self.errors[kind] += 1
                if len(self.error_examples) < 10:
                    self.error_examples.append(f"{kind}: {detail}"[:500])


class LoadClient(threading.Thread):
    """One client: its own connection and contracts, a closed loop of requests until told to stop."""

    def __init__(self, no: int, port: int, tokens: dict[str, str], rec: Recorder, stop: threading.Event,
                 think: float, max_requests: int):
        super().__init__(daemon=True)
        self.no, self.tokens, self.rec, self.stop, self.think = no, tokens, rec, stop, think
        self.max_requests = max_requests
        self.client = Client("127.0.0.1", port, timeout=120)
        self.start_data, self.steps = plan(today_cn())
        self.contracts = 0
        self.failure: str | None = None
        self.rng = random.Random(no)

    def call(self, kind: str, method: str, path: str, who: str, body: Any = None, expect: int = 200) -> Any:
        if self.think:
            time.sleep(self.think * self.rng.uniform(0.5, 1.5))  # spread, so 50 clients do not march in step
        began = time.perf_counter()
        try:
            status, out = self.client.request(method, "/api/v1" + path, self.tokens[who], body)
            ok, detail = status == expect, f"{status} {json.dumps(out, ensure_ascii=False)[:300]}"
        except (OSError, http.client.HTTPException) as exc:
            status, out, ok, detail = None, None, False, f"{type(exc).__name__}: {exc}"
            self.client.close()
        self.rec.add(kind, (time.perf_counter() - began) * 1000, ok, f"{method} {path}: {detail}")
        if not ok:
            raise RuntimeError(detail)
        return out

    def one_contract(self) -> None:
        key = f"LAT-{self.no}-{self.contracts}"
        self.contracts += 1
        out = self.call("POST /instances", "POST", "/instances", "operator",
                        {"definition": "post_award", "business_key": key, "data": self.start_data}, expect=201)
        instance_id = out["id"]
        known = Driver._known(out)
        for element, who, no, data in self.steps:
            if self.stop.is_set():
                return
            self.call("GET /tasks", "GET", "/tasks?limit=50", who)
            task_id = known.get((who, element, no))
            if task_id is None:
                items = self.call("GET /tasks (filtered)", "GET",
                                  f"/tasks?instance_id={instance_id}&element_id={element}&limit=50", who)["items"]
                matching = [t["id"] for t in items if t.get("milestone_no") == no]
                if len(matching) != 1:
                    raise RuntimeError(f"{key}: expected one {element} (milestone {no}), got {len(matching)}")
                task_id = matching[0]
            last = self.call("POST /tasks/{id}/complete", "POST", f"/tasks/{task_id}/complete", who, {"data": data})
            known = Driver._known(last["instance"])

    def run(self) -> None:
        try:
            while not self.stop.is_set() and self.rec.requests < self.max_requests:
                self.one_contract()
        except Exception as exc:  # noqa: BLE001 — counted as an error; this client stops
            self.failure = f"{type(exc).__name__}: {exc}"
        finally:
            self.client.close()


def summary(ms: list[float]) -> dict[str, Any]:
    if not ms:
        return {"count": 0}
    return {"count": len(ms), "p50_ms": round(percentile(ms, 50), 1), "p90_ms": round(percentile(ms, 90), 1),
            "p99_ms": round(percentile(ms, 99), 1), "max_ms": round(max(ms), 1),
            "mean_ms": round(statistics.fmean(ms), 1)}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    default_server = os.environ.get("TEST_DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    p.add_argument("--database-url", default=default_server, help="a PostgreSQL URL: only its server is used")
    p.add_argument("--bench-db", default="bench_api_latency", help="database created and dropped there (bench_*)")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=60.0, help="measured duration")
    p.add_argument("--warmup-seconds", type=float, default=10.0, help="load before measuring starts")
    p.add_argument("--max-requests", type=int, default=200_000, help="hard bound on requests sent")
    p.add_argument("--think-ms", type=float, default=0.0, help="pause of a client before each request")
    p.add_argument("--gunicorn-workers", type=int, default=4)
    p.add_argument("--gunicorn-threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="20 clients, 3 s warm-up, 8 s measured")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = p.parse_args(argv)
    if args.quick:
        args.clients, args.seconds, args.warmup_seconds = 20, 8.0, 3.0
    if args.clients < 1 or args.seconds <= 0:
        p.error("--clients ≥ 1 and --seconds > 0")
    return args


def table(result: dict[str, Any]) -> str:
    lines = ["", f"{'request':<28}{'count':>8}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}"]
    for kind, row in result["latency"].items():
        if not row["count"]:
            continue
        lines.append(f"{kind:<28}{row['count']:>8}{row['p50_ms']:>9.1f}{row['p90_ms']:>9.1f}{row['p99_ms']:>9.1f}"
                     f"{row['max_ms']:>9.1f}{result['errors'][kind]:>8}")
    p = result["params"]
    lines.append(f"({p['clients']} clients, {p['seconds']:g} s measured, {result['requests_per_second']} requests/s; "
                 f"{result['server']}; target p99 ≤ {TARGET_P99_MS:g} ms with zero errors: "
                 f"{'met' if result['within_target'] else 'NOT met'})")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    result: dict[str, Any] = {"bench": "api_latency", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              "quick": args.quick, "machine": machine(),
                              "params": {"clients": args.clients, "seconds": args.seconds,
                                         "warmup_seconds": args.warmup_seconds, "think_ms": args.think_ms,
                                         "max_requests": args.max_requests,
                                         "gunicorn_workers": args.gunicorn_workers,
                                         "gunicorn_threads": args.gunicorn_threads}}
    result["server"] = (f"gunicorn -w {args.gunicorn_workers} -k gthread --threads {args.gunicorn_threads} "
                        f"+ 1 lvyue worker, PostgreSQL")
    url = pg_database(args.database_url, args.bench_db)
    with tempfile.TemporaryDirectory(prefix="lvyue-latency-") as folder:
        servers = Servers(Path(folder))
        try:
            from sqlalchemy import create_engine, text
            eng = create_engine(url)
            with eng.connect() as conn:
                result["machine"]["postgresql"] = conn.scalar(text("SHOW server_version"))
            eng.dispose()
            port, tokens = start_postgres(servers, Path(folder), url, args.gunicorn_workers, args.gunicorn_threads)
            rec, stop = Recorder(), threading.Event()
            clients = [LoadClient(i, port, tokens, rec, stop, args.think_ms / 1000, args.max_requests)
                       for i in range(args.clients)]
            log(f"{args.clients} clients against {result['server']} on :{port}; warm-up {args.warmup_seconds:g} s")
            for c in clients:
                c.start()
            time.sleep(args.warmup_seconds)
            with rec.lock:
                rec.recording = True
                sent_before = rec.requests
            began = time.perf_counter()
            log(f"measuring for {args.seconds:g} s")
            deadline = began + args.seconds
            while time.perf_counter() < deadline and rec.requests < args.max_requests \
                    and any(c.is_alive() for c in clients):
                time.sleep(0.1)
            with rec.lock:
                rec.recording = False
                measured = rec.requests - sent_before
            elapsed = time.perf_counter() - began
            stop.set()
            for c in clients:
                c.join(180)
            result["load_average_at_end"] = load_average()
        finally:
            servers.stop()
            pg_database(args.database_url, args.bench_db, drop_only=True)
    result["latency"] = {k: summary(v) for k, v in rec.samples.items()}
    result["errors"] = rec.errors
    result["error_count"] = sum(rec.errors.values())
    result["error_examples"] = rec.error_examples
    result["client_failures"] = [c.failure for c in clients if c.failure]
    result["measured_seconds"] = round(elapsed, 2)
    result["requests_measured"] = measured
    result["requests_per_second"] = round(measured / elapsed, 1)
    result["contracts_started"] = sum(c.contracts for c in clients)
    complete, tasks = result["latency"]["POST /tasks/{id}/complete"], result["latency"]["GET /tasks"]
    result["target_p99_ms"] = TARGET_P99_MS
    result["within_target"] = bool(complete["count"] and tasks["count"] and result["error_count"] == 0
                                   and complete["p99_ms"] <= TARGET_P99_MS and tasks["p99_ms"] <= TARGET_P99_MS)
    print(table(result))
    write_result(args.output, result)
    return 1 if result["error_count"] or result["client_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
