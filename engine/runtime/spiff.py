"""The only module that imports SpiffWorkflow (STYLE.md: its API churn touches one place).

It turns a parsed diagram into a spec, runs workflows with the safe expression engine, and converts
workflow state to and from the JSON we store. Nothing returned from here is a SpiffWorkflow object
except the opaque `Workflow` handle passed back into this module's own functions.

Measured behaviour this module relies on is in SPIFFWORKFLOW-NOTES.md: specs are stripped from the
instance state (§2c), the script engine is not serialized and must be re-attached (§2c), a due timer
needs `refresh_timers()` then `do_engine_steps()` (§2b), `Task.run()` does not check READY (§2e).
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import SpiffWorkflow.bpmn.specs.event_definitions.timer as _timer_module
from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser import BpmnParser, BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent, ServiceTask
from SpiffWorkflow.bpmn.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.exceptions import SpiffWorkflowException, TaskNotFoundException, WorkflowException
from SpiffWorkflow.util.task import TaskState

from engine import clock
from engine.runtime import expressions

Workflow = BpmnWorkflow

# ---------------------------------------------------------------------------- the engine clock
class _EngineDatetime(datetime):
    """Stands in for `datetime` inside SpiffWorkflow's timer module so timers read the engine clock."""

    @classmethod
    def now(cls, tz=None):
        instant = clock.now()
        return instant.astimezone(tz) if tz is not None else instant.replace(tzinfo=None)


_timer_module.datetime = _EngineDatetime

# ---------------------------------------------------------------------------- safe expressions
# A bare ISO 8601 date-time, duration or repeating interval written straight into a timer field
# (what every modeler's UI invites) is taken as that literal instead of failing at run time as an
# unknown Python name (spiff-arena users hit exactly this: ANCHORS.md §1.1).
ISO_LITERAL = re.compile(
    r"^(R\d*/)?(P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"
    r"|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))"
    r"(/(P[\dYMWDTHS.]+|\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})))?$"
)


def iso_literal(text: str) -> str | None:
    """The text itself when it is a bare ISO 8601 timer value, else None."""
    stripped = text.strip()
    return stripped if ISO_LITERAL.match(stripped) else None


# ---------------------------------------------------------------------------- timer values
# What a timer may say, checked on the literal at deploy (diagrams._lint) and on every evaluated value
# at run time (SafeScriptEngine.evaluate): SpiffWorkflow itself turns P99999999999D or a date past year
# 9999 into an OverflowError, and runs a cycle of R/PT0S or a back-dated unbounded cycle without end.
EARLIEST_INSTANT = datetime(2000, 1, 1, tzinfo=timezone.utc)
LATEST_INSTANT = datetime(2200, 1, 1, tzinfo=timezone.utc)
MAX_DURATION = timedelta(days=100 * 366)  # 100 years: far beyond any warranty or retention period
MIN_CYCLE_PERIOD = timedelta(hours=1)  # reminders are hourly at most; shorter ones flood the audit trail
MAX_CYCLE_REPETITIONS = 10_000  # a daily reminder for 27 years
MAX_MULTI_INSTANCE = 1_000  # instances of one multi-instance activity; more items are partitions (lvyue:partition)

_DURATION = re.compile(r"P(?:(\d+(?:[.,]\d+)?)Y)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)W)?(?:(\d+(?:[.,]\d+)?)D)?"
                       r"(?:T(?:(\d+(?:[.,]\d+)?)H)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)S)?)?")
_DAY = 86_400.0
# Seconds per designator, shortest and longest (a month is 28 to 31 days, a year 365 or 366).
_UNITS = ((365 * _DAY, 366 * _DAY), (28 * _DAY, 31 * _DAY), (7 * _DAY, 7 * _DAY), (_DAY, _DAY),
          (3600.0, 3600.0), (60.0, 60.0), (1.0, 1.0))
TIMER_KINDS = {TimeDateEventDefinition: "timeDate", DurationTimerEventDefinition: "timeDuration",
               CycleTimerEventDefinition: "timeCycle"}


def _duration_bounds(text: str) -> tuple[float, float] | None:
    """(shortest, longest) seconds an ISO 8601 duration can span, None if it is not one."""
    match = _DURATION.fullmatch(text)
    if match is None or not any(match.groups()) or text.endswith("T"):
        return None
    values = [float(v.replace(",", ".")) if v else 0.0 for v in match.groups()]
    return (sum(v * lo for v, (lo, _) in zip(values, _UNITS)), sum(v * hi for v, (_, hi) in zip(values, _UNITS)))


