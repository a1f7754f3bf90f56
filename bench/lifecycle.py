#!/usr/bin/env python
"""Lifecycle throughput (issue 9, item 1): whole post_award contracts per second through the HTTP API,
against the limit of bare SpiffWorkflow doing only what a durable engine must do per step.

Run by hand from the repository root:

    .venv/bin/python bench/lifecycle.py                  # limit + SQLite (`lvyue serve`)
    .venv/bin/python bench/lifecycle.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
                                                         # limit + SQLite + PostgreSQL (gunicorn + `lvyue worker`)
    .venv/bin/python bench/lifecycle.py --quick          # a smoke run, well under a minute

The contract: bpmn/post_award.bpmn, a government-procurement goods contract with 3 milestones, on
time, the real clock (every date is today's, the award notice 3 days ago). Every user task the
contract has is completed: submit_performance_guarantee, sign_contract, release_bid_bond,
file_contract, review_filing, 3 × (report_delivery, accept_delivery, submit_invoice, record_payment),
confirm_completion, release_performance_guarantee = 19 tasks + the start = 20 steps. (The works
track's retention release is not in it: it waits for a defect-liability timer months long.)

(a) through the API, N client threads (`--clients`, a list: each count is one configuration,
    default 1,4,8), each driving whole contracts one after another as the real parties would
    (the operator starts, contractor / employer / supervisor complete their tasks), over keep-alive
    HTTP/1.1 on loopback. A party takes its task id from the contract view (`tasks`, the
    contract's READY tasks) that the start and every completion return, else asks
    `GET /tasks?instance_id=…&element_id=…` (`http_requests_per_contract` in the result: 20 when none was needed).
    * sqlite: `lvyue serve` (one process: waitress threads + the embedded scheduler) on a fresh
      SQLite file;
    * postgresql (with --database-url): gunicorn `-w W -k gthread --threads T` (README's production
      command) + one `lvyue worker`, in the database `--bench-db` (default bench_lifecycle, created
      and DROPPED; the name must start with `bench_`).
(b) the limit, in process, no database, no HTTP: the same diagram parsed with SpiffWorkflow's own
    BpmnParser, engine.spiff's SafeScriptEngine attached (the deadline functions evaluate), the same
    tasks completed with the same typed data (validated once, before timing, by the engine's own form
    code). Each step deserializes the workflow it touches from JSON, completes the task, runs the
    engine (refresh_timers + do_engine_steps until it waits) and serializes it back (specs stored
    once, not per instance; Decimal and date registered). Milestones run as separate workflows there
    too, as Lvyue's `lvyue:partition` runs them: when the main workflow waits at `milestones`, one
    workflow per milestone is created from the main data; when the last is done, the main workflow is
    deserialized, sent `milestones_completed`, run and serialized within that last part's step.
    Measured in 1 process and in 2 (the machine's cores) running contracts side by side.

Each configuration runs `--runs` times; a run completes `--contracts` contracts (after one warm-up
contract per client) and its throughput is contracts / wall seconds (the limit: contracts / busy
seconds of the slowest process, pool start-up and one warm-up contract excluded). Reported: medians,
and the ratio (a)/(b) of each configuration: sqlite against the 1-process limit (`lvyue serve` is one
process, so one core of Python at most), postgresql against the 2-process limit (gunicorn's workers
use both cores). Issue 9's target, (a)/(b) ≥ 0.4 on SQLite, is judged on the best SQLite
configuration ("as fast as possible").
Prints a table and writes JSON (`--output`, default bench/results/lifecycle.json). Exits 1 when a
contract did not complete as expected.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DIAGRAM = ROOT / "bpmn" / "post_award.bpmn"
DEFAULT_OUTPUT = ROOT / "bench" / "results" / "lifecycle.json"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CN = timezone(timedelta(hours=8))
TARGET_RATIO = 0.4
MILESTONES = 3
AMOUNT = "900000.00"
MILESTONE_AMOUNT = "300000.00"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def write_result(path: Path, result: dict[str, Any]) -> None:
    """The JSON of a run, at `path` (UTF-8, folders made), and a log line saying where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"written {path}")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    cpu = None
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = found.group(1).strip() if found else None
    except OSError:
        pass
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "cpu": cpu, "load_average_at_start": load_average()}


