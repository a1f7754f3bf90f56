"""The change ledger of a contract (合同变更台账), confirmed by both parties.

Kinds (`KINDS`):
* `extra_items` (新增工程 / 追加), `variation` (变更), `site_instruction` (现场签证): a signed `amount` (the value
  change, "-1200.00" for a reduction) and optional `days` (0–3650: the time the change adds);
* `price_adjustment` (价格调整): a signed `amount`, no days;
* `extension_of_time` (工期顺延): `days` (1–3650), no amount.
A value change may name the milestone whose amount it changes (`milestone_no`). Every change carries its
document's hash (`document_sha256`, and `attachments_sha256` for supporting documents) and keeps its legal
basis (rules.json, kind "ground": CH01 for every change, CH02 for government procurement, CH03 for tendering;
G07 for a GP value change).

A change is made by agreement of both parties (《民法典》第五百四十三条; 《政府采购法》第五十条), never by one:
* the employer proposes it: `POST /contracts/{key}/changes` — its proposal is its own confirmation;
* the contractor confirms the same document, or refuses: `POST /contracts/{key}/changes/{no}/confirmation`
  {confirmed, confirmed_at, document_sha256}. A second decision is refused (409).

Accepted:
* a value change updates the contract's value: the current amount = the signed amount (else the awarded one) +
  every accepted change (`current_amount`, shown by the ledger and as the OCDS contract value). Named milestone:
  its amount changes by the same amount, in the contract's data and in its part's live data (the payment and its
  warnings count on the new amount from then on). What was fixed on the signed amount stays on it: the guarantees
  given, the advance paid and its recovery; the works settlement and the retention are computed on the settled
  price, not on the contract amount.
* days (an extension of time, or a change that adds time) move the contractor's pending deadlines by exactly
  `days`: the timers on the contractor lane's tasks (its main workflow and running parts, e.g. each milestone's
  delivery), the open alerts the contractor owes, and the deadlines of its ready tasks. The employer's deadlines
  (payments, refunds, filing) do not move. The history records a `timer_moved` for each timer.

Refused (nothing changes): a change of a contract that is not running (completed, terminated) or under notice of
termination (409 naming business_key; a refusal of a proposed change is still recorded); a reduction
that takes the contract's value (or the named milestone's amount) below what was paid on it (409 naming
`amount`); a milestone whose part is completed (409 naming `milestone_no`); for government procurement, a value
increase that takes every increase of the ledger (accepted or proposed) and every supplementary contract together
above G07's 10 % of the signed amount (422 naming `amount` and G07). Increases only count: a reduction does not
make room for a later addition (政府采购法 art 49 caps what is added). Tendering contracts have no statutory cap:
each change records the cumulative increase and its percentage (`cumulative`) all the same.

Published (G06, government procurement only): the acceptance of a GP contract's change starts, in the same
transaction, an instance of bpmn/change_publication.bpmn bound to the contract's employer and department
(business key `{key}-change-{no}`, kept as the change's `publication_key`): its `publish_change` task is due 2
working days after the acceptance (财办库〔2023〕243号第一条) and raises CHANGE_PUBLICATION_OVERDUE (orange at the
deadline, red 30 days later) until the employer completes it with the date and address of the notice, which the
ledger then shows as the change's `published_at` and `publication_url`. Without a deployed change_publication
process a GP change cannot be accepted (409): the duty would go unwatched. A tendering contract's change has no
publication duty and starts nothing.

The history records `change_proposed` and `change_accepted` (or `change_refused`) with both confirmations. The
changes are kept in the contract's process data (`changes`) and listed by the ledger and the OCDS release
(`contracts[].amendments`).
"""
from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import func, select

from engine import clock
from engine.access import authz
from engine.access.directory import Principal
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.runtime import definitions, forms, hooks, spiff, steps, timers, values
from engine.runtime.runner import step_transaction
from engine.storage.db import Database
from engine.storage.models import Instance, InstancePart, Payment, TaskRow
from engine.supervision import alerts, plausibility, rules, supplements, timing

