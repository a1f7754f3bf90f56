"""Supervision warnings: arrears (欠款) and non-performance (未履约) alerts.

Raised by the diagram's warning construct (engine/diagrams.py `_read_alerts`) when a step throws it,
routed to the contract's supervising department, escalated to the department's `escalates_to`
when red, resolved when the awaited obligation is met. One alert per (instance, awaited element,
occurrence): later throws for the same obligation only raise its severity. Yellow is a
pre-warning for the responsible organisation; departments see alerts from orange on.
"""
from __future__ import annotations

import math
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, event, or_, select, true, false
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine.runtime import audit, expressions, forms, hooks, spiff, steps, values, webhooks
from engine import clock
from engine.supervision import credit, deadlines, interest, timing, works_payments
from engine.access import authz
from engine.access.authz import require_role
from engine.storage.db import Database
from engine.access.directory import Principal
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.storage.models import Alert, AlertDecision, Department, Instance, PaymentApplication
from engine.storage.pagination import page

SEVERITY_RANK = {"yellow": 1, "orange": 2, "red": 3}
KINDS = ("arrears", "non_performance")
STATUSES = ("open", "acknowledged", "resolved")


# ---------------------------------------------------------------- one read of a contract's alerts per transaction
# A step settles the alerts awaiting its task, may raise or escalate one, may give a new task its deadline from an
# open one, and its reply shows the contract's alerts: all of them read once (`of_instance`), kept up to date in
# session.info (new alerts are added; changes are made on the same objects), forgotten with a rolled-back SAVEPOINT.
_KNOWN = "lvyue.alerts.of_instance"
_OF_INSTANCE = select(Alert).where(Alert.instance_id == bindparam("instance_id"))
_OF_INSTANCES = select(Alert).where(Alert.instance_id.in_(bindparam("ids", expanding=True)))
_DEPARTMENTS = "lvyue.alerts.departments"  # strong references to the departments `preload` read
_DEPARTMENTS_OF = select(Department).where(Department.code.in_(bindparam("codes", expanding=True)))


def of_instance(session: Session, instance_id: str) -> list[Alert]:
    """Every alert of the instance, as this transaction left them; read once per transaction."""
    known = session.info.setdefault(_KNOWN, {})
    alerts = known.get(instance_id)
    if alerts is None:
        alerts = known[instance_id] = ([] if steps.is_new(session, instance_id)
                                       else list(session.scalars(_OF_INSTANCE, {"instance_id": instance_id})))
    return alerts


def preload(session: Session, instances: list[Instance]) -> None:
    """Before a batch of steps (hooks `preload`: a timer sweep's group): the alerts of those instances in one
    statement (of_instance then reads none), and their departments, held for the transaction (raising and
    notifying look them up by key, which then finds them in the session)."""
    known = session.info.setdefault(_KNOWN, {})
    ids = [i.id for i in instances if i.id not in known]
    for iid in ids:
        known[iid] = []
    if ids:
        for alert in session.scalars(_OF_INSTANCES, {"ids": ids}):
            known[alert.instance_id].append(alert)
    codes = sorted({i.department_code for i in instances if i.department_code})
    if codes:
        session.info.setdefault(_DEPARTMENTS, []).extend(session.scalars(_DEPARTMENTS_OF, {"codes": codes}))


@event.listens_for(Session, "after_soft_rollback")
def _forget_alerts(session: Session, previous_transaction) -> None:
    session.info.pop(_KNOWN, None)
    session.info.pop(_DEPARTMENTS, None)


# ---------------------------------------------------------------- views and visibility
def last_day(due_at: datetime) -> date:
    """The last day of the period that ends at `due_at` (24:00 China time of that day)."""
    return (due_at - timedelta(microseconds=1)).astimezone(deadlines.SHANGHAI).date()