def _instant_problem(text: str) -> str | None:
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=timezone.utc)
        instant = instant.astimezone(timezone.utc)
    except ValueError:
        return f"'{text[:40]}' is not an ISO 8601 date-time"
    except OverflowError:
        instant = None
    if instant is None or not EARLIEST_INSTANT <= instant < LATEST_INSTANT:
        return (f"'{text[:40]}' lies outside {EARLIEST_INSTANT.year}-01-01 to {LATEST_INSTANT.year - 1}-12-31 (UTC), "
                "the window a contract's timer can plausibly fall in")
    return None


def _period_problem(text: str, what: str) -> str | None:
    bounds = _duration_bounds(text)
    if bounds is None:
        return f"'{text[:40]}' is not an ISO 8601 duration such as P30D or PT12H"
    if bounds[1] > MAX_DURATION.total_seconds():
        return f"{what} '{text[:40]}' is longer than {MAX_DURATION.days // 366} years"
    return None


def timer_value_problem(kind: str, value: Any) -> str | None:
    """Why a timer value (`kind` timeDate, timeDuration or timeCycle) cannot run, or None if it can.

    A date-time must lie in [EARLIEST_INSTANT, LATEST_INSTANT); a duration or a cycle's period may span at
    most MAX_DURATION; a cycle needs a repetition bound (R<n>/…, n ≤ MAX_CYCLE_REPETITIONS) and a period
    of at least MIN_CYCLE_PERIOD."""
    if not isinstance(value, str):
        return f"a {kind} must be ISO 8601 text, not {type(value).__name__}"
    text = value.strip().upper()
    if kind == "timeDate":
        if text.startswith("P"):
            return f"'{value[:40]}' is a duration; a timeDate is a date-time"
        return _instant_problem(value.strip())
    if kind == "timeDuration":
        return _period_problem(text, "the duration")
    match = re.fullmatch(r"R(\d*)/([^/]+)(?:/([^/]+))?", text)
    if match is None:
        return f"'{value[:40]}' is not an ISO 8601 repeating interval such as R3/P1D"
    count, first, second = match.groups()
    problems = []
    if not count:
        problems.append(f"the cycle '{value[:40]}' repeats without end: write R<n>/… with n at most "
                        f"{MAX_CYCLE_REPETITIONS}")
    elif len(count) > 9 or int(count) > MAX_CYCLE_REPETITIONS:
        problems.append(f"the cycle repeats {count[:20]} times, more than {MAX_CYCLE_REPETITIONS}")
    periods = [p for p in (first, second) if p and p.startswith("P")]
    instants = [p for p in (first, second) if p and not p.startswith("P")]
    if len(periods) != 1 or (second is not None and len(instants) != 1):
        return f"'{value[:40]}' is not an ISO 8601 repeating interval such as R3/P1D"
    problem = _period_problem(periods[0], "the period")
    if problem is None and _duration_bounds(periods[0])[0] < MIN_CYCLE_PERIOD.total_seconds():
        problem = f"the period '{periods[0]}' is shorter than the minimum of {MIN_CYCLE_PERIOD.total_seconds() / 3600:g} hour"
    problems.extend(p for p in [problem, *map(_instant_problem, instants)] if p)
    return "; ".join(problems) or None


class SafeEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluates every diagram expression with the whitelist evaluator; runs no scripts at all."""

    def evaluate(self, expression, context, external_context=None):
        literal = iso_literal(expression)
        if literal is not None:
            return literal
        variables = dict(external_context or {})
        variables.update(context)
        return expressions.evaluate(expression, variables)

    def execute(self, script, context, external_context=None):
        raise expressions.ExpressionError(script, "scripts are not allowed in Lvyue diagrams")

    def call_service(self, context, **kwargs):
        raise expressions.ExpressionError(str(kwargs.get("operation_name")), "service calls are not allowed here")


class SafeScriptEngine(PythonScriptEngine):
    def __init__(self):
        super().__init__(environment=SafeEnvironment())

    def evaluate(self, task, expression, external_context=None):
        # Shared process values (set_shared) are visible to every expression; a task's own data wins.
        shared = task.workflow.top_workflow.data
        if shared:
            external_context = {**shared, **(external_context or {})}
        value = super().evaluate(task, expression, external_context)
        error = _evaluated_value_error(task.task_spec, expression, value)
        if error is not None:
            # Raised like SpiffWorkflow's own evaluation errors, so that _engine_error names the element.
            raise WorkflowTaskException(f"'{task.task_spec.bpmn_id}': {error.reason}", task=task) from error
        return value

    def validate(self, expression):
        if iso_literal(expression) is None:
            expressions.compile_expression(expression)


SAFE_ENGINE = SafeScriptEngine()


class OverBudget(expressions.ExpressionError):
    """An evaluated value would make one step exceed its budget (e.g. a multi-instance cardinality)."""


def _evaluated_value_error(task_spec, expression: str, value: Any) -> expressions.ExpressionError | None:
    """What is wrong with a timer value or a multi-instance cardinality just evaluated for `task_spec`."""
    if isinstance(task_spec, MultiInstanceTask) and expression == task_spec.cardinality:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return expressions.ExpressionError(expression, "the loop cardinality must be a whole number, "
                                                           f"not a {type(value).__name__}")
        if value > MAX_MULTI_INSTANCE:
            return OverBudget(expression, f"a cardinality of {value} is more than the {MAX_MULTI_INSTANCE} instances "
                                          "one multi-instance activity may have")
        return None
    definition = getattr(task_spec, "event_definition", None)
    timers = definition.event_definitions if isinstance(definition, MultipleEventDefinition) else [definition]
    for timer in timers:
        if isinstance(timer, TimerEventDefinition) and timer.expression == expression:
            problem = timer_value_problem(TIMER_KINDS.get(type(timer), "timeDate"), value)
            return expressions.ExpressionError(expression, problem) if problem else None
    return None


class SafeBpmnWorkflow(BpmnWorkflow):
    """A BpmnWorkflow that is born with the safe engine, including when the serializer rebuilds it."""

    def __init__(self, spec, subprocess_specs=None, script_engine=None, **kwargs):
        super().__init__(spec, subprocess_specs, script_engine=script_engine or SAFE_ENGINE, **kwargs)


# ---------------------------------------------------------------------------- serializer
class _SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Leaves the process spec out of instance state; it is stored once per definition version."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct):
        spec, subprocess_specs = dct.pop("spec"), dct.pop("subprocess_specs")
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _make_serializer() -> BpmnWorkflowSerializer:
    config = dict(DEFAULT_CONFIG)
    config.pop(BpmnWorkflow)
    config[SafeBpmnWorkflow] = _SpeclessWorkflowConverter
    config[ServiceTask] = BpmnTaskSpecConverter
    registry = BpmnWorkflowSerializer.configure(config)
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]), typename="Decimal")
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]), typename="date")
    return BpmnWorkflowSerializer(registry)


SERIALIZER = _make_serializer()


# ---------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class SpecBundle:
    """A process spec and the specs of the subprocesses it calls: what one definition version runs."""

    spec: Any
    subprocess_specs: dict[str, Any]


class DiagramError(Exception):
    """SpiffWorkflow refused the diagram; `element_id` names the element when it is known."""

    def __init__(self, message: str, element_id: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.element_id = element_id
        self.line = line


_VALIDATOR: BpmnValidator | None = None


def _validator() -> BpmnValidator:
    # Compiling the BPMN XSD costs ~16 ms (SPIFFWORKFLOW-NOTES.md §2a): do it once per process.
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = BpmnValidator()
    return _VALIDATOR


def parse_spec(root, process_id: str, filename: str = "diagram.bpmn", partition_ids: list[str] = ()) -> SpecBundle:
    """Validate `root` (an lxml element from the hardened parser) against the BPMN XSD and build its spec.

    The specs of partition processes (run as workflows of their own) travel with the subprocess specs."""
    parser = BpmnParser(validator=_validator())
    try:
        parser.add_bpmn_xml(root, filename=filename)
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
        for pid in partition_ids:
            subprocess_specs[pid] = parser.get_spec(pid)
            subprocess_specs.update(parser.get_subprocess_specs(pid))
    except ValidationException as exc:
        line = exc.line_number if isinstance(exc.line_number, int) else None
        raise DiagramError(str(exc.args[0]) if exc.args else str(exc), exc.id or None, line) from None
    except SpiffWorkflowException as exc:
        raise DiagramError(str(exc)) from None
    return _settled(SpecBundle(spec, subprocess_specs))


def _settled(bundle: SpecBundle) -> SpecBundle:
    """Connect each message-triggered event subprocess the way SpiffWorkflow would on its first trigger.

    `BpmnStartTask.trigger_wf` connects the event subprocess to the process's end join the first time one
    is triggered, mutating the spec, which every workflow of the version shares: in a process where a claim
    was filed, new contracts would start the event subprocess at their start and never complete, and one
    triggered in another process would not reach the end join when it completes. Settled once here, when a
    spec is built or restored, the connection is the same in every process; the start task lists it as an
    input only, so that a new workflow does not run it."""
    for spec in (bundle.spec, *bundle.subprocess_specs.values()):
        start = getattr(spec, "start", None)
        for name in getattr(start, "trigger_specs", None) or []:
            task_spec = spec.task_specs.get(name)
            if task_spec is None:
                continue
            # Connections are kept as task spec names (SpiffWorkflow's TaskSpec._inputs / _outputs).
            if start.name not in task_spec._inputs:
                task_spec._inputs.append(start.name)
            if spec.end.name not in task_spec._outputs:
                task_spec.connect(spec.end)
    return bundle


def dump_spec(bundle: SpecBundle) -> str:
    return json.dumps(
        {
            "spec": SERIALIZER.registry.convert(bundle.spec),
            "subprocess_specs": {k: SERIALIZER.registry.convert(v) for k, v in bundle.subprocess_specs.items()},
        }
    )


def load_spec(text: str) -> SpecBundle:
    dct = json.loads(text)
    registry = SERIALIZER.registry
    return _settled(SpecBundle(
        registry.restore(dct["spec"]), {k: registry.restore(v) for k, v in dct["subprocess_specs"].items()}
    ))


# ---------------------------------------------------------------------------- workflow state
def new_workflow(bundle: SpecBundle, data: dict[str, Any], process_id: str | None = None) -> Workflow:
    spec = bundle.subprocess_specs[process_id] if process_id else bundle.spec
    wf = SafeBpmnWorkflow(spec, bundle.subprocess_specs)
    wf.task_tree.set_data(**data)
    return wf


def dump(wf: Workflow) -> str:
    return SERIALIZER.serialize_json(wf)


def load(bundle: SpecBundle, state: str, process_id: str | None = None) -> Workflow:
    dct = json.loads(state)
    if dct.get(SERIALIZER.VERSION_KEY) != SERIALIZER.VERSION:
        # Stored states are migrated by SpiffWorkflow's own chain, which needs the spec in place.
        dct["spec"] = json.loads(dump_spec(bundle))["spec"]
        SERIALIZER.migrate(dct)
    dct.pop(SERIALIZER.VERSION_KEY, None)
    spec = bundle.subprocess_specs[process_id] if process_id else bundle.spec
    dct["spec"], dct["subprocess_specs"] = spec, bundle.subprocess_specs
    wf = SERIALIZER.from_dict(dct)
    wf.script_engine = SAFE_ENGINE
    return wf


# ---------------------------------------------------------------------------- running
class EngineError(Exception):
    """The diagram failed while running: an expression, a missing variable, an unsupported construct."""

    def __init__(self, message: str, element_id: str | None = None, missing: str | None = None):
        super().__init__(message)
        self.message = message
        self.element_id = element_id
        self.missing = missing


def _engine_error(exc: Exception) -> EngineError:
    task = getattr(exc, "task", None)
    spec = task.task_spec if task is not None else getattr(exc, "task_spec", None)
    element_id = getattr(spec, "bpmn_id", None)
    cause = exc
    while cause is not None and not isinstance(cause, expressions.ExpressionError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, OverBudget):
        return RunawayError(f"'{element_id}': {cause.reason}", element_id)
    if isinstance(cause, expressions.UnknownName):
        return EngineError(f"'{element_id}' needs the value '{cause.name}', which the process data does not hold",
                           element_id, cause.name)
    if isinstance(cause, expressions.ExpressionError):
        return EngineError(f"'{element_id}': {cause}", element_id)
    return EngineError(f"'{element_id}': {exc}" if element_id else str(exc), element_id)


# One step (steps.py) is one transaction; on SQLite it holds the only write lock while the engine runs.
# A diagram that never comes to rest (a self-calling process, a tiny timer cycle, a loop of automatic
# tasks) is stopped here, whatever the caller. The defaults; a process sets its own from its Settings
# (LVYUE_STEP_MAX_TASKS, LVYUE_STEP_MAX_SECONDS) with set_step_budget.
MAX_STEP_TASKS = 1000
MAX_STEP_SECONDS = 2.0


@dataclass(frozen=True)
class StepBudget:
    """What one step may do: run (and add to the process) at most `max_tasks` engine tasks, in at most
    `max_seconds` of engine time."""

    max_tasks: int = MAX_STEP_TASKS
    max_seconds: float = MAX_STEP_SECONDS


_step_budget = StepBudget()


def set_step_budget(budget: StepBudget) -> None:
    """The budget of every step this process runs from now on (create_app and the lvyue commands apply
    their Settings' budget once, at start-up)."""
    global _step_budget
    _step_budget = budget


class RunawayError(EngineError):
    """One step exceeded its budget (StepBudget): more engine tasks run or added, or more engine time,
    than it allows. Nothing of the step may be stored."""


@dataclass
class _Budget:
    size_at_open: int  # tasks in the workflow tree (subprocesses included) before the step ran anything
    tasks_run: int = 0
    seconds: float = 0.0  # engine time of the step's earlier runs


def _tree_size(wf: Workflow) -> int:
    return len(wf.tasks) + sum(len(sub.tasks) for sub in wf.subprocesses.values())


class _BoundedRun:
    """One engine run within the step's budget, which the workflow object carries from run to run
    (a workflow is loaded for one step and dropped after it)."""

    def __init__(self, wf: Workflow):
        self.wf = wf
        self.budget = getattr(wf, "_lvyue_budget", None)
        if self.budget is None:
            self.budget = wf._lvyue_budget = _Budget(_tree_size(wf))
        self.limits = _step_budget
        self.started = time.monotonic()

    def __enter__(self) -> "_BoundedRun":
        return self

    def __exit__(self, *exc) -> None:
        self.budget.seconds += time.monotonic() - self.started

    def will_run(self, task) -> None:
        """SpiffWorkflow's will_complete_task hook: called before each engine task runs."""
        self.budget.tasks_run += 1
        self.check(task)

    def check(self, task=None) -> None:
        budget, limits = self.budget, self.limits
        seconds = budget.seconds + time.monotonic() - self.started
        added = _tree_size(self.wf) - budget.size_at_open
        if budget.tasks_run > limits.max_tasks:
            reason = f"it ran more than {limits.max_tasks} engine tasks"
        elif added > limits.max_tasks:
            reason = f"it added {added} tasks to the process, more than {limits.max_tasks}"
        elif seconds > limits.max_seconds:
            reason = f"it ran for more than {limits.max_seconds:g} s"
        else:
            return
        element_id = task.task_spec.bpmn_id if task is not None else None
        where = f" (at '{element_id}')" if element_id else ""
        raise RunawayError(f"the process does not come to rest: {reason} in one step{where}; a step may run at most "
                           f"{limits.max_tasks} engine tasks in {limits.max_seconds:g} s", element_id)


def run_until_waiting(wf: Workflow) -> None:
    """Run engine tasks (gateways, events, due timers) until only people or future events can move it.

    Raises EngineError when the diagram fails, RunawayError when the step exceeds its budget."""
    with _BoundedRun(wf) as run:
        try:
            for _ in range(run.limits.max_tasks):
                wf.refresh_timers()
                wf.do_engine_steps(will_complete_task=run.will_run)
                run.check()
                stuck = [t for t in wf.get_tasks(state=TaskState.STARTED) if isinstance(t.task_spec, ServiceTask)]
                if stuck:
                    # SpiffWorkflow leaves a plain service task STARTED forever: refuse instead of hanging.
                    raise EngineError(f"'{stuck[0].task_spec.bpmn_id}': service tasks are not supported",
                                      stuck[0].task_spec.bpmn_id)
                if not wf.get_tasks(state=TaskState.READY, manual=False):
                    return
            raise RunawayError("the process does not come to rest (an endless loop of automatic steps?)")
        except RecursionError:
            raise RunawayError("the process does not come to rest: its processes call each other too deeply") from None
        except (WorkflowException, SpiffWorkflowException, expressions.ExpressionError) as exc:
            raise _engine_error(exc) from None


@dataclass(frozen=True)
class UserTaskInfo:
    id: str
    element_id: str
    name: str | None
    lane: str | None


def ready_user_tasks(wf: Workflow) -> list[UserTaskInfo]:
    return [
        UserTaskInfo(str(t.id), t.task_spec.bpmn_id, t.task_spec.bpmn_name, t.task_spec.lane)
        for t in wf.get_tasks(state=TaskState.READY, manual=True)
    ]


def get_task(wf: Workflow, task_id: str):
    try:
        return wf.get_task_from_id(UUID(task_id))
    except (ValueError, TaskNotFoundException):
        return None


def task_state(task) -> str:
    return TaskState.get_name(task.state).lower()


def task_is_ready_user_task(task) -> bool:
    return task.state == TaskState.READY and task.task_spec.manual


def complete_task(wf: Workflow, task_id: str, data: dict[str, Any]) -> None:
    """Complete a READY user task with `data` and run the process on. The caller checked READY."""
    task = get_task(wf, task_id)
    if task is None or not task_is_ready_user_task(task):
        raise EngineError("the task is not ready")
    task.set_data(**data)
    with _BoundedRun(wf) as run:
        try:
            run.will_run(task)
            task.run()
        except RecursionError:
            raise RunawayError("the process does not come to rest: its processes call each other too deeply") from None
        except (WorkflowException, SpiffWorkflowException, expressions.ExpressionError) as exc:
            raise _engine_error(exc) from None
    run_until_waiting(wf)


def deliver_message(wf: Workflow, name: str, payload: dict[str, Any]) -> bool:
    """Deliver a message; False when no element is waiting for it (the caller buffers it)."""
    waiting = any(e.name == name and e.event_type == "MessageEventDefinition" for e in wf.waiting_events())
    if not waiting:
        return False
    try:
        wf.send_event(BpmnEvent(MessageEventDefinition(name), payload=payload))
    except (WorkflowException, SpiffWorkflowException, expressions.ExpressionError) as exc:
        raise _engine_error(exc) from None
    run_until_waiting(wf)
    return True


def start_event_subprocess(wf: Workflow, name: str, payload: dict[str, Any]) -> bool:
    """Start one more instance of the event subprocess whose message start event catches `name`
    (non-interrupting: e.g. one guarantee claim each) with `payload` as its data, and run on.
    False when the process has no such event subprocess. `waiting_events()` does not list these
    start events, so `deliver_message` and the buffered messages never trigger them."""
    triggers = getattr(wf.spec.start, "trigger_specs", None) or []
    specs = [wf.subprocess_specs.get(spec_name) for spec_name in triggers]
    if not any(isinstance(ts.event_definition, MessageEventDefinition) and ts.event_definition.name == name
               for sp in specs if sp is not None for ts in sp.bpmn_start_events):
        return False
    try:
        wf.send_event(BpmnEvent(MessageEventDefinition(name), payload=payload))
    except (WorkflowException, SpiffWorkflowException, expressions.ExpressionError) as exc:
        raise _engine_error(exc) from None
    run_until_waiting(wf)
    return True


def cancel(wf: Workflow) -> None:
    wf.cancel()


def is_completed(wf: Workflow) -> bool:
    return wf.is_completed()


@dataclass(frozen=True)
class WaitingTimer:
    task_id: str
    element_id: str
    kind: str
    due_at: datetime
    attached_to: str | None  # the task id of the activity a boundary timer sits on


def _parse_instant(value: str) -> datetime:
    instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=timezone.utc)
    return instant.astimezone(timezone.utc)