# ================================================================ the contract
def plan(today: date) -> tuple[dict[str, Any], list[tuple[str, str, int | None, dict[str, Any]]]]:
    """(start data, [(element id, party, milestone no, task data)]) of the on-time contract, in order."""
    t = today.isoformat()
    start = {
        "project_code": "BENCH-LC", "project_name": "基准测试设备采购", "track": "gov_procurement", "category": "goods",
        "award_notice_date": (today - timedelta(days=3)).isoformat(), "contract_amount": AMOUNT,
        "employer": "EMP", "contractor": "CON", "department": "CZ",
        "bid_bond": {"amount": "10000.00", "form": "e_guarantee"},
        "performance_guarantee_rate": "5", "retention_rate": "0", "payment_term_days": 30, "acceptance_days": 14,
        "milestones": [{"name": f"第{i}批设备", "amount": MILESTONE_AMOUNT,
                        "planned_date": (today + timedelta(days=30 + 15 * i)).isoformat()} for i in range(MILESTONES)],
    }
    steps: list[tuple[str, str, int | None, dict[str, Any]]] = [
        ("submit_performance_guarantee", "contractor", None, {
            "guarantee_no": "BG-1", "issuer": "中国银行", "form": "bank_guarantee", "amount": "45000.00",
            "valid_to": (today + timedelta(days=365)).isoformat(), "document_sha256": "c" * 64}),
        ("sign_contract", "employer", None, {"signed_at": t, "contract_no": "HT-1", "document_sha256": "a" * 64,
                                             "amount": AMOUNT}),
        # Signed by both (the contractor confirms the same text), then published within 2 working days (G04).
        ("confirm_signature", "contractor", None, {"confirmed": True, "confirmed_at": t, "document_sha256": "a" * 64}),
        ("publish_contract", "employer", None, {"published_at": t,
                                                "url": "https://www.ccgp.gov.cn/cggg/htgg/bench/HT-1.html"}),
        ("release_bid_bond", "employer", None, {"released_at": t, "amount": "10000.00", "interest": "8.20"}),
        ("file_contract", "employer", None, {"filed_at": t, "document_sha256": "a" * 64}),
        ("review_filing", "supervisor", None, {"decision": "accepted", "note": "与签订文本一致"}),
    ]
    for no in range(1, MILESTONES + 1):
        steps += [
            ("report_delivery", "contractor", no, {"delivered_at": t}),
            ("accept_delivery", "employer", no, {"accepted_at": t, "result": "passed"}),
            ("submit_invoice", "contractor", no, {"invoice_no": f"INV-{no}", "amount": MILESTONE_AMOUNT, "issued_at": t}),
            ("record_payment", "employer", no, {"paid_at": t, "amount": MILESTONE_AMOUNT, "voucher_no": f"GK-{no}"}),
        ]
    steps += [("confirm_completion", "employer", None, {"completed_at": t}),
              ("release_performance_guarantee", "employer", None, {"released_at": t})]
    return start, steps


def today_cn() -> date:
    return datetime.now(CN).date()