def days_overdue(alert: Alert, at: datetime | None = None) -> int:
    end = alert.resolved_at if alert.resolved_at is not None else (at or clock.now())
    if end <= alert.due_at:
        return 0
    return math.ceil((end - alert.due_at) / timedelta(days=1))


def interest_accrued(alert: Alert, at: datetime | None = None) -> Decimal | None:
    """Late-payment interest (P05, engine/supervision/interest.py) on an arrears alert's amount overdue, computed on
    read: to the day it was resolved, else to today (China time); None when it states no amount."""
    if alert.amount_overdue is None or alert.interest_rate is None:
        return None
    end = alert.resolved_at if alert.resolved_at is not None else (at or clock.now())
    on = end.astimezone(deadlines.SHANGHAI).date()
    return interest.accrued(alert.amount_overdue, last_day(alert.due_at), on, Decimal(alert.interest_rate))


def view(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id, "kind": alert.kind, "code": alert.code, "severity": alert.severity,
        "department": alert.department_code, "escalated_to": alert.escalated_to, "instance_id": alert.instance_id,
        "business_key": alert.business_key, "element_id": alert.element_id, "responsible_org": alert.responsible_org,
        "due_at": alert.due_at, "raised_at": alert.raised_at, "updated_at": alert.updated_at,
        "days_overdue": days_overdue(alert),
        "amount_overdue": forms.to_json(alert.amount_overdue) if alert.kind == "arrears" else None,
        "interest_accrued": forms.to_json(interest_accrued(alert)) if alert.kind == "arrears" else None,
        "legal_basis": alert.legal_basis, "status": alert.status, "acknowledged_at": alert.acknowledged_at,
        "note": alert.note, "resolved_at": alert.resolved_at, "resolution": alert.resolution,
    }


def payload(alert: Alert) -> dict[str, Any]:
    """The alert as JSON (webhook body, SSE data)."""
    return forms.to_json(view(alert))


def visible_filter(principal: Principal):
    if principal.role in ("admin", "operator", "system"):
        return true()
    if principal.role == "supervisor" and principal.departments:
        depts = sorted(principal.departments)
        return or_(and_(Alert.department_code.in_(depts), Alert.severity != "yellow"), Alert.escalated_to.in_(depts))
    if principal.role == "party" and principal.org_code:
        # A consortium's members see the alerts of the role they hold with its lead (joint and several liability).
        return or_(Alert.responsible_org == principal.org_code,
                   and_(Alert.responsible_org.is_not(None),
                        authz.holds_lane(principal.org_code)(Alert.instance_id, Alert.responsible_role)))
    return false()


def _visible(principal: Principal, alert: Alert) -> bool:
    if principal.role in ("admin", "operator", "system"):
        return True
    if principal.role == "supervisor":
        return (alert.department_code in principal.departments and alert.severity != "yellow") or \
            (alert.escalated_to is not None and alert.escalated_to in principal.departments)
    if principal.role == "party":
        if principal.org_code is None or alert.responsible_org is None:
            return False
        return alert.responsible_org == principal.org_code or authz.in_consortium(
            alert, alert.instance_id, alert.responsible_role, principal.org_code)
    return False


# ---------------------------------------------------------------- raising and resolving (inside a step)
def _notify(session: Session, alert: Alert, event: str) -> None:
    """Outbox rows to the department (from orange on) and, when red, to its escalation target."""
    if alert.severity == "yellow":
        return
    body = payload(alert)
    targets = [alert.department_code] if alert.department_code else []
    if alert.escalated_to:
        targets.append(alert.escalated_to)
    for code in dict.fromkeys(targets):
        webhooks.enqueue(session, code, event, body, alert.id)


def _overdue(amount: Any) -> Decimal | None:
    """The amount an alert's `amount` expression gave (a number or a decimal string from the task data), to the
    fen: `contract_amount * rate / 100` may compute digits below it, which the money column does not store —
    rounded here on purpose, as the ledger rounds (values.format_money)."""
    return None if amount is None else values.amount_of(amount).quantize(values.FEN)