CHANGES = "changes"
VALUE_KINDS = ("extra_items", "variation", "site_instruction", "price_adjustment")
TIMED_KINDS = ("extra_items", "variation", "site_instruction", "extension_of_time")
KINDS = (*VALUE_KINDS, "extension_of_time")
MAX_DAYS = 3650
MAX_ATTACHMENTS = 20
SIGNED_MONEY = re.compile(r"-?[0-9]+(\.[0-9]{1,2})?")
GP, TENDERING = "gov_procurement", "tendering"
# The grounds each change keeps (rules.json, kind "ground"): every change, then its track's.
BASIS = {None: "CH01", GP: "CH02", TENDERING: "CH03"}
CAP = "G07"
COUNTED = ("proposed", "accepted")
MILESTONES = "milestones"
# G06: the publication of an accepted GP change (bpmn/change_publication.bpmn).
PUBLICATION = "change_publication"


def _instance(session, principal: Principal, business_key: Any, role: str) -> Instance:
    instance = session.scalar(select(Instance).where(Instance.business_key == business_key)) \
        if isinstance(business_key, str) else None
    if instance is None or not authz.can_see_instance(principal, instance):
        raise NotFound(f"no contract {business_key}")
    if principal.role == "admin":
        return instance
    if principal.role != "party" or not authz.holds_role(instance, role, principal.org_code):  # a member too
        raise Forbidden(f"only the contract's {role} (or an admin) does this")
    return instance


def _date(value: Any, field: str, errors: dict[str, list[str]]) -> date | None:
    return plausibility.business_date(value, field, errors)


def _changes(wf) -> list[dict[str, Any]]:
    return [dict(c) for c in (spiff.shared_value(wf, CHANGES) or [])]


def signed_money(value: Any) -> Decimal:
    """A signed amount of the money shape ("-1200.00", "35000.5"): the value change of a change; BadValue
    otherwise (a JSON number, an exponent, more than 2 decimals …)."""
    if isinstance(value, str) and value.startswith("-") and SIGNED_MONEY.fullmatch(value):
        return -values.parse_money(value[1:])
    return values.parse_money(value)


def original_amount(data: Mapping[str, Any]) -> Decimal:
    """The contract's amount as signed (else as awarded): what G07 caps a percentage of."""
    signed = data.get("signed_amount")
    return values.amount_of(signed if signed not in (None, "") else data.get("contract_amount"))


def accepted_total(data: Mapping[str, Any]) -> Decimal:
    """The value of every accepted change together (signed)."""
    return sum((values.amount_of(c.get("amount")) for c in data.get(CHANGES) or []
                if c.get("status") == "accepted" and c.get("amount") is not None), Decimal(0))


def current_amount(data: Mapping[str, Any]) -> Decimal:
    """The contract's value today: as signed (else as awarded) plus every accepted change."""
    return original_amount(data) + accepted_total(data)


def increases(data: Mapping[str, Any]) -> Decimal:
    """The increases the ledger counts towards a cap: every proposed or accepted change that adds value."""
    return sum((max(values.amount_of(c.get("amount")), Decimal(0)) for c in data.get(CHANGES) or []
                if c.get("status") in COUNTED and c.get("amount") is not None), Decimal(0))


def cite(rule_id: str, on: date):
    """The version of a ground or limit in force on `on`; for a day before its first version (a change dated before
    the Civil Code), the version in force today."""
    registry = timing.registry()
    try:
        return registry.limit(rule_id, on)
    except rules.UnknownRule:
        return registry.limit(rule_id, values.today())


def legal_basis(track: Any, value_change: bool, on: date) -> tuple[list[str], str]:
    """The rule ids and the citation a change keeps."""
    ids = [BASIS[None]] + ([BASIS[track]] if track in (GP, TENDERING) else [])
    if track == GP and value_change:
        ids.append(CAP)
    return ids, "；".join(f"{rule_id} {cite(rule_id, on).legal_basis}" for rule_id in ids)