def waiting_timers(wf: Workflow) -> list[WaitingTimer]:
    """Every timer the workflow waits on (subprocesses included) with its due instant in UTC."""
    out = []
    for task in wf.event_manager.tasks.values():
        definition = task.task_spec.event_definition
        if isinstance(definition, MultipleEventDefinition):
            timers = [d for d in definition.event_definitions if isinstance(d, TimerEventDefinition)]
            if not timers:
                continue
            definition = timers[0]
        elif not isinstance(definition, TimerEventDefinition):
            continue
        value = task.internal_data.get("event_value")
        if isinstance(value, dict):
            value = value.get("next")
        if not value:
            continue
        kind = ("cycle" if isinstance(definition, CycleTimerEventDefinition)
                else "date" if isinstance(definition, TimeDateEventDefinition) else "duration")
        attached = None
        if isinstance(task.parent.task_spec, BoundaryEventSplit):
            activity = next((c for c in task.parent.children if not isinstance(c.task_spec, BoundaryEvent)), None)
            attached = str(activity.id) if activity is not None else None
        out.append(WaitingTimer(str(task.id), task.task_spec.bpmn_id, kind, _parse_instant(value), attached))
    return out


@dataclass(frozen=True)
class TimerFiring:
    element_id: str
    count: int  # times fired so far: 0 or 1, or the rounds a cycle ran
    due_at: datetime | None  # the instant it was due, for a timer that fires once