def _evaluate(expression: str | None, data: dict[str, Any]):
    if not expression:
        return None
    return expressions.evaluate(expression, data)


class AlertSpecError(Invalid):
    """A warning's own expression failed (a diagram defect or data it needs is missing)."""


def _guarded(fn):
    """Run an alert's expressions; a failure becomes a 422 naming the element, never a crash."""
    def wrapper(session, instance, spec, thrown, *args, **kwargs):
        try:
            return fn(session, instance, spec, thrown, *args, **kwargs)
        except (expressions.ExpressionError, ValueError, TypeError, ArithmeticError) as exc:
            element = getattr(thrown, "element_id", None) or spec.get("code")
            raise AlertSpecError(f"warning '{element}' ({spec.get('code')}) cannot be evaluated: {exc}",
                                 {"bpmn": [f"element '{element}': {exc}"]}) from None
    return wrapper


def due_instant(expression: str, data: dict[str, Any]) -> datetime:
    """The UTC instant of a deadline expression (a bare date means 24:00 China time of that day)."""
    value = timing._start(_evaluate(expression, data))
    return clock.to_utc(value if isinstance(value, datetime) else deadlines.end_of_day(value))


SETTLED_PRICE = "settled_price"


def settled_price(session: Session, instance, now: datetime) -> Decimal | None:
    """A works contract's settled price (its settlement confirmed, or deemed accepted once the review period passed
    in silence: works_payments.obligations), None before there is one: a warning's amount may name it as
    `settled_price` (the retention is a rate of the settlement price, 138号 art 7), which the main process's
    branches cannot see in their own data (the settlement runs in the works partition)."""
    rows = session.scalars(select(PaymentApplication).where(PaymentApplication.instance_id == instance.id,
                                                            PaymentApplication.kind == "settlement"))
    applications = [{"kind": r.kind, "reference": r.reference, "period": r.period, "applied_at": r.applied_at,
                     "amount": r.amount, "confirmed_amount": r.confirmed_amount, "confirmed_at": r.confirmed_at}
                    for r in rows]
    if not applications:
        return None
    on = now.astimezone(deadlines.SHANGHAI).date()
    entries = works_payments.obligations({**(instance.data or {}), "payment_terms": {}}, applications, [], on,
                                         timing.calendar(), timing.registry())
    return next((e["confirmed_amount"] for e in entries if e["kind"] == "settlement"), None)


def _funding_source(instance) -> str | None:
    """The contract's declared funding source as instances.funding_source holds it (the text of data's value)."""
    value = (instance.data or {}).get("funding_source")
    return None if value is None else str(value)