# ================================================================ (b) the limit: bare SpiffWorkflow
class Limit:
    """The post_award contract on bare SpiffWorkflow: parse once, then per step deserialize, complete,
    run, serialize. Only SpiffWorkflow objects and JSON strings; no database, no HTTP."""

    def __init__(self, today: date):
        from decimal import Decimal
        from uuid import UUID

        from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
        from SpiffWorkflow.bpmn.parser import BpmnParser
        from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
        from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
        from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
        from SpiffWorkflow.bpmn.specs.event_definitions import MessageEventDefinition
        from SpiffWorkflow.util.task import TaskState

        from engine import bootstrap
        from engine import clock
        from engine.supervision import bindings
        from engine.runtime import diagrams, forms
        from engine.storage.models import Organisation
        from engine.runtime.spiff import SafeScriptEngine

        bootstrap.bootstrap()  # the engine is driven in-process here: compose it as the app does

        self.TaskState, self.BpmnEvent, self.MessageEventDefinition, self.UUID = (
            TaskState, BpmnEvent, MessageEventDefinition, UUID)
        engine = SafeScriptEngine()
        self.engine = engine

        class Converter(BpmnWorkflowConverter):
            """Instance state without the spec: a durable engine stores the spec once per version."""

            def to_dict(self, workflow):
                dct = WorkflowConverter.to_dict(self, workflow)
                dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
                dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
                return dct

            def from_dict(self, dct):
                wf = self.target_class(dct.pop("spec"), dct.pop("subprocess_specs"), deserializing=True)
                wf.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=wf)
                wf.task_tree = wf.tasks.get(UUID(dct["root"]))
                self.set_default_attributes(wf, dct)
                self.subprocesses_from_dict(dct["subprocesses"], wf)
                wf.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
                return wf

        config = dict(DEFAULT_CONFIG)
        config[BpmnWorkflow] = Converter
        registry = BpmnWorkflowSerializer.configure(config)
        registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]), typename="Decimal")
        registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]),
                          typename="date")
        self.serializer = BpmnWorkflowSerializer(registry)

        parser = BpmnParser()
        parser.add_bpmn_file(str(DIAGRAM))
        self.main_spec = parser.get_spec("post_award")
        self.part_spec = parser.get_spec("post_award_milestone")
        self.subprocess_specs = {**parser.get_subprocess_specs("post_award"),
                                 **parser.get_subprocess_specs("post_award_milestone")}
        self.BpmnWorkflow = BpmnWorkflow

        # The same typed data the engine would put into the workflows (validated here, before timing).
        model = diagrams.read(DIAGRAM.read_bytes()).model
        raw_start, raw_steps = plan(today)
        contractor = Organisation(code="CON", name="bench", credit_rating="AAA", sme=False, public_body=False)
        employer = Organisation(code="EMP", name="bench", credit_rating=None, sme=False, public_body=True)
        # The engine's own start terms (statutory caps, the payment basis fixed at start), under the bench's clock.
        with clock.frozen_at(datetime(today.year, today.month, today.day, 12, tzinfo=clock.SHANGHAI)):
            typed, errors = bindings.post_award_terms_for(raw_start, employer, contractor)
        if errors:
            raise RuntimeError(f"the start data is invalid: {errors}")
        # As engine.usecases.instances.start does: lane roles the process may leave unbound enter the data as None.
        from engine.runtime import hooks
        optional = hooks.REGISTRY.optional_roles.get(model["process_id"], frozenset())
        typed.update({role: None for role in optional if role in model.get("roles", []) and role not in typed})
        self.start_data = typed
        partition = model["partitions"]["milestones"]
        self.partition = partition
        # The other partitions (post_award_works): empty for this goods-style contract, passed in the same step
        # as Lvyue passes an empty partition.
        self.empty_partitions = {k: v for k, v in model["partitions"].items() if k != "milestones"}
        self.accumulators = sorted(forms.accumulators({k: v["form"] for k, v in model["user_tasks"].items()
                                                       if v.get("process") == partition["process"]}))
        self.steps = []
        for element, _who, no, raw in raw_steps:
            form = model["user_tasks"][element]["form"]
            typed_task, errors = forms.validate(form, raw)
            if errors:
                raise RuntimeError(f"{element}: {errors}")
            self.steps.append((element, no, form, typed_task))
        self.forms = forms

    # ---- one durable step
    def load(self, state: str, spec) -> Any:
        dct = json.loads(state)
        dct.pop(self.serializer.VERSION_KEY, None)
        dct["spec"], dct["subprocess_specs"] = spec, self.subprocess_specs
        wf = self.serializer.from_dict(dct)
        wf.script_engine = self.engine  # the engine is not serialized (SPIFFWORKFLOW-NOTES.md §2c)
        return wf

    def dump(self, wf) -> str:
        return self.serializer.serialize_json(wf)

    def run(self, wf) -> None:
        for _ in range(1000):
            wf.refresh_timers()
            wf.do_engine_steps()
            if not wf.get_tasks(state=self.TaskState.READY, manual=False):
                return
        raise RuntimeError("the workflow does not come to rest")

    def complete(self, state: str, spec, element: str, form, typed: dict[str, Any]) -> tuple[str, Any]:
        wf = self.load(state, spec)
        [task] = [t for t in wf.get_tasks(state=self.TaskState.READY, manual=True) if t.task_spec.bpmn_id == element]
        task.set_data(**self.forms.to_process_data(form, typed, task.data))
        task.run()
        self.run(wf)
        return self.dump(wf), wf

    # ---- one contract
    def contract(self) -> int:
        """Drive one contract to its end; the number of durable steps taken."""
        wf = self.BpmnWorkflow(self.main_spec, self.subprocess_specs, script_engine=self.engine)
        wf.task_tree.set_data(**self.start_data)
        self.run(wf)
        main, main_wf = self.dump(wf), wf
        parts: dict[int, str] = {}
        done_parts = 0
        steps = 1
        for element, no, form, typed in self.steps:
            if no is None:
                main, wf = self.complete(main, self.main_spec, element, form, typed)
                main_wf = wf
                steps += 1
                waiting = {t.task_spec.bpmn_id for t in wf.get_tasks(state=self.TaskState.WAITING)}
                passed = [spec["message"] for key, spec in self.empty_partitions.items() if key in waiting]
                for name in passed:
                    wf.send_event(self.BpmnEvent(self.MessageEventDefinition(name), payload={name: 0}))
                if passed:
                    self.run(wf)
                    main = self.dump(wf)
                if element == "review_filing":
                    # Main now waits at the partition receive task: one workflow per milestone, created
                    # in the same step (as Lvyue's `lvyue:partition` does).
                    waiting = [t for t in wf.get_tasks(state=self.TaskState.WAITING)
                               if t.task_spec.bpmn_id == "milestones"]
                    if len(waiting) != 1:
                        raise RuntimeError("the main workflow should wait at `milestones` after the filing review")
                    data = dict(waiting[0].data)
                    items = data.pop(self.partition["collection"])
                    for name in self.accumulators:
                        data[name] = 0
                    for i, item in enumerate(items, start=1):
                        part = self.BpmnWorkflow(self.part_spec, self.subprocess_specs, script_engine=self.engine)
                        part.task_tree.set_data(**data, **{self.partition["item"]: item})
                        self.run(part)
                        parts[i] = self.dump(part)
            else:
                parts[no], wf = self.complete(parts[no], self.part_spec, element, form, typed)
                steps += 1
                if wf.is_completed():
                    done_parts += 1
                    if done_parts == len(parts):
                        # The last part is done: in the same step the main workflow receives
                        # milestones_completed (deserialize, send, run, serialize).
                        wf = self.load(main, self.main_spec)
                        name = self.partition["message"]
                        wf.send_event(self.BpmnEvent(self.MessageEventDefinition(name), payload={name: done_parts}))
                        self.run(wf)
                        main = self.dump(wf)
                        main_wf = wf
        if not main_wf.is_completed():
            raise RuntimeError("the bare SpiffWorkflow contract did not complete")
        return steps


