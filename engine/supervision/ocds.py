"""OCDS 1.1 export (Open Contracting Data Standard, release schema 1.1.5) of the implementation stage.

One release per contract (DOMAIN.md §3.4), tagged by what it carries (`release_tags`: `award`, `contract`,
`implementation`, `contractAmendment`, and `contractTermination` once the contract closed): the parties with
their roles — the employer as `buyer` and `payer`, the contractor as `supplier` and `payee`, the supervising
department as `reviewBody` —, the award, and the contract with its signing and filing milestones, and under
`implementation` one `delivery` milestone, one acceptance milestone (also `delivery`, code `acceptance`)
and one `payment` milestone per performance milestone, with a transaction for every payment recorded,
linked to its payment milestone (`relatedImplementationMilestone`). Milestone statuses follow the closed
milestoneStatus codelist as of the release date: `met` (with `dateMet`), `partiallyMet` (part of a payment
made), `notMet` (due date passed), else `scheduled`. A contract that came to a close has its final value
(what was paid) and, when completed, its end date under `implementation`. A signed supplementary contract
(补充合同, bindings.SUPPLEMENTARY_CONTRACT, naming the contract by contract number and project code) is one of
its `amendments` (tag `contractAmendment`), not a release of its own, and so is every accepted change of the
contract's change ledger (engine/supervision/changes.py: id `{key}-change-{no}`, the value before → after in its
description); the contract's value is the signed one plus the accepted changes. A terminated contract
(engine/supervision/termination.py) ends on its effective date (`implementation.endDate`, `endDateDetails` with the
ground and the settlement). Empty arrays are left out.

The ocid is `LVYUE_OCID_PREFIX` + business key: the prefix is the publisher's, registered with the Open
Contracting Partnership (`ocds-` + six characters); DEFAULT_PREFIX is a placeholder of that form for demos.
Fields beyond the core schema come from Lvyue's extensions (`extensions_used`: partyScale, transaction
milestones with the metrics extension it depends on, contract completion), which a package declares when one
of its releases uses them (their files are shipped in docs/ocds/extensions for offline review), with those of
`register_extension`.

`register_extension(fn, url)` lets other modules add to every release (e.g. the community guarantees
extension): `fn(session, instance, release)` changes the release in place; `url`, the extension's
extension.json, is listed in the package's `extensions`.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from engine.access import authz
from engine import clock
from engine.supervision import bindings, changes, credit, deadlines
from engine.storage import pagination
from engine.storage.db import Database
from engine.access.directory import Principal
from engine.errors import Forbidden, Invalid, NotFound
from engine.storage.models import (Definition, Department, Guarantee, Instance, InstancePart, Organisation, Payment,
                                   TaskRow)
from engine.runtime.values import amount_of, format_money, money_number

# A placeholder of the registered form (ocds- and six characters, then a hyphen): set LVYUE_OCID_PREFIX to the
# prefix the Open Contracting Partnership issued to the publisher before publishing anything.
DEFAULT_PREFIX = "ocds-xxxxxx-"
OCID_PREFIX = re.compile(r"ocds-[a-z0-9]{6}-")
VERSION = "1.1"
CURRENCY = "CNY"

_EXTENSION = "https://raw.githubusercontent.com/open-contracting-extensions/{}/master/extension.json"
PARTY_SCALE_EXTENSION = _EXTENSION.format("ocds_partyDetails_scale_extension")
TRANSACTION_MILESTONES_EXTENSION = _EXTENSION.format("ocds_transactions_relatedMilestone_extension")
# transaction milestones takes MilestoneReference from the metrics extension (its declared dependency)
METRICS_EXTENSION = "https://raw.githubusercontent.com/open-contracting-extensions/ocds_metrics_extension/1.1/extension.json"
CONTRACT_COMPLETION_EXTENSION = _EXTENSION.format("ocds_contract_completion_extension")


@dataclass(frozen=True)
class Extension:
    fn: Callable[[Session, Instance, dict], None]
    url: str | None = None


EXTENSIONS: list[Extension] = []


def register_extension(fn: Callable[[Session, Instance, dict], None], url: str | None = None) -> None:
    """Call `fn(session, instance, release)` on every release built from now on (it edits the release in
    place); `url` names the OCDS extension's extension.json for the release package."""
    EXTENSIONS.append(Extension(fn, url))