@_guarded
def raise_from_throw(session: Session, instance, spec: dict[str, Any], thrown: hooks.Thrown, now: datetime) -> Alert:
    """Raise (or escalate) the alert a thrown warning stands for. Idempotent per obligation."""
    data = thrown.data
    element_id, awaited_task_id = thrown.awaited if thrown.awaited else (thrown.element_id, None)
    if spec.get("awaits"):
        # An at-once warning (no timer) names the activity whose next completion may settle it.
        element_id, awaited_task_id = spec["awaits"], None
    # One alert per obligation: by default the awaited task instance; `occurrence` widens it (e.g.
    # a milestone, so each round of a payment loop keeps the same alert).
    if spec.get("amount") and SETTLED_PRICE in expressions.compile_expression(spec["amount"]).names:
        data = {**data, SETTLED_PRICE: settled_price(session, instance, now)}
    occurrence = str(forms.to_json(_evaluate(spec["occurrence"], data))) if spec.get("occurrence") else (awaited_task_id or "process")
    # A timer a suspension moved (suspensions.py) raises its warning for the moved deadline.
    shift = timedelta(seconds=thrown.shift) if getattr(thrown, "shift", 0) else timedelta(0)
    due_at = due_instant(spec["due"], data) + shift
    amount = _evaluate(spec.get("amount"), data)
    legal_basis = spec.get("legal_basis")
    basis = _evaluate(spec.get("basis"), data)
    if basis is not None:
        # The rule chosen for this contract (e.g. its payment_basis): cite its id and its legal basis.
        legal_basis = f"{basis['rule']} {basis['legal_basis']}"
    elif not legal_basis and spec.get("rule"):
        legal_basis = timing.registry().get(spec["rule"], last_day(due_at)).legal_basis
    alert = next((a for a in of_instance(session, instance.id) if a.element_id == element_id
                  and a.occurrence == occurrence), None)
    severity = spec["severity"]
    if alert is None:
        if sa_inspect(instance).pending:
            session.flush()  # the new instance's row first: the alert refers to it (no ORM relationship orders them)
        alert = Alert(id=str(uuid.uuid4()), instance_id=instance.id, business_key=instance.business_key,
                      element_id=element_id, occurrence=occurrence, kind=spec["kind"], code=spec["code"],
                      severity=severity, first_severity=severity, red_at=now if severity == "red" else None,
                      department_code=instance.department_code, funding_source=_funding_source(instance),
                      responsible_role=spec["responsible"],
                      responsible_org=instance.roles.get(spec["responsible"]), due_at=due_at, raised_at=now,
                      updated_at=now, legal_basis=legal_basis, status="open", awaited_task_id=awaited_task_id,
                      due_rule={"expression": spec["due"], "data": forms.to_json({n: data.get(n) for n in
                                expressions.compile_expression(spec["due"]).names}),
                                "shift_seconds": shift.total_seconds()})
        event = "alert.raised"
        session.add(alert)
        of_instance(session, instance.id).append(alert)
    elif alert.status == "resolved":
        return alert
    elif SEVERITY_RANK[severity] <= SEVERITY_RANK[alert.severity]:
        alert.awaited_task_id = awaited_task_id or alert.awaited_task_id  # the obligation's next round
        return alert
    else:
        alert.awaited_task_id = awaited_task_id or alert.awaited_task_id
        if alert.severity == "yellow" and spec["responsible"] != alert.responsible_role:
            # A pre-warning is no breach: the obligation passed to another party before its deadline (the employer
            # signed in time, the contractor has not confirmed), and the party the deadline finds is responsible.
            alert.responsible_role = spec["responsible"]
            alert.responsible_org = instance.roles.get(spec["responsible"])
        # How it rose, typed for the monthly report (as its alert_* events tell: the first rise to each severity).
        if severity == "orange" and alert.severity == "yellow" and alert.orange_at is None:
            alert.orange_at = now
        elif severity == "red":
            alert.red_at = now
        alert.severity, alert.updated_at = severity, now
        event = "alert.escalated"
    if amount is not None:
        alert.amount_overdue = _overdue(amount)
    if alert.kind == "arrears":
        # Fixed from the contract's basis (its agreed rate, P05 under an SME rule, or none), by the day it fell due.
        alert.interest_rate = interest.rate_for(timing.registry(), (instance.data or {}).get("payment_basis"),
                                                last_day(due_at))
    else:
        alert.interest_rate = None
    if severity == "red" and alert.department_code:
        dept = session.get(Department, alert.department_code)
        alert.escalated_to = dept.escalates_to if dept is not None else None
    if not audit.deferring(session):  # else with the batch of steps (a timer sweep's group)
        session.flush()
    _notify(session, alert, event)
    return alert