def _check_not_noticed(wf) -> None:
    """A contract under notice of termination (engine/supervision/termination.py) is changed no more."""
    notice = spiff.shared_value(wf, "termination")
    if notice:
        raise Conflict("notice of termination was given: the contract is changed no more", {
            "business_key": [f"the {notice.get('party')} gave notice of termination on {notice.get('noticed_at')}"]})


def _paid(session, instance: Instance, milestone_no: int | None = None) -> Decimal:
    query = select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.instance_id == instance.id)
    if milestone_no is not None:
        query = query.where(Payment.milestone_no == milestone_no)
    return values.amount_of(session.scalar(query))


def _check_body(body: Mapping[str, Any], errors: dict[str, list[str]]) -> tuple[Decimal | None, int]:
    """The kind's fields (amount, days, milestone_no, documents); (amount, days) as parsed."""
    kind = body.get("kind")
    if kind not in KINDS:
        errors["kind"] = [f"one of {', '.join(KINDS)}"]
    amount = None
    if kind in VALUE_KINDS:
        try:
            amount = signed_money(body.get("amount"))
        except values.BadValue as exc:
            errors["amount"] = [f"the value change, a signed decimal string (\"-1200.00\" reduces): {exc}"]
    elif kind == "extension_of_time" and body.get("amount") is not None:
        errors["amount"] = ["an extension of time changes no value: leave amount out (a variation changes both)"]
    days = body.get("days")
    if kind == "extension_of_time":
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            errors["days"] = [f"a whole number of days from 1 to {MAX_DAYS}"]
    elif kind in TIMED_KINDS:
        if days is None:
            days = 0
        elif isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_DAYS:
            errors["days"] = [f"the days the change adds, a whole number from 0 to {MAX_DAYS}"]
    elif kind == "price_adjustment" and days not in (None, 0):
        errors["days"] = ["a price adjustment adds no time: leave days out (a variation changes both)"]
    if kind in VALUE_KINDS and amount is not None and amount == 0 and not (isinstance(days, int) and days > 0):
        errors["amount"] = ["a change of nothing: the amount is 0.00 and no days are added"]
    no = body.get("milestone_no")
    if no is not None and (kind not in VALUE_KINDS or isinstance(no, bool) or not isinstance(no, int) or no < 1):
        errors["milestone_no"] = ["the number (1, 2, …) of the milestone whose amount a value change changes"]
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        errors["reason"] = ["required: why the contract is changed"]
    sha = body.get("document_sha256")
    if not values.is_sha256(sha):
        errors["document_sha256"] = ["the change document's SHA-256, 64 lowercase hex digits"]
    attachments = body.get("attachments_sha256")
    if attachments is not None and (not isinstance(attachments, list) or len(attachments) > MAX_ATTACHMENTS
                                    or not all(values.is_sha256(a) for a in attachments)
                                    or len(set(attachments)) != len(attachments)):
        errors["attachments_sha256"] = [f"at most {MAX_ATTACHMENTS} distinct SHA-256 (64 lowercase hex digits)"]
    return amount, days if isinstance(days, int) and not isinstance(days, bool) else 0


def _check_value(session, instance: Instance, wf, data: Mapping[str, Any], record: Mapping[str, Any]) -> None:
    """What a value change may not do to the figures as they stand: Conflict naming the field."""
    amount = values.amount_of(record["amount"])
    paid = _paid(session, instance)
    after = current_amount(data) + amount
    if after < paid:
        raise Conflict("the change would take the contract's value below what was paid on it", {
            "amount": [f"{values.format_money(amount)} takes the contract's value to {values.format_money(after)}, "
                       f"below the {values.format_money(paid)} paid"]})
    no = record.get("milestone_no")
    if no is None:
        return
    planned = spiff.shared_value(wf, MILESTONES) or data.get(MILESTONES) or []
    if not 1 <= no <= len(planned):
        raise Conflict(f"the contract has no milestone {no}", {"milestone_no": [f"one of 1–{len(planned)}"]})
    part = _part(session, instance, no)
    if part is not None and part.status != "running":
        raise Conflict(f"milestone {no} is {part.status}", {"milestone_no": [f"milestone {no} is {part.status}: "
                                                                              "change the contract's value alone"]})
    milestone_paid = _paid(session, instance, no)
    new = values.amount_of(planned[no - 1].get("amount")) + amount
    if new <= 0 or new < milestone_paid:
        raise Conflict(f"the change would take milestone {no} below what was paid on it", {
            "amount": [f"{values.format_money(amount)} takes milestone {no} to {values.format_money(new)}, "
                       f"below the {values.format_money(milestone_paid)} paid on it (or not above 0)"]})