def unregister_extension(fn) -> None:
    EXTENSIONS[:] = [e for e in EXTENSIONS if e.fn is not fn]


# ---------------------------------------------------------------- value helpers
_dec = amount_of
amount = money_number  # a money amount as the JSON number OCDS wants (engine/values.py)


def _value(value: Any) -> dict[str, Any]:
    return {"amount": amount(value), "currency": CURRENCY}


_day = deadlines.business_day


def on_day(value: Any) -> str | None:
    """A business date as an OCDS date-time: 00:00 China time of that day."""
    day = _day(value)
    return f"{day.isoformat()}T00:00:00+08:00" if day else None


def due(due_at: datetime | None) -> str | None:
    """A deadline (24:00 China time of its last day) as the last second of that day, China time."""
    if due_at is None:
        return None
    last = (due_at.astimezone(deadlines.SHANGHAI) - timedelta(microseconds=1)).date()
    return f"{last.isoformat()}T23:59:59+08:00"


def _status(met_on: Any, due_at: datetime | None, now: datetime, partly: bool = False) -> str:
    if met_on:
        return "met"
    if partly:
        return "partiallyMet"
    if due_at is not None and now >= due_at:
        return "notMet"
    return "scheduled"


def _milestone(mid: str, title: str, mtype: str, code: str, due_at: datetime | None, met_on: Any, now: datetime,
               partly: bool = False, description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": mid, "title": title, "type": mtype, "code": code,
                           "status": _status(met_on, due_at, now, partly), "dateModified": now.isoformat()}
    if description:
        out["description"] = description
    if due_at is not None:
        out["dueDate"] = due(due_at)
    if met_on:
        out["dateMet"] = on_day(met_on)
    return out


# ---------------------------------------------------------------- one release
def ocid(prefix: str, business_key: str) -> str:
    return f"{prefix}{business_key}"


def _org_ref(code: str | None, orgs: dict[str, Organisation]) -> dict[str, Any] | None:
    if not code:
        return None
    org = orgs.get(code)
    return {"id": f"org-{code}", "name": org.name if org else code}


@dataclass(frozen=True)
class _Facts:
    """What one release is built from: the contract's data and roles, its payments (in payment order), the
    organisations they name, the supervising department, the earliest deadline of each (element, item) and
    the data of each performance milestone."""
    data: dict[str, Any]
    roles: dict[str, str]
    payments: list[Payment]
    orgs: dict[str, Organisation]
    dept: Department | None
    dues: dict[tuple[str, int | None], datetime]
    parts: dict[int, dict[str, Any]]
    supplements: list[Instance] = ()
    # Change no → its publication (G06, a GP change's change_publication instance): {published_at, …}.
    publications: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def employer(self) -> str | None:
        return self.roles.get("employer")

    @property
    def contractor(self) -> str | None:
        return self.roles.get("contractor")

    @property
    def suppliers(self) -> list[str]:
        """The contractor, or a consortium's members, the lead (the contractor) first."""
        consortium = self.data.get(authz.CONSORTIUM)
        if not self.contractor:
            return []
        if not isinstance(consortium, dict) or consortium.get("lead") != self.contractor:
            return [self.contractor]
        return [self.contractor] + [m for m in consortium.get("members") or () if m != self.contractor]


def _facts(session: Session, instance: Instance, supplements: list[Instance] | None = None) -> _Facts:
    """Read what the release of `instance` needs (one statement each: payments, organisations, department,
    deadlines, milestone parts)."""
    roles = authz.parties(instance)
    payments = list(session.scalars(select(Payment).where(Payment.instance_id == instance.id)
                                    .order_by(Payment.paid_at, Payment.recorded_at, Payment.id)))
    consortium = (instance.data or {}).get(authz.CONSORTIUM)
    members = set(consortium.get("members") or ()) if isinstance(consortium, dict) else set()
    codes = set(roles.values()) | members | {p.payer for p in payments} | {p.payee for p in payments}
    orgs = {o.code: o for o in session.scalars(select(Organisation).where(
        Organisation.code.in_(sorted(c for c in codes if c) or [""])))}
    dept = session.get(Department, instance.department_code) if instance.department_code else None
    tasks = session.scalars(select(TaskRow).where(TaskRow.instance_id == instance.id, TaskRow.due_at.is_not(None)))
    parts = {p.item_no: p.data or {} for p in session.scalars(select(InstancePart).where(InstancePart.instance_id == instance.id))}
    data = instance.data or {}
    if not data.get("contract_no"):
        supplements = []
    else:
        supplements = [s for s in (_supplements(session) if supplements is None else supplements) if _amends(s, data)]
    publications = changes.publications(session, list(data.get("changes") or []))
    return _Facts(data, roles, payments, orgs, dept, _earliest_dues(tasks), parts, supplements, publications)