def settle_for_task(session: Session, instance_id: str, task_id: str, completion: dict[str, Any],
                    spec_by_code: dict[str, dict[str, Any]], now: datetime,
                    element_id: str | None = None, written: frozenset[str] = frozenset()) -> list[tuple[Alert, bool]]:
    """The awaited task of open alerts completed: resolve each whose obligation is now met
    (`resolve_when`, default: completing is meeting), else re-evaluate its amount and keep it open.
    Returns (alert, resolved) pairs."""
    out = []
    awaiting = [a for a in of_instance(session, instance_id) if a.status != "resolved" and (
        a.awaited_task_id == task_id or (element_id and a.awaited_task_id is None and a.element_id == element_id))]
    for alert in awaiting:
        spec = spec_by_code.get(alert.code, {})
        if alert.awaited_task_id is None and spec.get("occurrence") and \
                not expressions.compile_expression(spec["occurrence"]).names & written:
            # An at-once warning awaits an element, not a task: only the round of its own obligation settles it
            # (another application's payment completes the same element). Where the completion itself writes what
            # the occurrence is made of (a renewal's new valid_to), it cannot be told apart: it settles.
            try:
                own = str(forms.to_json(_evaluate(spec["occurrence"], completion))) == alert.occurrence
            except (expressions.ExpressionError, ValueError, TypeError, ArithmeticError):
                own = False
            if not own:
                continue
        try:
            unmet = bool(spec.get("resolve_when")) and not _evaluate(spec["resolve_when"], completion)
            amount = _evaluate(spec.get("amount"), completion) if unmet and spec.get("amount") else None
        except (expressions.ExpressionError, ValueError, TypeError, ArithmeticError) as exc:
            raise AlertSpecError(f"warning {alert.code} cannot be settled: {exc}",
                                 {"bpmn": [f"alert {alert.code}: {exc}"]}) from None
        if unmet:
            if amount is not None:
                alert.amount_overdue = _overdue(amount)
            alert.updated_at = now
            _notify(session, alert, "alert.updated")
            out.append((alert, False))
            continue
        met = _met_date(completion, spec.get("met_date"), now)
        late = (met - last_day(alert.due_at)).days
        plural = "s" if late != 1 else ""
        if alert.kind == "arrears":
            alert.resolution = f"paid {late} day{plural} late (on {met.isoformat()})" if late > 0 else \
                f"paid on {met.isoformat()}, on time"
            alert.amount_overdue = Decimal("0.00") if alert.amount_overdue is not None else None
        else:
            alert.resolution = f"obligation met on {met.isoformat()}, {late} day{plural} late" if late > 0 else \
                f"obligation met on {met.isoformat()}, on time"
        alert.status, alert.resolved_at, alert.updated_at = "resolved", now, now
        _notify(session, alert, "alert.resolved")
        out.append((alert, True))
    return out


# ---------------------------------------------------------------- step listeners (engine/bootstrap.py)
def on_thrown(step, thrown: list[hooks.Thrown], now: datetime) -> list[tuple[str, str | None, dict[str, Any]]]:
    """Raise the alerts of the warnings a step threw, highest severity first: a backdated contract past
    every threshold gets one red alert, not three."""
    events = []
    for t in sorted(thrown, key=lambda t: -SEVERITY_RANK[t.spec["severity"]]):
        alert = raise_from_throw(step.session, step.instance, t.spec, t, now)
        events.append((f"alert_{t.spec['severity']}", alert.element_id,
                       {"alert_id": alert.id, "code": alert.code, "due_at": alert.due_at.isoformat()}))
    return events


def _specs_by_code(definition) -> dict[str, dict[str, Any]]:
    return {spec["code"]: spec for spec in definition.model.get("alerts", {}).values()}


def on_task_settled(step, row, task_data: dict[str, Any], now: datetime) -> list[tuple[str, str | None, dict[str, Any]]]:
    """A task left READY completed: settle the alerts awaiting it."""
    return [("alert_resolved" if resolved else "alert_updated", alert.element_id,
             {"alert_id": alert.id, "code": alert.code, "resolution": alert.resolution,
              "amount_overdue": alert.amount_overdue})
            for alert, resolved in settle_for_task(step.session, step.instance.id, row.id, task_data,
                                                   _specs_by_code(step.definition), now, row.element_id,
                                                   _written(step.definition, row.element_id))]