def timer_firings(wf: Workflow) -> dict[str, TimerFiring]:
    """Every timer of the workflow that has fired, by task id (subprocesses included): a timer that fires
    once has COMPLETED; a cycle stays WAITING and adds one set of children per round (SpiffWorkflow's
    CycleTimerEventDefinition.update_task)."""
    out = {}
    for task in wf.get_tasks():
        definition = getattr(task.task_spec, "event_definition", None)
        if not isinstance(definition, TimerEventDefinition):
            continue
        due = None
        if isinstance(definition, CycleTimerEventDefinition):
            count = len(task.children) // max(1, len(task.task_spec.outputs))
        else:
            count = 1 if task.state == TaskState.COMPLETED else 0
            value = task.internal_data.get("event_value")
            if isinstance(value, str):
                try:
                    due = _parse_instant(value)
                except (ValueError, OverflowError):
                    due = None
        if count:
            out[str(task.id)] = TimerFiring(task.task_spec.bpmn_id, count, due)
    return out


def element_states(wf: Workflow) -> tuple[list[str], list[str]]:
    """(active, completed) BPMN element ids, for the diagram view."""
    active, completed = set(), set()
    for task in wf.get_tasks():
        bpmn_id = task.task_spec.bpmn_id
        if not bpmn_id:
            continue
        if task.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED):
            active.add(bpmn_id)
        elif task.state == TaskState.COMPLETED:
            completed.add(bpmn_id)
    return sorted(active), sorted(completed - active)