def _limit_worker(args: tuple[str, int]) -> tuple[float, int]:
    today_iso, count = args
    try:
        limit = Limit(date.fromisoformat(today_iso))
        limit.contract()  # warm-up
        began = time.perf_counter()
        steps = 0
        for _ in range(count):
            steps += limit.contract()
        return time.perf_counter() - began, steps
    except Exception as exc:
        # SpiffWorkflow's exceptions do not unpickle in the parent, and the pool then waits for ever:
        # hand back a plain one that names the cause.
        raise RuntimeError(f"{type(exc).__name__}: {exc}") from None


def run_limit(contracts: int, runs: int, processes: int) -> dict[str, Any]:
    """Contracts/s of bare SpiffWorkflow in `processes` processes side by side (each does its share)."""
    today = today_cn().isoformat()
    share = [contracts // processes + (1 if i < contracts % processes else 0) for i in range(processes)]
    samples, steps_per_contract = [], None
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(processes) as pool:
        for _ in range(runs):
            results = pool.map(_limit_worker, [(today, n) for n in share])
            # The busy seconds of the slowest process, without pool start-up and warm-up.
            busy = max(r[0] for r in results)
            samples.append(contracts / busy)
            steps_per_contract = sum(r[1] for r in results) / contracts
    return summarize(samples, {"processes": processes, "contracts_per_run": contracts,
                               "steps_per_contract": steps_per_contract})


def summarize(samples: list[float], extra: dict[str, Any]) -> dict[str, Any]:
    return {**extra, "runs": len(samples), "contracts_per_second": round(statistics.median(samples), 3),
            "min": round(min(samples), 3), "max": round(max(samples), 3), "samples": [round(s, 3) for s in samples]}


# ================================================================ (a) through the API
class HttpError(Exception):
    pass


class Client:
    """One keep-alive HTTP/1.1 connection to the server; JSON in and out."""

    def __init__(self, host: str, port: int, timeout: float = 60):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=payload, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.close()
                return resp.status, (json.loads(raw) if raw else None)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.BadStatusLine):
                # A keep-alive connection the server closed while idle: reconnect once (nothing was processed).
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Driver:
    """Drives whole contracts through the API as the parties would."""

    def __init__(self, client: Client, tokens: dict[str, str], today: date):
        self.client, self.tokens = client, tokens
        self.start_data, self.steps = plan(today)
        self.requests = 0

    def call(self, method: str, path: str, who: str, body: Any = None, expect: int = 200) -> Any:
        self.requests += 1
        status, out = self.client.request(method, "/api/v1" + path, self.tokens[who], body)
        if status != expect:
            raise HttpError(f"{method} {path} as {who}: {status} {json.dumps(out, ensure_ascii=False)[:500]}")
        return out

    def contract(self, key: str) -> None:
        out = self.call("POST", "/instances", "operator",
                        {"definition": "post_award", "business_key": key, "data": self.start_data}, expect=201)
        instance_id = out["id"]
        known = self._known(out)
        last = None
        for element, who, no, data in self.steps:
            task_id = known.get((who, element, no))
            if task_id is None:
                items = self.call("GET", f"/tasks?instance_id={instance_id}&element_id={element}&limit=50", who)["items"]
                matching = [t["id"] for t in items if t.get("milestone_no") == no]
                if len(matching) != 1:
                    raise HttpError(f"{key}: expected one {element} (milestone {no}) for {who}, got {items}")
                task_id = matching[0]
            last = self.call("POST", f"/tasks/{task_id}/complete", who, {"data": data})
            known = self._known(last["instance"])
        if last is None or last["instance"]["status"] != "completed":
            raise HttpError(f"{key}: the contract did not complete: {last and last['instance']['status']}")

    @staticmethod
    def _known(instance: dict[str, Any]) -> dict[tuple[str, str, int | None], str]:
        """(lane, element, milestone) → task id of the contract's READY tasks, from the contract view
        (`tasks` of GET /instances/{id}) that every reply carries: each party sees its contract's open tasks."""
        return {(t["lane"], t["element_id"], t.get("milestone_no")): t["id"] for t in instance.get("tasks", [])}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(url: str) -> dict[str, str]:
    """Migrate `url`, add the directory and deploy post_award; a token per party."""
    from engine import bootstrap
    from engine.runtime import definitions
    from engine.access import directory
    from engine.storage import migrate
    from engine.storage.db import Database

    bootstrap.bootstrap()  # the deploy below checks the domain's bindings, the upgrade seeds the calendar
    migrate.upgrade(url)
    db = Database(url)
    tokens = {}
    try:
        with db.transaction() as s:
            directory.add_department(s, "JW", "纪委监委")
            s.flush()
            directory.add_department(s, "CZ", "财政局", escalates_to="JW")
            directory.add_organisation(s, "EMP", "某市第一中学")
            directory.add_organisation(s, "CON", "某设备集团", "AAA")
            s.flush()
            for name, role, org, dept in (("operator", "operator", None, None), ("employer", "party", "EMP", None),
                                          ("contractor", "party", "CON", None), ("supervisor", "supervisor", None, "CZ"),
                                          ("admin", "admin", None, None)):
                _, tokens[name] = directory.add_user(s, name, role, org, dept)
        definitions.deploy(db, directory.Principal(0, "bench", "designer"), DIAGRAM.read_bytes())
    finally:
        db.dispose()
    return tokens