def _part(session, instance: Instance, no: int) -> InstancePart | None:
    return session.scalar(select(InstancePart).where(InstancePart.instance_id == instance.id,
                                                     InstancePart.item_no == no,
                                                     InstancePart.process_id.like("%milestone%")))


def _cumulative(session, instance: Instance, data: Mapping[str, Any], amount: Decimal | None, day: date
                ) -> dict[str, Any]:
    """The increases counted together with this one: the ledger's and every supplementary contract's; over G07 for
    a GP contract, Invalid naming amount."""
    original = original_amount(data)
    ledger = increases(data)
    others = supplements.earlier(session, instance.id, data.get("project_code"), data.get("contract_no")) \
        if data.get("contract_no") else []
    supplemented = sum((max(values.amount_of((s.data or {}).get("change_amount")), Decimal(0)) for s in others),
                       Decimal(0))
    total = ledger + supplemented + max(amount or Decimal(0), Decimal(0))
    percent = (total * 100 / original).quantize(Decimal("0.01")) if original > 0 else None
    out = {"increase": values.format_money(total), "percent": None if percent is None else str(percent),
           "of": values.format_money(original), "cap_percent": None, "rule": None}
    if data.get("track") != GP:
        return out
    cap = cite(CAP, day)
    limit = (original * cap.max_percent / 100).quantize(values.FEN)
    out.update(cap_percent=str(cap.max_percent), rule=CAP)
    if amount is not None and amount > 0 and total > limit:
        listed = ", ".join(f"{s.business_key} {values.format_money(values.amount_of((s.data or {}).get('change_amount')))}"
                           for s in others) or "none"
        raise Invalid("the change is refused", {"amount": [
            f"the increases of contract {data.get('contract_no') or instance.business_key} together would come to "
            f"{values.format_money(total)} (the ledger's {values.format_money(ledger)}; supplementary contracts: "
            f"{listed}; this change {values.format_money(amount)}), more than {cap.max_percent}% of the original "
            f"amount {values.format_money(original)} = {values.format_money(limit)} ({CAP}, {cap.legal_basis})"]})
    return out