def current_data(wf: Workflow) -> dict[str, Any]:
    """The process data: what every completed task recorded, in completion order (parallel branches
    each keep their own copy in SpiffWorkflow; the contract's data is all of them together)."""
    data = dict(wf.task_tree.data)
    completed = sorted(wf.get_tasks(state=TaskState.COMPLETED), key=lambda t: t.last_state_change)
    for task in completed:
        data.update(task.data)
    data.update(wf.data)
    return data


def completed_tasks_of(wf: Workflow, element_ids: frozenset[str]) -> dict[str, Any]:
    """COMPLETED tasks of the given elements, by task id (subprocesses included)."""
    if not element_ids:
        return {}
    return {str(t.id): t for t in wf.get_tasks(state=TaskState.COMPLETED) if t.task_spec.bpmn_id in element_ids}


def awaited_activity(task) -> tuple[str, str] | None:
    """(element id, task id) of the activity whose boundary event led to `task`, if any.

    An escalation thrown after a boundary timer concerns the activity the timer sits on: that
    activity's completion is the obligation being met.
    """
    current = task
    while current is not None:
        if isinstance(current.task_spec, BoundaryEvent) and isinstance(current.parent.task_spec, BoundaryEventSplit):
            activity = next((c for c in current.parent.children if not isinstance(c.task_spec, BoundaryEvent)), None)
            if activity is not None:
                return activity.task_spec.bpmn_id, str(activity.id)
        current = current.parent
    return None