def _written(definition, element_id: str) -> frozenset[str]:
    """The process variables a user task's form writes (its fields, renamed by `as`, and their running totals)."""
    form = definition.model.get("user_tasks", {}).get(element_id, {}).get("form", [])
    names = set()
    for f in form:
        names.add(f.get("as") or f["name"])
        names.update(f[k] for k in ("accumulate", "shared_total") if k in f)
    return frozenset(names)


def on_corrected(step, task_ids: list[str], data: dict[str, Any], now: datetime,
                 element_id: str | None = None) -> list[tuple[str, str | None, dict[str, Any]]]:
    """An entry was corrected (engine/supervision/corrections.py): settle again, on the corrected process data, the
    open alerts awaiting the corrected task or the round of the same obligation now waiting — resolved when the
    obligation is now met, else their amount re-evaluated. With `element_id`, also the at-once warnings awaiting
    that element for the same occurrence."""
    specs, out = _specs_by_code(step.definition), []
    for task_id in dict.fromkeys(task_ids):
        out.extend(("alert_resolved" if resolved else "alert_updated", alert.element_id,
                    {"alert_id": alert.id, "code": alert.code, "resolution": alert.resolution,
                     "amount_overdue": alert.amount_overdue, "corrected": True})
                   for alert, resolved in settle_for_task(step.session, step.instance.id, task_id, data, specs, now,
                                                          element_id, _written(step.definition, element_id)
                                                          if element_id else frozenset()))
    return out


def task_due(step, element_id: str, task_data: dict[str, Any]) -> list[datetime]:
    """A READY task's deadline: the deadline of the obligation its warnings watch (not a pre-warning)."""
    dues = []
    for spec in step.definition.model.get("alerts", {}).values():
        timer_here = spec.get("awaits") and spec.get("attached") == element_id
        if spec.get("awaited") != element_id and not timer_here:
            continue
        if spec.get("awaits") and not timer_here:
            # An at-once warning sets a deadline only once it was raised: its due is the alert's.
            open_due = next((a.due_at for a in of_instance(step.session, step.instance.id)
                             if a.code == spec["code"] and a.status != "resolved"), None)
            if open_due is not None:
                dues.append(open_due)
            continue
        try:
            dues.append(due_instant(spec["due"], task_data))
        except (expressions.ExpressionError, ValueError):
            continue  # a deadline that needs data the task does not have yet is shown when it does
    return dues


def on_cancelled(session: Session, instance, reason: str | None, now: datetime) -> None:
    resolve_all(session, instance.id, f"contract cancelled: {reason or 'no reason given'}", now)


def recompute_all(session: Session) -> int:
    """Re-evaluate the deadline of every open alert (after a calendar change); the number moved."""
    return sum(recompute_due(session, alert) for alert in session.scalars(select(Alert).where(Alert.status != "resolved")))


def view_of_instance(session: Session, principal, instance) -> dict[str, Any]:
    return {"alerts": for_instance(session, principal, instance.id) if principal else []}


def resolve_all(session: Session, instance_id: str, reason: str, now: datetime) -> None:
    for alert in session.scalars(select(Alert).where(Alert.instance_id == instance_id, Alert.status != "resolved")):
        alert.status, alert.resolved_at, alert.updated_at, alert.resolution = "resolved", now, now, reason
        _notify(session, alert, "alert.resolved")


def _met_date(data: dict[str, Any], field: str | None, now: datetime) -> date:
    value = data.get(field) if field else None
    if isinstance(value, datetime):
        return value.astimezone(deadlines.SHANGHAI).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return deadlines.local_date(timing._start(value))
        except ValueError:
            pass
    return now.astimezone(deadlines.SHANGHAI).date()