def _supplements(session: Session):
    """The instances of supplementary contracts (their key, status and data), in the order they were started."""
    return session.scalars(select(Instance).join(Definition, Definition.id == Instance.definition_id)
                           .where(Definition.key == bindings.SUPPLEMENTARY_CONTRACT)
                           .order_by(Instance.created_at, Instance.id)
                           .options(load_only(Instance.id, Instance.business_key, Instance.status, Instance.data)))


def _amends(supplement: Instance, data: dict[str, Any]) -> bool:
    """Whether a signed `supplement` changes the contract of `data`: the same contract number and, when both
    name one, the same project code."""
    sdata = supplement.data or {}
    return (bool(sdata.get("supplement_signed_at")) and sdata.get("original_contract_no") == data.get("contract_no")
            and (not sdata.get("project_code") or not data.get("project_code")
                 or sdata["project_code"] == data["project_code"]))


CHANGE_KINDS = {"extra_items": "新增工程 extra items", "variation": "变更 variation",
                "site_instruction": "现场签证 site instruction", "price_adjustment": "价格调整 price adjustment",
                "extension_of_time": "工期顺延 extension of time"}


def _ledger_amendments(key: str, data: dict[str, Any], publications: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """One amendment per accepted change of the contract's change ledger (engine/supervision/changes.py), dated on
    the contractor's confirmation (the day both had signed it), with the value change in its description and, for a
    government procurement change, its publication (G06) once made."""
    out = []
    for change in data.get("changes") or []:
        if change.get("status") != "accepted":
            continue
        parts = []
        if change.get("amount") is not None:
            delta = _dec(change["amount"])
            parts.append(f"value {format_money(_dec(change.get('value_before')))} → "
                         f"{format_money(_dec(change.get('value_after')))} CNY ({'+' if delta >= 0 else ''}"
                         f"{format_money(delta)} CNY)")
            if change.get("milestone_no"):
                parts.append(f"milestone {change['milestone_no']}")
        if change.get("days"):
            parts.append(f"{change['days']} days added")
        parts.append(f"legal basis: {change.get('legal_basis')}")
        published = publications.get(change.get("no")) or {}
        if published.get("published_at"):
            parts.append(f"published {published['published_at']} {published.get('publication_url') or ''}".rstrip())
        out.append({"id": f"{key}-change-{change['no']}",
                    "date": on_day((change.get("contractor_confirmation") or {}).get("at")),
                    "rationale": f"{CHANGE_KINDS.get(change.get('kind'), change.get('kind'))}: {change.get('reason')}",
                    "description": "; ".join(parts)})
    return out


def _amendments(facts: _Facts) -> list[dict[str, Any]]:
    """One amendment per signed supplementary contract (补充合同), dated on its signing."""
    out = []
    for supplement in facts.supplements:
        sdata = supplement.data or {}
        amendment: dict[str, Any] = {
            "id": supplement.business_key, "date": on_day(sdata["supplement_signed_at"]),
            "rationale": f"补充合同 supplementary contract {supplement.business_key}: change of "
                         f"{format_money(_dec(sdata.get('change_amount')))} CNY"}
        review = {"accepted": "accepted by the supervising department",
                  "returned": "returned by the supervising department"}.get(sdata.get("decision"), "under review")
        amendment["description"] = review + (f"; published {sdata['published_at']}" if sdata.get("published_at") else "")
        out.append(amendment)
    return out


def _earliest_dues(tasks) -> dict[tuple[str, int | None], datetime]:
    """The earliest deadline of each (element id, item number) among `tasks` (several task rows may carry
    one key; the milestone is due at the earliest)."""
    dues: dict[tuple[str, int | None], datetime] = {}
    for t in tasks:
        key = (t.element_id, t.item_no)
        if key not in dues or t.due_at < dues[key]:
            dues[key] = t.due_at
    return dues


def _parties(facts: _Facts) -> list[dict[str, Any]]:
    """The parties section: employer (buyer, payer), contractor (supplier, payee, with its scale), any other
    payer or payee of a recorded payment, and the supervising department (reviewBody)."""
    orgs, employer, contractor = facts.orgs, facts.employer, facts.contractor
    parties: list[dict[str, Any]] = []
    if employer:
        parties.append({**_org_ref(employer, orgs), "roles": ["buyer", "payer"]})
    # A consortium (联合体): every member is a supplier, jointly and severally liable; the lead also the payee. OCDS
    # 1.1.5's partyRole codelist has no code for a consortium member, so none is invented.
    for code in facts.suppliers:
        supplier = {**_org_ref(code, orgs), "roles": ["supplier", "payee"] if code == contractor else ["supplier"]}
        if code in orgs:
            supplier["details"] = {"scale": "sme" if orgs[code].sme else "large"}
        parties.append(supplier)
    payers = {p.payer for p in facts.payments}
    for code in sorted(payers | {p.payee for p in facts.payments}):
        if code and code not in (employer, *facts.suppliers):
            parties.append({**_org_ref(code, orgs), "roles": ["payer" if code in payers else "payee"]})
    if facts.dept is not None:
        parties.append({"id": f"dept-{facts.dept.code}", "name": facts.dept.name, "roles": ["reviewBody"]})
    return parties


def _award(award_id: str, facts: _Facts) -> dict[str, Any]:
    """The award: the contract amount as awarded, the award notice's date, the contractor as supplier."""
    data = facts.data
    award: dict[str, Any] = {"id": award_id, "status": "active", "value": _value(data.get("contract_amount"))}
    if data.get("award_notice_date"):
        award["date"] = on_day(data["award_notice_date"])
    if facts.contractor:
        award["suppliers"] = [_org_ref(code, facts.orgs) for code in facts.suppliers]
    if data.get("project_name"):
        award["title"] = data["project_name"]
    return award


def _contract_status(instance_status: str, signed: Any) -> str:
    """contractStatus: `pending` until signed, then `active`; a completed contract, or one cancelled after
    signing, is `terminated`; one cancelled before signing is `cancelled`."""
    return {"completed": "terminated", "cancelled": "terminated" if signed else "cancelled"}.get(
        instance_status, "active" if signed else "pending")


def _contract(key: str, award_id: str, instance: Instance, facts: _Facts, now: datetime) -> dict[str, Any]:
    """The contract: its status, signed value (else the awarded one), signing and filing milestones, and
    its implementation."""
    data = facts.data
    value = data.get("signed_amount") if data.get("signed_amount") not in (None, "") else data.get("contract_amount")
    changed = sum((_dec(c.get("amount")) for c in data.get("changes") or []
                   if c.get("status") == "accepted" and c.get("amount") is not None), Decimal(0))
    if changed:
        value = format_money(_dec(value) + changed)  # the value as the accepted changes of the ledger left it
    signed = data.get("signed_at")
    contract: dict[str, Any] = {"id": key, "awardID": award_id, "status": _contract_status(instance.status, signed),
                                "value": _value(value)}
    if data.get("project_name"):
        contract["title"] = data["project_name"]
    if data.get("contract_no"):
        contract["description"] = f"合同编号 contract no. {data['contract_no']}"
    if signed:
        contract["dateSigned"] = on_day(signed)
    amendments = sorted([*_amendments(facts), *_ledger_amendments(key, data, facts.publications)], key=lambda a: a["date"] or "")
    if amendments:
        contract["amendments"] = amendments
    contract["milestones"] = [
        _milestone(f"{key}-signing", "签订合同 Contract signed", "approval", "contractSigning",
                   facts.dues.get((bindings.SIGN_CONTRACT, None)), signed, now),
        _milestone(f"{key}-filing", "合同备案 Contract filed", "approval", "contractFiling",
                   facts.dues.get((bindings.FILE_CONTRACT, None)), data.get("filed_at"), now),
    ]
    implementation = {"milestones": _implementation_milestones(key, facts, now),
                      "transactions": _transactions(key, facts)}
    if contract["status"] == "terminated":
        implementation.update(_completion(facts, value))
    contract["implementation"] = {k: v for k, v in implementation.items() if v not in ([], None)}
    if not contract["implementation"]:
        del contract["implementation"]
    return contract


def _completion(facts: _Facts, contract_value: Any) -> dict[str, Any]:
    """What the contract completion extension records of a contract that came to a close: the final value (what
    was paid, the sum of the transactions), why it differs from the contract value, and the completion date."""
    paid = sum((p.amount for p in facts.payments), Decimal(0))
    out: dict[str, Any] = {"finalValue": _value(paid)}
    if paid != _dec(contract_value):
        out["finalValueDetails"] = (f"paid {format_money(paid)} CNY of the contract value "
                                    f"{format_money(_dec(contract_value))} CNY")
    if facts.data.get("completed_at"):
        out["endDate"] = on_day(facts.data["completed_at"])
    termination = facts.data.get("termination") or {}
    if termination.get("effective_on"):
        out["endDate"] = on_day(termination["effective_on"])
        out["endDateDetails"] = (f"terminated early ({termination.get('ground')}): {termination.get('reason')}; "
                                 f"work done settled at {termination.get('settlement', {}).get('amount')} CNY")
    return out


def _implementation_milestones(key: str, facts: _Facts, now: datetime) -> list[dict[str, Any]]:
    """Delivery, acceptance and payment milestones of every performance milestone, in contract order."""
    out: list[dict[str, Any]] = []
    for no, item in enumerate(facts.data.get("milestones") or [], start=1):
        if isinstance(item, dict):
            out.extend(_performance_milestone(key, no, item, facts, now))
    return out


def _performance_milestone(key: str, no: int, item: dict[str, Any], facts: _Facts,
                           now: datetime) -> list[dict[str, Any]]:
    """The three OCDS milestones of performance milestone `no`: delivery (due the end of its planned day),
    acceptance (met only when passed) and payment (met on the payment that completed its amount)."""
    pdata = facts.parts.get(no, {})
    name = item.get("name") or f"#{no}"
    planned = _day(item.get("planned_date"))
    accepted = pdata.get("accepted_at") if pdata.get("result", "passed") == "passed" else None
    total, full = _paid_towards(facts.payments, no, _dec(item.get("amount")))
    return [
        _milestone(f"{key}-m{no}-delivery", f"{name}：交付 delivery", "delivery", "delivery",
                   deadlines.end_of_day(planned) if planned else None, pdata.get("delivered_at"), now),
        _milestone(f"{key}-m{no}-acceptance", f"{name}：验收 acceptance", "delivery", "acceptance",
                   facts.dues.get(("accept_delivery", no)), accepted, now,
                   description=f"acceptance result: {pdata['result']}" if pdata.get("result") else None),
        _milestone(f"{key}-m{no}-payment", f"{name}：付款 payment", "payment", "payment",
                   facts.dues.get((bindings.RECORD_PAYMENT, no)), full, now, partly=total > 0,
                   description=f"amount {format_money(_dec(item.get('amount')))} CNY; paid {format_money(total)} CNY"),
    ]


def _paid_towards(payments: list[Payment], no: int, due_amount: Decimal) -> tuple[Decimal, Any]:
    """What was paid towards milestone `no`, and the date of the payment that first reached `due_amount`
    (None while it has not)."""
    total, full = Decimal(0), None
    for p in payments:
        if p.milestone_no == no:
            total += p.amount
            if full is None and total >= due_amount:
                full = p.paid_at
    return total, full


def _transactions(key: str, facts: _Facts) -> list[dict[str, Any]]:
    """One transaction per recorded payment, in payment order, linked to the payment milestone it pays
    (transaction milestones extension)."""
    names = {no: (item.get("name") if isinstance(item, dict) else None) or f"#{no}"
             for no, item in enumerate(facts.data.get("milestones") or [], start=1)}
    transactions = []
    for p in facts.payments:
        tx: dict[str, Any] = {"id": p.id, "date": on_day(p.paid_at), "value": _value(p.amount)}
        if p.milestone_no in names:
            tx["relatedImplementationMilestone"] = {"id": f"{key}-m{p.milestone_no}-payment",
                                                    "title": f"{names[p.milestone_no]}：付款 payment"}
        if p.payer:
            tx["payer"] = _org_ref(p.payer, facts.orgs)
        if p.payee:
            tx["payee"] = _org_ref(p.payee, facts.orgs)
        transactions.append(tx)
    return transactions


def release(session: Session, instance: Instance, prefix: str = DEFAULT_PREFIX, now: datetime | None = None,
            supplements: list[Instance] | None = None) -> dict[str, Any]:
    """The OCDS release of one contract as it stands at `now`, tagged by its content (`release_tags`).
    `supplements`: every supplementary contract, when the caller read them already (a package)."""
    now = now or clock.now()
    facts = _facts(session, instance, supplements)
    key = instance.business_key
    award_id = f"{key}-award"
    out: dict[str, Any] = {
        "ocid": ocid(prefix, key), "id": "", "date": now.isoformat(), "tag": [], "initiationType": "tender",
        "language": "zh", "parties": _parties(facts),
        "awards": [_award(award_id, facts)], "contracts": [_contract(key, award_id, instance, facts, now)],
    }
    if facts.employer:
        out["buyer"] = _org_ref(facts.employer, facts.orgs)
    for extension in EXTENSIONS:
        extension.fn(session, instance, out)
    out["tag"] = release_tags(out)
    out["id"] = f"{out['ocid']}-{_digest(out)}"
    return out


def release_tags(release_: dict[str, Any]) -> list[str]:
    """The releaseTag codes (closed codelist) of what a release carries: `award` with an award, `contract` with a
    contract, `implementation` with implementation data, `contractAmendment` with amendments, and
    `contractTermination` when a contract came to a close (status `terminated`)."""
    contracts = release_.get("contracts") or []
    tags = []
    if release_.get("awards"):
        tags.append("award")
    if contracts:
        tags.append("contract")
    if any(c.get("amendments") for c in contracts):
        tags.append("contractAmendment")
    if any(c.get("implementation") for c in contracts):
        tags.append("implementation")
    if any(c.get("status") == "terminated" for c in contracts):
        tags.append("contractTermination")
    return tags or ["implementation"]


def extensions_used(release_: dict[str, Any]) -> list[str]:
    """The extension.json URLs of Lvyue's own extensions whose fields `release_` uses."""
    used = []
    if any("scale" in (p.get("details") or {}) for p in release_.get("parties") or []):
        used.append(PARTY_SCALE_EXTENSION)
    implementations = [c.get("implementation") or {} for c in release_.get("contracts") or []]
    if any("relatedImplementationMilestone" in t for i in implementations for t in i.get("transactions") or []):
        used += [TRANSACTION_MILESTONES_EXTENSION, METRICS_EXTENSION]
    if any({"finalValue", "finalValueDetails", "endDate", "endDateDetails"} & set(i) for i in implementations):
        used.append(CONTRACT_COMPLETION_EXTENSION)
    return used


def _digest(release_: dict[str, Any]) -> str:
    """The content hash that names a release: the same content (apart from when it was read) has the same id."""
    body = {k: v for k, v in release_.items() if k not in ("id", "date")}
    canonical = json.dumps(_without_review_dates(body), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _without_review_dates(value):
    if isinstance(value, dict):
        return {k: _without_review_dates(v) for k, v in value.items() if k != "dateModified"}
    if isinstance(value, list):
        return [_without_review_dates(v) for v in value]
    return value


# ---------------------------------------------------------------- use cases
def contract_release(db: Database, principal: Principal, business_key: str, prefix: str = DEFAULT_PREFIX) -> dict[str, Any]:
    """The release of one contract, for whoever may see the contract (404 otherwise, as the ledger)."""
    with db.read() as session:
        instance = session.scalar(select(Instance).where(Instance.business_key == business_key))
        if instance is None or not authz.can_see_instance(principal, instance):
            raise NotFound(f"no contract {business_key}")
        return release(session, instance, prefix)


DATA_DATES = ("award_notice_date", "signed_at", "filed_at", "completed_at", "performance_guarantee_released_at",
              "retention_released_at")


def _active_in(session: Session, instances: list[Instance], first: date, last: date) -> list[Instance]:
    """The contracts with implementation activity in [first, last]: a business date recorded in the contract
    or one of its milestones, a payment, or the last day of an obligation's deadline."""
    start, end = deadlines.end_of_day(first - timedelta(days=1)), deadlines.end_of_day(last)
    ids = [i.id for i in instances]
    active: set[str] = set()
    for i in instances:
        data = i.data or {}
        values = [data.get(k) for k in DATA_DATES]
        if "bid_bond_released_amount" in data:
            values.append(data.get("released_at"))
        values += [(c.get("contractor_confirmation") or {}).get("at") for c in data.get("changes") or []]
        values.append((data.get("termination") or {}).get("effective_on"))
        if any(d is not None and first <= d <= last for d in map(_day, values)):
            active.add(i.id)
    for chunk in (ids[n:n + 500] for n in range(0, len(ids), 500)):
        active.update(session.scalars(select(Payment.instance_id).where(
            Payment.instance_id.in_(chunk), Payment.paid_at >= first, Payment.paid_at <= last)))
        # A deadline's last day is in the month when its instant (24:00 of that day) is in (start, end].
        active.update(session.scalars(select(TaskRow.instance_id).where(
            TaskRow.instance_id.in_(chunk), TaskRow.due_at > start, TaskRow.due_at <= end)))
        for instance_id, pdata in session.execute(select(InstancePart.instance_id, InstancePart.data)
                                                  .where(InstancePart.instance_id.in_(chunk))):
            if any(d is not None and first <= d <= last
                   for d in (_day((pdata or {}).get(k)) for k in ("delivered_at", "accepted_at"))):
                active.add(instance_id)
    return [i for i in instances if i.id in active]


PACKAGE_LIMIT, PACKAGE_MAX = 100, 500
SCAN = 500  # contracts read at a time while looking for the next active ones


def package(db: Database, principal: Principal, month: str, uri: str, prefix: str = DEFAULT_PREFIX,
            publisher: str = "Lvyue 履约", limit: int | None = None, cursor: str | None = None,
            next_uri: Callable[[str], str] | None = None) -> dict[str, Any]:
    """A release package of the contracts visible to the caller with implementation activity in `month`
    (a business date of it in the month, China time: award, signing, filing, delivery, acceptance, payment,
    completion, a release of a deposit, the signing of a supplementary contract — or the last day of an
    obligation's deadline, met or not). Supplementary contracts are amendments of their contract's release.

    Paginated (OCDS package `links.next`): at most `limit` releases (default PACKAGE_LIMIT, at most
    PACKAGE_MAX) in business key order, after the contract named by `cursor`; `links.next` = next_uri(cursor)
    when more follow. The contracts are read SCAN at a time, so memory does not grow with their number.
    NotFound when there is none: a package holds at least one release."""
    if principal.role == "designer":
        raise Forbidden("designers do not read contracts")
    first, last = credit.month_days(month)
    limit = pagination.check_limit(limit, PACKAGE_LIMIT, PACKAGE_MAX)
    after = pagination.decode_cursor(cursor, 1)[0] if cursor else None
    if after is not None and (not isinstance(after, str) or len(after) > 200):
        raise Invalid("the cursor is not one this server issued", {"cursor": ["invalid cursor"]})
    now = clock.now()
    with db.read() as session:
        supplements = list(_supplements(session))
        ids = {s.id for s in supplements}
        # A contract is also active in the month one of its supplements was signed.
        signed = [s for s in supplements if (d := _day((s.data or {}).get("supplement_signed_at"))) and first <= d <= last]
        chosen: list[Instance] = []
        while len(chosen) <= limit:
            query = (select(Instance).where(authz.instance_filter(principal))
                     .order_by(Instance.business_key).limit(SCAN)
                     .options(load_only(Instance.id, Instance.business_key, Instance.status, Instance.data,
                                        Instance.roles, Instance.department_code)))
            if after is not None:
                query = query.where(Instance.business_key > after)
            batch = list(session.scalars(query))
            if not batch:
                break
            after = batch[-1].business_key
            visible = [i for i in batch if i.id not in ids]  # a supplement is an amendment in its contract's release
            active = {i.id for i in _active_in(session, visible, first, last)}
            active |= {i.id for i in visible if any(_amends(s, i.data or {}) for s in signed)}
            chosen.extend(i for i in visible if i.id in active)
            if len(batch) < SCAN:
                break
        more = len(chosen) > limit
        chosen = chosen[:limit]
        releases = [release(session, instance, prefix, now, supplements) for instance in chosen]
    if not releases:
        raise NotFound(f"no contract you may see has implementation activity in {month}")
    extensions = [url for r in releases for url in extensions_used(r)] + [e.url for e in EXTENSIONS if e.url]
    out: dict[str, Any] = {"uri": uri, "version": VERSION, "publishedDate": now.isoformat(),
                           "publisher": {"name": publisher}, "releases": releases}
    if extensions:
        out["extensions"] = list(dict.fromkeys(extensions))
    if more and next_uri is not None:
        out["links"] = {"next": next_uri(pagination.encode_cursor([chosen[-1].business_key]))}
    return out


# ================================================================ the community guarantees extension (engine/bootstrap.py)
# Moved here from the guarantee ledger; the composition root registers `guarantees_extension` with its URL.
# guaranteeType (INAI Mexico's extension, DOMAIN.md §3.3) with local codes where it has none.
GUARANTEE_TYPES = {"cash": "depositSlip", "bank_guarantee": "letterOfCredit", "insurance_policy": "suretyBond",
              "guarantee_company": "bail", "e_guarantee": "electronicGuarantee", "retention": "retention"}
GUARANTEE_OBLIGATIONS = {"bid": "bidBond", "performance": "fulfillment", "advance_payment": "prepaid", "quality": "quality",
                    "payment": "payment"}


def contract_guarantees(session: Session, instance: Instance) -> list[dict[str, Any]]:
    """`contracts[].guarantees[]` of the community guarantees extension: {id, type, date, obligations, value,
    guarantor, period}. Exempted securities are left out (nothing was given)."""
    out = []
    rows = session.scalars(select(Guarantee).where(Guarantee.instance_id == instance.id, Guarantee.form.is_not(None),
                                                   Guarantee.status != "exempt").order_by(Guarantee.created_at, Guarantee.id))
    for g in rows:
        if g.form not in GUARANTEE_TYPES:
            continue
        entry: dict[str, Any] = {"id": g.guarantee_no or g.id, "type": GUARANTEE_TYPES[g.form],
                                 "obligations": GUARANTEE_OBLIGATIONS[g.kind],
                                 "value": {"amount": amount(g.amount), "currency": "CNY"}}
        if g.activated_on:
            entry["date"] = f"{g.activated_on}T00:00:00+08:00"
        if g.issuer_org or g.issuer:
            org = session.get(Organisation, g.issuer_org) if g.issuer_org else None
            entry["guarantor"] = {"id": g.issuer_org, "name": org.name if org else g.issuer} if g.issuer_org else {"name": g.issuer}
        period = {}
        if g.valid_from or g.activated_on:
            period["startDate"] = f"{g.valid_from or g.activated_on}T00:00:00+08:00"
        if g.valid_to:
            period["endDate"] = f"{g.valid_to}T23:59:59+08:00"
        if period:
            entry["period"] = period
        out.append(entry)
    return out


GUARANTEES_EXTENSION_URL = "https://raw.githubusercontent.com/contratacionesabiertas/ocds_guarantees_extension/master/extension.json"


def guarantees_extension(session: Session, instance: Instance, release: dict[str, Any]) -> dict[str, Any]:
    """Add the guarantees to every contract of an OCDS release, in place (registered by
    engine/bootstrap.py with `register_extension`)."""
    found = contract_guarantees(session, instance)
    if found:
        for contract in release.get("contracts") or []:
            contract["guarantees"] = found
    return release