def task_data(task) -> dict[str, Any]:
    return dict(task.data)


def visible_data(task) -> dict[str, Any]:
    """What a task's expressions see: the shared process values (`set_shared`) under the task's own data."""
    shared = task.workflow.top_workflow.data
    return {**shared, **task.data} if shared else dict(task.data)


def set_shared(wf: Workflow, name: str, value: Any) -> None:
    """A process-wide value every branch's expressions see from now on (SpiffWorkflow's workflow data, kept
    with the serialized workflow): a figure kept by a listener across parallel branches, e.g. the total paid on
    a contract, which no single branch's task data holds. A task's own data of the same name wins."""
    wf.data[name] = value


def shared_value(wf: Workflow, name: str, default: Any = None) -> Any:
    return wf.data.get(name, default)


def amend_from(wf: Workflow, task_id: str, replace: dict[str, tuple[Any, Any]], shift: dict[str, Any]) -> bool:
    """Correct what a COMPLETED task entered, in its own data and in every task after it (its descendants in the
    task tree, which copied the data on): each `replace` name (old, new) takes the new value where it still holds
    the old one, each `shift` name (a running total) is moved by the given difference. False when there is no
    such completed task."""
    task = get_task(wf, task_id)
    if task is None or task.state != TaskState.COMPLETED:
        return False
    pending = [task]
    while pending:
        current = pending.pop()
        for name, (old, new) in replace.items():
            if name in current.data and current.data[name] == old:
                current.data[name] = new
        for name, delta in shift.items():
            if current.data.get(name) is not None:
                current.data[name] = Decimal(str(current.data[name])) + Decimal(str(delta))  # as forms accumulates
        pending.extend(current.children)
    return True


