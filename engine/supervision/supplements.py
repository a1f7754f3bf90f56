"""Supplementary contracts (补充合同) of one contract, capped together: 《政府采购法》第四十九条 (G07) limits all the
supplements of a government procurement contract together to 10 % of the original amount, not each one.

A supplement names its contract by project code and contract number (as the OCDS export matches them). Its
amount is `change_amount` as last signed (sign_supplement may replace the proposed one), else as proposed; a
supplement cancelled (or failed) no longer counts. The original amount is the contract's own when Lvyue holds the
contract: its signed amount, else its contract amount — a clerk's `original_amount` that departs from it is refused.

The change ledger of the contract (engine/supervision/changes.py) counts with them: its value increases, proposed or
accepted, are added to the earlier supplements' total (and a ledger change counts the supplements in turn).

Two checks, both domain listeners (engine/bootstrap.py):
* at the start (`on_start`): a GP proposal that brings the total of the contract's supplements above the cap is
  refused, 422 on `data.change_amount` naming G07 and the figures; the start's transaction locks the original
  contract's row, so two proposals of one contract are counted one after the other;
* `supplements_before` (the earlier supplements' total, fixed at the start) is a shared process value the diagram's
  cap gateway adds to the signed change_amount: signing more than proposed, beyond the cap, raises
  SUPPLEMENT_OVER_CAP as before (a signed fact is recorded and flagged, not refused).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import load_only

from engine.errors import Invalid
from engine.runtime import spiff, values
from engine.storage.models import Definition, Instance
from engine.supervision import bindings, timing

SUPPLEMENTS_BEFORE = "supplements_before"
COUNTED = ("running", "completed")
GP = "gov_procurement"


def _names(data: dict[str, Any], project_code: Any, contract_no: Any) -> bool:
    return data.get("original_contract_no") == contract_no and data.get("project_code") == project_code


def earlier(session, instance_id: str, project_code: Any, contract_no: Any) -> list[Instance]:
    """The other counted supplements of the same contract, oldest first."""
    rows = session.scalars(select(Instance).join(Definition, Definition.id == Instance.definition_id)
                           .where(Definition.key == bindings.SUPPLEMENTARY_CONTRACT, Instance.id != instance_id,
                                  Instance.status.in_(COUNTED))
                           .order_by(Instance.created_at, Instance.id)
                           .options(load_only(Instance.id, Instance.business_key, Instance.data)))
    return [r for r in rows if _names(r.data or {}, project_code, contract_no)]


def original_contract(session, project_code: Any, contract_no: Any, lock: bool = False) -> Instance | None:
    """The post_award contract a supplement names (its contract_no and project code), locked when asked."""
    query = (select(Instance).join(Definition, Definition.id == Instance.definition_id)
             .where(Definition.key == bindings.POST_AWARD).options(load_only(Instance.id, Instance.data)))
    for row in session.scalars(query):
        data = row.data or {}
        if data.get("contract_no") == contract_no and data.get("project_code") == project_code:
            if lock:
                session.scalars(select(Instance.id).where(Instance.id == row.id).with_for_update()).all()
            return row
    return None


def _money(value: Any) -> Decimal:
    return values.amount_of(value) if value not in (None, "") else Decimal(0)


def on_start(step, typed: dict[str, Any]) -> None:
    """A supplementary contract's start: check the original amount and the cumulative cap; fix supplements_before."""
    if step.definition.key != bindings.SUPPLEMENTARY_CONTRACT:
        return
    session = step.session
    project_code, contract_no = typed.get("project_code"), typed.get("original_contract_no")
    errors: dict[str, list[str]] = {}
    contract = original_contract(session, project_code, contract_no, lock=True)
    original = _money(typed.get("original_amount"))
    if contract is not None:
        cdata = contract.data or {}
        held = _money(cdata.get("signed_amount") if cdata.get("signed_amount") not in (None, "")
                      else cdata.get("contract_amount"))
        if held != original:
            errors["data.original_amount"] = [
                f"{values.format_money(original)} is not the amount of contract {contract_no} as Lvyue holds it "
                f"({values.format_money(held)})"]
    before = earlier(session, step.instance.id, project_code, contract_no)
    total_before = sum((_money((s.data or {}).get("change_amount")) for s in before), Decimal(0))
    ledger = ledger_increases(contract.data or {}) if contract is not None else Decimal(0)
    total_before += ledger
    change = _money(typed.get("change_amount"))
    if typed.get("track") == GP and not errors:
        cap = timing.registry().limit("G07", _today())
        limit = (original * cap.max_percent / 100).quantize(values.FEN)
        if total_before + change > limit:
            listed = ", ".join(f"{s.business_key} {values.format_money(_money((s.data or {}).get('change_amount')))}"
                               for s in before) or "none"
            errors["data.change_amount"] = [
                f"all supplementary contracts of contract {contract_no} together would come to "
                f"{values.format_money(total_before + change)} (earlier: {listed}; the contract's change ledger "
                f"{values.format_money(ledger)}; this one "
                f"{values.format_money(change)}), more than {cap.max_percent}% of the original amount "
                f"{values.format_money(original)} = {values.format_money(limit)} (G07, {cap.legal_basis})"]
    if errors:
        raise Invalid("the supplementary contract is refused", errors)
    spiff.set_shared(step.wf, SUPPLEMENTS_BEFORE, total_before)
    step.record("supplements_counted", None, {"before": values.format_money(total_before),
                                               "supplements": [s.business_key for s in before],
                                               "original_contract": contract.id if contract is not None else None})


def ledger_increases(data: dict[str, Any]) -> Decimal:
    """The value increases of a contract's change ledger (proposed or accepted) that count towards G07."""
    return sum((max(_money(c.get("amount")), Decimal(0)) for c in data.get("changes") or []
                if c.get("status") in ("proposed", "accepted") and c.get("amount") is not None), Decimal(0))


def _today():
    """The engine clock's date in China: the cap in force today."""
    return values.today()