def propose(db: Database, principal: Principal, business_key: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    amount, days = _check_body(body, errors)
    day = _date(body.get("proposed_at"), "proposed_at", errors)
    with step_transaction(db) as session:
        instance = _instance(session, principal, business_key, "employer")
        if instance.status != "running":
            raise Conflict(f"the contract is {instance.status}: only a running contract is changed",
                           {"business_key": [f"the contract is {instance.status}"]})
        if errors:
            raise Invalid("the change is invalid", errors)
        step = steps.open_step(session, instance, principal.name)
        _check_not_noticed(step.wf)
        earlier = _changes(step.wf)
        data = {**(instance.data or {}), CHANGES: earlier}
        ids, basis = legal_basis(data.get("track"), amount is not None, day)
        record = {"no": len(earlier) + 1, "kind": body["kind"],
                  "amount": None if amount is None else values.format_money(amount), "days": days,
                  "milestone_no": body.get("milestone_no"), "reason": body["reason"].strip(),
                  "document_sha256": body["document_sha256"], "attachments_sha256": list(body.get("attachments_sha256") or []),
                  "rules": ids, "legal_basis": basis, "status": "proposed",
                  "employer_confirmation": {"by": principal.name, "at": day.isoformat()},
                  "contractor_confirmation": None}
        if amount is not None:
            _check_value(session, instance, step.wf, data, record)
            record["cumulative"] = _cumulative(session, instance, data, amount, day)
        spiff.set_shared(step.wf, CHANGES, [*earlier, record])
        step.record("change_proposed", None, record)
        steps.finish(step)
        return {"business_key": instance.business_key, **record}


def confirm(db: Database, principal: Principal, business_key: Any, no: int, body: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    confirmed = body.get("confirmed")
    if not isinstance(confirmed, bool):
        errors["confirmed"] = ["true (the contractor signs the change) or false (it refuses it)"]
    day = _date(body.get("confirmed_at"), "confirmed_at", errors)
    with step_transaction(db) as session:
        instance = _instance(session, principal, business_key, "contractor")
        step = steps.open_step(session, instance, principal.name)
        records = _changes(step.wf)
        if not 1 <= no <= len(records):
            raise NotFound(f"no change {no} of contract {business_key}")
        record = records[no - 1]
        if record["status"] != "proposed":
            raise Conflict(f"change {no} is {record['status']} already",
                           {"confirmed": [f"change {no} was {record['status']} on "
                                          f"{(record.get('contractor_confirmation') or {}).get('at')}"]})
        if instance.status != "running":
            raise Conflict(f"the contract is {instance.status}: only a running contract is changed",
                           {"business_key": [f"the contract is {instance.status}"]})
        if body.get("document_sha256") != record["document_sha256"]:
            errors["document_sha256"] = [f"is not the change document the employer signed ({record['document_sha256']})"]
        if day is not None and day < date.fromisoformat(record["employer_confirmation"]["at"]):
            errors["confirmed_at"] = [f"{day.isoformat()} is before the proposal ({record['employer_confirmation']['at']})"]
        if errors:
            raise Invalid("the confirmation is invalid", errors)
        if confirmed:
            _check_not_noticed(step.wf)
        data = {**(instance.data or {}), CHANGES: records}
        publication = None
        if confirmed and data.get("track") == GP:
            publication = definitions.find(session, PUBLICATION)
            if publication is None:
                raise Conflict(f"the {PUBLICATION} process is not deployed: a government procurement change is "
                               "published within 2 working days of its acceptance (G06) and nothing would watch it",
                               {"confirmed": [f"deploy bpmn/{PUBLICATION}.bpmn first"]})
            record["publication_key"] = publication_key(instance.business_key, no)
            if session.scalar(select(Instance.id).where(Instance.business_key == record["publication_key"])):
                raise Conflict(f"business key {record['publication_key']} is already in use",
                               {"confirmed": [f"the publication of change {no} would be {record['publication_key']}, "
                                              "which another instance holds"]})
        if confirmed and record.get("amount") is not None:
            _check_value(session, instance, step.wf, data, record)  # a payment may have come since the proposal
            before = current_amount(data)
            record["value_before"] = values.format_money(before)
            record["value_after"] = values.format_money(before + values.amount_of(record["amount"]))
        record["status"] = "accepted" if confirmed else "refused"
        record["contractor_confirmation"] = {"by": principal.name, "at": day.isoformat(), "confirmed": confirmed}
        records[no - 1] = record
        spiff.set_shared(step.wf, CHANGES, records)
        if confirmed and record.get("milestone_no") is not None:
            _change_milestone(session, instance, step, principal.name, record)
        step.record("change_accepted" if confirmed else "change_refused", None, record)
        steps.finish(step)
        moves = {"timers_moved": 0, "alerts_moved": 0, "tasks_moved": 0}
        if confirmed and record.get("days"):
            moves = _extend(session, instance, step.definition, principal.name, timedelta(days=record["days"]), no)
        if publication is not None:
            _start_publication(session, publication, instance, data, record, principal.name)
        return {"business_key": instance.business_key, **record, **moves}


def publication_key(business_key: str, no: int) -> str:
    """The business key of the publication of change `no` (the OCDS amendment's id too)."""
    return f"{business_key}-change-{no}"


def _start_publication(session, definition, instance: Instance, data: Mapping[str, Any], record: Mapping[str, Any],
                       actor: str) -> None:
    """G06: an instance of change_publication for the accepted change, bound to the contract's employer and
    department, counting 2 working days from the acceptance (the contractor's confirmation)."""
    roles = {role: code for role, code in (instance.roles or {}).items() if role in ("employer", "department")}
    given = {"contract_business_key": instance.business_key, "change_no": record["no"],
             "accepted_at": record["contractor_confirmation"]["at"]}
    for name in ("project_code", "contract_no"):
        if isinstance(data.get(name), str) and data.get(name):
            given[name] = data[name]
    typed, errors = forms.validate(definition.model.get("start_form", []), given)
    if errors:  # the deployed version asks for something the ledger does not have
        raise Conflict(f"the deployed {PUBLICATION} process cannot be started for this change",
                       {"confirmed": [f"{field}: {', '.join(why)}" for field, why in errors.items()]})
    typed.update(roles)
    step = steps.new_instance_step(session, definition, record["publication_key"], roles, typed, actor)
    step.record("instance_started", None, {"business_key": record["publication_key"], "data": forms.to_json(typed),
                                           "roles": roles})
    spiff.run_until_waiting(step.wf)
    for listener in hooks.REGISTRY.instance_started:
        listener(step, typed)
    steps.finish(step)


def publications(session, records: list[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """Change no → its publication as the change_publication instance holds it: {published_at, publication_url}."""
    keys = {r["publication_key"]: r["no"] for r in records if r.get("publication_key")}
    out: dict[int, dict[str, Any]] = {}
    if not keys:
        return out
    for row in session.scalars(select(Instance).where(Instance.business_key.in_(keys))):
        held = row.data or {}
        out[keys[row.business_key]] = {"published_at": held.get("published_at"), "publication_url": held.get("url"),
                                        "publication_status": row.status}
    return out


def _change_milestone(session, instance: Instance, step, actor: str, record: Mapping[str, Any]) -> None:
    """The named milestone's amount changes by the change's amount: in the contract's milestones and, once its part
    runs, in the part's live data (its payment and warnings count on the new amount)."""
    no, amount = record["milestone_no"], values.amount_of(record["amount"])
    planned = [dict(m) for m in (spiff.shared_value(step.wf, MILESTONES) or spiff.current_data(step.wf).get(MILESTONES)
                                 or [])]
    item = planned[no - 1]
    # A Decimal, as the start form typed it: the part's expressions (milestone.amount - paid_total) compute with it.
    item["amount"] = values.amount_of(item.get("amount")) + amount
    spiff.set_shared(step.wf, MILESTONES, planned)
    part = _part(session, instance, no)
    if part is not None and part.status == "running":
        sub = steps.open_step(session, instance, actor, part.id)
        current = dict(spiff.current_data(sub.wf).get("milestone") or {})
        current["amount"] = item["amount"]
        spiff.replace_live(sub.wf, "milestone", current)
        sub.record("milestone_amount_changed", None, {"change": record["no"],
                                                      "amount": values.format_money(item["amount"])})
        steps.finish(sub)


def _extend(session, instance: Instance, definition, actor: str, delta: timedelta, no: int) -> dict[str, int]:
    """The contractor's deadlines move by `delta`: the timers on its lane's tasks, the alerts it owes, its ready tasks."""
    user_tasks = (definition.model or {}).get("user_tasks", {})
    contractor_tasks = frozenset(t for t, spec in user_tasks.items() if spec.get("lane") == "contractor")
    moved = timers.shift_instance(session, instance, actor, delta, {"change": no, "days": delta.days}, contractor_tasks)
    shifted = alerts.shift_open(session, instance.id, delta, clock.now(), responsible="contractor")
    tasks = 0
    for row in session.scalars(select(TaskRow).where(TaskRow.instance_id == instance.id, TaskRow.state == "ready",
                                                     TaskRow.element_id.in_(contractor_tasks),
                                                     TaskRow.due_at.is_not(None))):
        row.due_at, tasks = row.due_at + delta, tasks + 1
    return {"timers_moved": len(moved), "alerts_moved": len(shifted), "tasks_moved": tasks}