def element_of(task) -> str:
    """The diagram element id of a task."""
    return task.task_spec.bpmn_id


def reset_timer(wf: Workflow, task_id: str) -> None:
    """Forget a waiting timer's computed due instant so the next refresh evaluates it again. A timer moved by
    `shift_timers` keeps its instant: it was counted on the calendar of its day, then moved by a decision."""
    task = get_task(wf, task_id)
    if task is not None and task.state == TaskState.WAITING and not task.internal_data.get(SHIFT):
        task.internal_data.pop("event_value", None)


# The seconds a timer was moved by (`shift_timers`), kept with its task.
SHIFT = "lvyue_shift_seconds"


def replace_live(wf: Workflow, name: str, value: Any) -> int:
    """Give `name` the value `value` from now on: in the workflow's shared data and in the data of every task not
    finished yet that holds it (what is completed keeps the value it had when it ran). The number of tasks changed."""
    changed = 0
    for task in wf.get_tasks():
        if task.state not in (TaskState.COMPLETED, TaskState.CANCELLED) and name in task.data:
            task.data[name] = value
            changed += 1
    wf.data[name] = value
    return changed


def shift_timers(wf: Workflow, delta, activities: frozenset[str] | None = None) -> list[tuple[str, str, datetime, datetime]]:
    """Move every waiting one-off timer (date or duration; a cycle keeps its rhythm) by `delta` — with `activities`,
    only the boundary timers of those elements; (task id, element id, from, to) of each. The shift stays with the
    timer's task (`timer_shift` of what it leads to)."""
    out = []
    for timer in waiting_timers(wf):
        if timer.kind == "cycle":
            continue
        if activities is not None:
            holder = get_task(wf, timer.attached_to) if timer.attached_to else None
            if holder is None or element_of(holder) not in activities:
                continue
        task = get_task(wf, timer.task_id)
        moved = timer.due_at + delta
        task.internal_data["event_value"] = moved.isoformat()
        task.internal_data[SHIFT] = task.internal_data.get(SHIFT, 0) + delta.total_seconds()
        out.append((timer.task_id, timer.element_id, timer.due_at, moved))
    return out


def timer_shift(task) -> float:
    """The seconds the boundary timer that led to `task` was moved by (0 when none did)."""
    current = task
    while current is not None:
        if isinstance(current.task_spec, BoundaryEvent):
            return float(current.internal_data.get(SHIFT, 0))
        current = current.parent
    return 0.0



def drain_events(wf: Workflow) -> int:
    """Drop thrown events nobody inside the process caught (escalations were turned into alerts);
    SpiffWorkflow would otherwise keep them in the state forever."""
    n = len(wf.bpmn_events)
    wf.bpmn_events = []
    return n


def waiting_receive_tasks(wf: Workflow, element_ids: frozenset[str]) -> list[str]:
    """Element ids of the given receive tasks that are waiting now."""
    if not element_ids:
        return []
    return [t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.WAITING) if t.task_spec.bpmn_id in element_ids]


def waiting_message_names(wf: Workflow) -> set[str]:
    return {e.name for e in wf.waiting_events() if e.event_type == "MessageEventDefinition"}