def shift_open(session: Session, instance_id: str, delta: timedelta, now: datetime,
               responsible: str | None = None) -> list[Alert]:
    """Move the deadline of every open alert of the instance (with `responsible`, only those owed by that role) by
    `delta` (a suspension, an extension of time): its due_at, and the shift its due_rule keeps for a recomputation.
    Returns the alerts moved."""
    moved = []
    query = select(Alert).where(Alert.instance_id == instance_id, Alert.status != "resolved")
    if responsible is not None:
        query = query.where(Alert.responsible_role == responsible)
    for alert in session.scalars(query):
        rule = dict(alert.due_rule or {})
        rule["shift_seconds"] = (rule.get("shift_seconds") or 0) + delta.total_seconds()
        alert.due_rule, alert.due_at, alert.updated_at = rule, alert.due_at + delta, now
        _notify(session, alert, "alert.updated")
        moved.append(alert)
    return moved


def recompute_due(session: Session, alert: Alert) -> bool:
    """Re-evaluate an open alert's deadline (after a calendar import); True when it moved."""
    rule = alert.due_rule or {}
    if alert.status == "resolved" or not rule.get("expression"):
        return False
    due_at = due_instant(rule["expression"], rule.get("data", {})) + timedelta(seconds=rule.get("shift_seconds") or 0)
    if due_at == alert.due_at:
        return False
    alert.due_at, alert.updated_at = due_at, clock.now()
    return True


# ---------------------------------------------------------------- use cases
def list_(db: Database, principal: Principal, limit, cursor, status=None, kind=None, code=None, severity=None,
          business_key=None, instance_id=None) -> dict[str, Any]:
    with db.read() as session:
        query = select(Alert).where(visible_filter(principal))
        for column, value in ((Alert.status, status), (Alert.kind, kind), (Alert.code, code),
                              (Alert.severity, severity), (Alert.business_key, business_key),
                              (Alert.instance_id, instance_id)):
            if value:
                query = query.where(column == value)
        return page(session, query, [Alert.raised_at, Alert.id], limit, cursor, view)


def for_instance(session: Session, principal: Principal, instance_id: str) -> list[dict[str, Any]]:
    return [view(a) for a in sorted((a for a in of_instance(session, instance_id) if _visible(principal, a)),
                                    key=lambda a: a.raised_at)]


def get(db: Database, principal: Principal, alert_id: str) -> dict[str, Any]:
    with db.read() as session:
        alert = session.get(Alert, alert_id)
        if alert is None or not _visible(principal, alert):
            raise NotFound("no such alert")
        return view(alert)


def _act(db: Database, principal: Principal, alert_id: str, action: str, note: str | None) -> dict[str, Any]:
    if principal.role not in ("supervisor", "admin"):
        raise Forbidden("only the supervising department acknowledges or resolves alerts")
    with db.transaction() as session:
        alert = session.get(Alert, alert_id)
        if alert is None or not _visible(principal, alert):
            raise NotFound("no such alert")
        if principal.role == "supervisor" and alert.department_code not in principal.departments:
            # An escalation target (e.g. discipline inspection) is informed, but the case stays the department's.
            raise Forbidden("only the contract's supervising department acknowledges or resolves its alerts")
        if alert.status == "resolved":
            raise Conflict("the alert is resolved already")
        now = clock.now()
        # Touching the instance bumps its row version: a concurrent step then retries instead of
        # colliding with this audit event's sequence number.
        session.get(Instance, alert.instance_id).updated_at = now
        if action == "acknowledge":
            if alert.status == "acknowledged":
                raise Conflict("the alert is acknowledged already")
            alert.status, alert.acknowledged_at, alert.acknowledged_by = "acknowledged", now, principal.name
        else:
            alert.status, alert.resolved_at, alert.resolution = "resolved", now, f"resolved by {principal.name}: {note or ''}".strip()
        alert.note, alert.updated_at = note, now
        audit.append(session, alert.instance_id, now, principal.name, [(f"alert_{action}d", alert.element_id,
                                                                        {"alert_id": alert.id, "code": alert.code, "note": note})])
        _notify(session, alert, f"alert.{action}d")
        return view(alert)