class Servers:
    """Subprocesses (server, worker) started by the bench; stopped by their own pids."""

    def __init__(self, logdir: Path):
        self.logdir, self.procs = logdir, []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        handle = open(self.logdir / f"{name}.log", "w")
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)
        handle.close()
        self.procs.append((name, proc))
        return proc

    def wait_http(self, port: int, proc: subprocess.Popen, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}: {(self.logdir / f'{name}.log').read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{name} did not answer /healthz in {timeout:.0f} s")

    def stop(self) -> None:
        for _name, proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # gunicorn's master stops its own workers
        for _name, proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.procs = []


def server_env(url: str, logdir: Path) -> dict[str, str]:
    return dict(os.environ, DATABASE_URL=url, LVYUE_INSTANCE_PATH=str(logdir / "instance"))


def start_sqlite(servers: Servers, logdir: Path) -> tuple[int, dict[str, str]]:
    url = f"sqlite:///{logdir / 'lifecycle.sqlite'}"
    tokens = seed(url)
    port = free_port()
    proc = servers.start("lvyue-serve", [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
                         server_env(url, logdir))
    servers.wait_http(port, proc, "lvyue-serve")
    return port, tokens


def pg_database(server_url: str, name: str, drop_only: bool = False) -> str:
    """(Re)create the bench's own database on the server of `server_url`; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if not re.fullmatch(r"bench_[a-z0-9_]{0,50}", name):
        raise SystemExit(f"--bench-db {name!r}: must start with bench_ (lower-case letters, digits and _)")
    url = make_url(server_url)
    if not url.drivername.startswith("postgresql"):
        raise SystemExit("--database-url must be a PostgreSQL URL")
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if not drop_only:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def start_postgres(servers: Servers, logdir: Path, url: str, workers: int, threads: int,
                   with_worker: bool = True) -> tuple[int, dict[str, str]]:
    tokens = seed(url)
    port = free_port()
    env = server_env(url, logdir)
    proc = servers.start("gunicorn", [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "gthread",
                                      "--threads", str(threads), "-b", f"127.0.0.1:{port}", "--timeout", "120",
                                      "api:create_app()"], env)
    if with_worker:
        servers.start("lvyue-worker", [sys.executable, "-m", "api.cli", "worker"], env)
    servers.wait_http(port, proc, "gunicorn")
    return port, tokens


def run_api(port: int, tokens: dict[str, str], clients: int, contracts: int, runs: int, label: str,
            prefix: str) -> dict[str, Any]:
    """`runs` runs of `contracts` contracts by `clients` threads; contracts/s of each run."""
    today = today_cn()
    drivers = [Driver(Client("127.0.0.1", port), tokens, today) for _ in range(clients)]
    errors: list[str] = []

    def go(driver: Driver, keys: list[str]) -> None:
        try:
            for key in keys:
                driver.contract(key)
        except Exception as exc:  # noqa: BLE001 — reported, then the run fails
            errors.append(f"{type(exc).__name__}: {exc}")

    def batch(keys: list[str]) -> float:
        shares = [keys[i::clients] for i in range(clients)]
        threads = [threading.Thread(target=go, args=(d, s)) for d, s in zip(drivers, shares)]
        began = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - began
        if errors:
            raise RuntimeError(f"{label}: {len(errors)} client(s) failed; first: {errors[0]}")
        return wall

    batch([f"{prefix}-WARM-{i}" for i in range(clients)])  # warm-up: spec caches, connections, pools
    requests_before = sum(d.requests for d in drivers)
    samples, loads = [], []
    for r in range(runs):
        wall = batch([f"{prefix}-{r}-{i}" for i in range(contracts)])
        samples.append(contracts / wall)
        loads.append(load_average())
        log(f"{label}: run {r + 1}/{runs}: {contracts} contracts in {wall:.1f} s = {contracts / wall:.2f}/s")
    for d in drivers:
        d.client.close()
    per_contract = (sum(d.requests for d in drivers) - requests_before) / (contracts * runs)
    return summarize(samples, {"clients": clients, "contracts_per_run": contracts,
                               "http_requests_per_contract": round(per_contract, 2), "load_average_after_runs": loads})


# ================================================================ main
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=None, help="also measure PostgreSQL (gunicorn) on this server")
    p.add_argument("--bench-db", default="bench_lifecycle", help="database created and dropped there (bench_*)")
    p.add_argument("--runs", type=int, default=5, help="runs per configuration (the median is reported)")
    p.add_argument("--contracts", type=int, default=24, help="contracts per run through the API")
    p.add_argument("--limit-contracts", type=int, default=60, help="contracts per run of the bare-SpiffWorkflow limit")
    p.add_argument("--clients", default="1,4,8",
                   help="client threads driving contracts through the API, comma-separated: each count is one configuration")
    p.add_argument("--gunicorn-workers", type=int, default=4)
    p.add_argument("--gunicorn-threads", type=int, default=2)
    p.add_argument("--no-sqlite", action="store_true", help="skip the SQLite server")
    p.add_argument("--quick", action="store_true", help="a smoke run: 2 runs of a few contracts, under a minute")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = p.parse_args(argv)
    if args.quick:
        args.runs, args.contracts, args.limit_contracts, args.clients = 2, 4, 6, "2"
    try:
        args.clients = [int(c) for c in str(args.clients).split(",")]
    except ValueError:
        p.error("--clients: counts, comma-separated, such as 1,4,8")
    if min(args.runs, args.contracts, args.limit_contracts, *args.clients) < 1:
        p.error("--runs, --contracts, --limit-contracts and --clients must be at least 1")
    return args


def table(result: dict[str, Any]) -> str:
    lines = ["", f"{'configuration':<70}{'contracts/s':>12}{'(a)/(b)':>10}"]
    for name, row in result["limit"].items():
        lines.append(f"{'(b) bare SpiffWorkflow, ' + name:<70}{row['contracts_per_second']:>12.2f}{'':>10}")
    for name, row in result["api"].items():
        ratio = result["ratios"].get(name)
        lines.append(f"{'(a) ' + row['server'] + ', ' + str(row['clients']) + ' client(s)':<70}{row['contracts_per_second']:>12.2f}"
                     f"{(f'{ratio:.3f}' if ratio is not None else ''):>10}")
    lines.append(f"(median of {result['params']['runs']} runs; sqlite against (b) 1 process, postgresql against (b) 2 processes; "
                 f"target (a)/(b) ≥ {TARGET_RATIO} on SQLite: "
                 f"{'met' if result['within_target'] else 'NOT met'})")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    result: dict[str, Any] = {
        "bench": "lifecycle", "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "quick": args.quick,
        "machine": machine(),
        "params": {"runs": args.runs, "contracts": args.contracts, "limit_contracts": args.limit_contracts,
                   "clients": args.clients, "milestones": MILESTONES, "diagram": str(DIAGRAM.relative_to(ROOT)),
                   "user_tasks_per_contract": len(plan(today_cn())[1])},
        "limit": {}, "api": {}, "ratios": {},
    }
    log("(b) bare SpiffWorkflow, 1 process")
    result["limit"]["1 process"] = run_limit(args.limit_contracts, args.runs, 1)
    log(f"(b) 1 process: median {result['limit']['1 process']['contracts_per_second']:.2f} contracts/s")
    log("(b) bare SpiffWorkflow, 2 processes")
    result["limit"]["2 processes"] = run_limit(args.limit_contracts, args.runs, 2)
    log(f"(b) 2 processes: median {result['limit']['2 processes']['contracts_per_second']:.2f} contracts/s")
    failed = False
    with tempfile.TemporaryDirectory(prefix="lvyue-lifecycle-") as folder:
        logdir = Path(folder)
        if not args.no_sqlite:
            servers = Servers(logdir / "sqlite")
            servers.logdir.mkdir()
            try:
                port, tokens = start_sqlite(servers, servers.logdir)
                for clients in args.clients:
                    log(f"(a) sqlite: `lvyue serve` on :{port}, {clients} client(s)")
                    row = run_api(port, tokens, clients, args.contracts, args.runs, f"sqlite/{clients}", f"SQ{clients}")
                    result["api"][f"sqlite/{clients}"] = {"backend": "sqlite",
                                                          "server": "SQLite, `lvyue serve` (1 process)", **row}
            except RuntimeError as exc:
                log(f"FAILED: {exc}")
                failed = True
            finally:
                servers.stop()
        if args.database_url and not failed:
            servers = Servers(logdir / "postgresql")
            servers.logdir.mkdir()
            url = pg_database(args.database_url, args.bench_db)
            try:
                from sqlalchemy import create_engine, text
                eng = create_engine(url)
                with eng.connect() as conn:
                    result["machine"]["postgresql"] = conn.scalar(text("SHOW server_version"))
                eng.dispose()
                port, tokens = start_postgres(servers, servers.logdir, url, args.gunicorn_workers, args.gunicorn_threads)
                server = (f"PostgreSQL, gunicorn -w {args.gunicorn_workers} -k gthread --threads {args.gunicorn_threads}"
                          f" + lvyue worker")
                for clients in args.clients:
                    log(f"(a) postgresql: {server} on :{port}, {clients} client(s)")
                    row = run_api(port, tokens, clients, args.contracts, args.runs, f"postgresql/{clients}", f"PG{clients}")
                    result["api"][f"postgresql/{clients}"] = {"backend": "postgresql", "server": server, **row}
            except RuntimeError as exc:
                log(f"FAILED: {exc}")
                failed = True
            finally:
                servers.stop()
                pg_database(args.database_url, args.bench_db, drop_only=True)
    one = result["limit"]["1 process"]["contracts_per_second"]
    two = result["limit"]["2 processes"]["contracts_per_second"]
    for name, row in result["api"].items():
        limit = one if row["backend"] == "sqlite" else two
        result["ratios"][name] = round(row["contracts_per_second"] / limit, 3)
    result["ratio_of"] = {"sqlite": "(a) sqlite / (b) 1 process (`lvyue serve` is one process)",
                          "postgresql": "(a) postgresql / (b) 2 processes (gunicorn's workers use both cores)"}
    sqlite = [r for n, r in result["ratios"].items() if n.startswith("sqlite/")]
    result["best_ratio"] = {b: max((r for n, r in result["ratios"].items() if n.startswith(b + "/")), default=None)
                            for b in ("sqlite", "postgresql")}
    result["target_ratio"] = TARGET_RATIO
    result["within_target"] = bool(sqlite) and max(sqlite) >= TARGET_RATIO
    result["machine"]["load_average_at_end"] = load_average()
    print(table(result))
    write_result(args.output, result)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
