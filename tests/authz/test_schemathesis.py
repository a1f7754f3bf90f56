"""Property-based run of schemathesis over /openapi.json (acceptance 3), bounded in time.

Every operation of the served spec is called with generated data (positive and negative, plus positive data on
ids that exist) as admin and as a contract party, at most MAX_EXAMPLES examples per operation and identity and
BUDGET_SECONDS in all, shared equally among the operations, each reached MIN_EXAMPLES times whatever the load (derandomized: the same examples every run). SQLite only, to keep the time bounded; the
PostgreSQL behaviour of the same code paths is covered by the other suites.

One fuzzing run per identity (module fixture) collects every failure per check; each check is then its own
test, so a spec defect does not hide a server error. Needs schemathesis==4.32.5 (setup.cfg extras `test`).
"""
from __future__ import annotations

import os
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

try:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                                   status_code_conformance)
except ImportError as exc:  # pragma: no cover - the test extra is missing
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"schemathesis is not installed ({exc}); pip install -e '.[test]'", allow_module_level=True)

from tests.authz.test_matrix import World

MAX_EXAMPLES = 25
MIN_EXAMPLES = 5  # per operation and identity whatever the load: the budget decides how many more, never fewer
BUDGET_SECONDS = 60.0  # both identities together, shared among the operations (every one is reached; see fuzz)
IDENTITIES = ("admin", "emp")  # everything / a party of contract A
CHECKS = {"not_a_server_error": not_a_server_error,
          "response_schema_conformance": response_schema_conformance,
          "status_code_conformance": status_code_conformance,
          "content_type_conformance": content_type_conformance}
KEEP = 3  # reproductions kept per (check, operation)
INT32 = 2**31  # PostgreSQL INTEGER; SQLite's limit is 2**63


def _out_of_range_integer(case) -> bool:
    """A generated integer the database cannot hold: a known defect with deterministic strict-xfail tests
    (tests/authz/test_matrix.py::test_out_of_range_integer_is_4xx); a 5xx it causes is reported apart."""
    values = []
    for container in (case.path_parameters, case.query, case.body if isinstance(case.body, dict) else None):
        values += list((container or {}).values())
    return any(isinstance(v, int) and not isinstance(v, bool) and not -INT32 <= v < INT32 for v in values)


@dataclass
class Run:
    calls: int = 0
    operations: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # operations no example reached
    # check → operation → distinct failure → one reproduction
    failures: dict[str, dict[str, dict[str, str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(dict)))
    errors: list[str] = field(default_factory=list)  # strategies schemathesis could not build


def _path_parameters(w: World) -> dict[str, str]:
    return {"instance_id": w.instances["A-SIGN"]["id"], "task_id": w.tasks["A-SIGN"], "alert_id": w.alerts["A-SIGN"],
            "incident_id": w.incidents["A-SIGN"], "key": "signing_deadline", "version": 1,
            "business_key": "A-SIGN", "name": "guarantee_issued"}


def _order(op) -> tuple:
    # Reads first, then writes; cancelling last, so the writes before it still meet running contracts.
    return (op.method.upper() != "GET", op.path.endswith("/cancel"), op.path, op.method)


def _summary(failure) -> str:
    """The failure's title, first message line and the schema location it names, if any."""
    message = str(getattr(failure, "message", failure))
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    where = next((line for line in lines if line.startswith("Schema at")), "")
    return " | ".join(x for x in (getattr(failure, "title", type(failure).__name__), lines[0] if lines else "", where) if x)


def _reproduction(case, response, headers) -> str:
    body = response.content[:300].decode("utf-8", "replace") if response.content else ""
    content_type = (response.headers.get("content-type") or [None])[0]
    return f"{case.as_curl_command(headers=headers)}\n  → {response.status_code} {content_type}: {body}"


def fuzz(w: World, who: str, deadline: float) -> Run:
    run = Run()
    schema = schemathesis.openapi.from_wsgi("/openapi.json", w.app)
    headers = w.headers(who)
    known = _path_parameters(w)
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=_order)
    for index, op in enumerate(operations):
        label = f"{op.method.upper()} {op.path}"
        # Each operation gets an equal share of what is left of the budget, and at least MIN_EXAMPLES examples
        # whatever the load (a loaded machine, or the other xdist worker, slows the calls): the time bounds how
        # deep the run goes, never which operations it reaches nor how many calls each gets at least.
        op_deadline = time.monotonic() + max(deadline - time.monotonic(), 0) / (len(operations) - index)
        op_calls = run.calls
        run.operations.append(label)
        strategies = []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategies.append(op.as_strategy(generation_mode=mode))
            except Exception as exc:  # noqa: BLE001 - a spec schemathesis cannot negate is reported, not fatal
                run.errors.append(f"{label} {mode}: {exc.__class__.__name__}: {exc}")
        names = [p.name for p in op.path_parameters]
        if names:
            strategies.append(op.as_strategy(path_parameters={n: known[n] for n in names if n in known}))

        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
        @given(case=st.one_of(strategies))
        def exercise(case):
            if time.monotonic() > op_deadline and run.calls - op_calls >= MIN_EXAMPLES:
                return
            response = case.call(headers=headers)
            run.calls += 1
            for name, check in CHECKS.items():
                try:
                    case.validate_response(response, checks=[check], headers=headers)
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - FailureGroup: record, keep going
                    for failure in getattr(exc, "exceptions", [exc]):
                        summary = _summary(failure)
                        if name == "not_a_server_error" and _out_of_range_integer(case):
                            summary += f" {KNOWN_OUT_OF_RANGE}"
                        kept = run.failures[name][label]
                        if summary not in kept and len(kept) < KEEP:
                            kept[summary] = _reproduction(case, response, headers)

        exercise()
        if run.calls == op_calls:
            run.skipped.append(label)
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory, sqlite_template):
    from api import create_app

    path = tmp_path_factory.mktemp("schemathesis") / "lvyue.sqlite"
    shutil.copy(sqlite_template, path)
    # The SSE stream ends at once, so a generated call to it returns.
    app = create_app({"DATABASE_URL": f"sqlite:///{path}", "TESTING": True, "LVYUE_STREAM_POLL_SECONDS": 0.01,
                      "LVYUE_STREAM_MAX_SECONDS": 0.05})
    try:
        w = World(app)
        deadline = time.monotonic() + BUDGET_SECONDS
        out = {"spec": app.test_client().get("/openapi.json").get_json()}
        for i, who in enumerate(IDENTITIES):
            # Each identity gets its share of what is left of the budget.
            share = (deadline - time.monotonic()) / (len(IDENTITIES) - i)
            out[who] = fuzz(w, who, time.monotonic() + share)
        yield out
    finally:
        app.extensions["lvyue"].db.dispose()