def acknowledge(db, principal, alert_id, note):
    return _act(db, principal, alert_id, "acknowledge", note)


def resolve(db, principal, alert_id, note):
    return _act(db, principal, alert_id, "resolve", note)


def changed_since(db: Database, principal: Principal, since: datetime, page_size: int = 500) -> list[dict[str, Any]]:
    """Every alert visible to the caller changed after `since`, oldest first: the SSE feed."""
    out: list[dict[str, Any]] = []
    last: tuple[datetime, str] | None = None
    with db.read() as session:
        while True:
            query = select(Alert).where(visible_filter(principal), Alert.updated_at > since)
            if last is not None:
                query = query.where(or_(Alert.updated_at > last[0], and_(Alert.updated_at == last[0], Alert.id > last[1])))
            rows = list(session.scalars(query.order_by(Alert.updated_at, Alert.id).limit(page_size)))
            out.extend(view(a) for a in rows)
            if len(rows) < page_size:
                return out
            last = (rows[-1].updated_at, rows[-1].id)


def confirm(db: Database, principal: Principal, alert_id: str, decision: str, note: str | None) -> dict[str, Any]:
    """The supervising department's finding on a red alert: `confirmed` (the obligation was breached) or
    `dismissed`. A confirmation writes one credit record for the responsible organisation and one lead to
    discipline inspection (engine/credit.py); an alert is decided once (409 after), so each is written once.

    Only the department of the alert (or a parent) and admins decide; its escalation target reads the lead."""
    if principal.role not in ("supervisor", "admin"):
        raise Forbidden("only the supervising department confirms or dismisses alerts")
    if decision not in credit.DECISIONS:
        raise Invalid("unknown decision", {"decision": [f"one of {', '.join(credit.DECISIONS)}"]})
    try:
        with db.transaction() as session:
            alert = session.get(Alert, alert_id)
            if alert is None or not _visible(principal, alert):
                raise NotFound("no such alert")
            if principal.role == "supervisor" and alert.department_code not in principal.departments:
                raise Forbidden("the alert's supervising department decides on it; its escalation target receives the lead")
            if alert.severity != "red":
                raise Conflict(f"only a red alert is confirmed or dismissed; this one is {alert.severity}")
            earlier = session.get(AlertDecision, alert.id)
            if earlier is not None:
                raise Conflict(f"the alert was {earlier.decision} already, by {earlier.decided_by}")
            now = clock.now()
            # Bumps the instance's row version: a concurrent step retries instead of colliding on audit seq.
            session.get(Instance, alert.instance_id).updated_at = now
            session.add(AlertDecision(alert_id=alert.id, decision=decision, note=note, decided_at=now,
                                      decided_by=principal.name))
            record = lead = None
            records = []
            if decision == "confirmed":
                records = credit.write_records(session, alert, now, principal.name, note)
                record = records[0]
                lead = credit.write_lead(session, alert, now, principal.name, note)
            session.flush()
            audit.append(session, alert.instance_id, now, principal.name, [(f"alert_{decision}", alert.element_id, {
                "alert_id": alert.id, "code": alert.code, "note": note,
                "credit_record_id": record.id if record is not None else None, "lead_id": lead.id if lead is not None else None,
                **({"credit_record_ids": [r.id for r in records]} if len(records) > 1 else {})})])
            _notify(session, alert, f"alert.{decision}")
            decided = session.get(AlertDecision, alert.id)
            return {**view(alert), "decision": credit.decision_view(decided),
                    "credit_record": credit.record_out(session, record) if record is not None else None,
                    "credit_records": [credit.record_out(session, r) for r in records],
                    "lead": credit.lead_view(lead) if lead is not None else None}
    except (IntegrityError, StaleDataError):
        raise Conflict("the alert was decided concurrently; read it again") from None