# Known spec defects, each a strict xfail of its own so that any other failure of the same check still fails.
KNOWN_OUT_OF_RANGE = "[known: integer out of the database's range]"
FORM_VALUES = "Schema at /components/schemas/FormField/properties/values"
SSE_EVENT = "SSE event violates schema"  # remove from the exclusions once test_stream_events_are_documented passes
PROBLEM_JSON = "Received: application/problem+json"


def _report(runs, check: str, known: str | tuple[str, ...] | None = None, only_known: bool = False) -> str:
    known = (known,) if isinstance(known, str) else known or ()
    lines = []
    for who, run in ((who, runs[who]) for who in IDENTITIES):
        for label, kept in sorted(run.failures[check].items()):
            for summary, reproduction in kept.items():
                is_known = any(k in summary for k in known)
                if is_known == only_known:
                    lines.append(f"[{who}] {label}: {summary}\n    {reproduction}")
    return "\n".join(lines)


def test_the_run_covered_every_operation(runs):
    for who, run in ((who, runs[who]) for who in IDENTITIES):
        assert not run.skipped, f"[{who}] no example reached: {run.skipped}"
        assert run.calls >= len(run.operations) * MIN_EXAMPLES, (who, run.calls)
        assert not run.errors, run.errors


def test_not_a_server_error(runs):
    report = _report(runs, "not_a_server_error", known=KNOWN_OUT_OF_RANGE)
    assert not report, "5xx responses:\n" + report


def test_out_of_range_integers_found_by_the_run(runs):
    """Listed, not asserted: the same defect has deterministic strict-xfail tests in test_matrix.py."""
    report = _report(runs, "not_a_server_error", known=KNOWN_OUT_OF_RANGE, only_known=True)
    if report:
        print("5xx from integers out of the database's range (known defect):\n" + report)


def test_response_schema_conformance(runs):
    report = _report(runs, "response_schema_conformance", known=(FORM_VALUES, SSE_EVENT))
    assert not report, "responses that break the spec's own schema:\n" + report


def test_form_field_values_match_the_spec(runs):
    report = _report(runs, "response_schema_conformance", known=FORM_VALUES, only_known=True)
    assert not report, report


def test_stream_events_are_documented(runs):
    """Deterministic (the run may or may not meet an event): the spec's event schema accepts an alert event."""
    import jsonschema_rs

    spec = runs["spec"]
    schema = spec["paths"]["/api/v1/alerts/stream"]["get"]["responses"]["200"]["content"]["text/event-stream"]["schema"]
    event = {"event": "alert", "id": "2026-11-28T00:00:00+00:00|x", "data": '{"id": "x"}'}
    assert jsonschema_rs.validator_for(schema).is_valid(event), schema


def test_status_code_conformance(runs):
    # Vacuous today: every operation declares `default`, so any status conforms (see the report).
    report = _report(runs, "status_code_conformance")
    assert not report, "undocumented status codes:\n" + report


def test_content_type_conformance(runs):
    report = _report(runs, "content_type_conformance", known=PROBLEM_JSON)
    assert not report, "undocumented content types:\n" + report


def test_error_responses_are_documented_as_problem_json(runs):
    report = _report(runs, "content_type_conformance", known=PROBLEM_JSON, only_known=True)
    assert not report, report
