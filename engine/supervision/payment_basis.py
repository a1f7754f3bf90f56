"""The payment basis of a contract: which rule governs its payment period, fixed once at the start.

支付条例 art 3 fixes whether the supplier is an SME at the conclusion of the contract, so a later change
of the organisation's record must not move an existing contract's clock. `post_award` binds both parties
when it starts (after the award notice, before signing), and the basis is fixed there and kept in the
instance data as `payment_basis`; signing follows within the statutory 30 days (R04/G03), so the status
read at the start is the status at conclusion but for a change inside that window.

The rule is chosen in the order the law gives (DOMAIN.md P01, P02, §7):

1. a public body (机关、事业单位; every government-procurement purchaser) paying an SME → P01: 30 days
   unless agreed, an agreed term at most 60 (the cap is checked by engine/supervision/contract_terms.py);
2. a large enterprise (e.g. an SOE) paying an SME → P02: 60 days unless agreed (2025 text only; a contract
   concluded before 2025-06-01 has no such default);
3. otherwise no SME rule: the contract's own term (CONTRACT).

The GP invoice clock (财库〔2019〕38号) is not applied: DOMAIN.md marks its wording unverified (§6.5, §7).
Pure: no database, no clock.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from engine.supervision import deadlines, interest
from engine.supervision.rules import RuleRegistry, UnknownRule

PUBLIC_BODY, LARGE_ENTERPRISE, OTHER = "public_body", "large_enterprise", "other"
EMPLOYER_KINDS = (PUBLIC_BODY, LARGE_ENTERPRISE, OTHER)
GOV_PROCUREMENT = "gov_procurement"

# The contract's own term: no statutory payment period applies, the parties' agreement binds (Civil Code art 509).
CONTRACT = "CONTRACT"
CONTRACT_BASIS = "合同约定的付款期限（《中华人民共和国民法典》第五百零九条第一款）"

_RULE_BY_EMPLOYER = {PUBLIC_BODY: "P01", LARGE_ENTERPRISE: "P02"}


def employer_kind(public_body: bool, large_enterprise: bool, track: str | None) -> str:
    """The employer's kind for the payment rules; a government-procurement purchaser is a public body."""
    if public_body or track == GOV_PROCUREMENT:
        return PUBLIC_BODY
    return LARGE_ENTERPRISE if large_enterprise else OTHER


def select(kind: str, contractor_sme: bool, on: date, registry: RuleRegistry):
    """The period rule (a registry `Rule` version in force on `on`) that governs the payment term, or None
    when no SME payment rule applies and the contract's own term governs."""
    if kind not in EMPLOYER_KINDS:
        raise ValueError(f"employer kind {kind!r}: one of {', '.join(EMPLOYER_KINDS)}")
    rule_id = _RULE_BY_EMPLOYER.get(kind) if contractor_sme else None
    if rule_id is None:
        return None
    try:
        return registry.get(rule_id, on)
    except UnknownRule:
        return None  # not in force on that date (P02 before 2025-06-01): the contract's term


def default_days(kind: str, contractor_sme: bool, on: date, registry: RuleRegistry) -> int | None:
    """The payment term a contract silent on it takes: the governing rule's period, None without one."""
    rule = select(kind, contractor_sme, on, registry)
    return rule.days if rule is not None else None


def fix(kind: str, contractor_sme: bool, term_days: int, agreed: bool, on: date, registry: RuleRegistry,
        agreed_interest: Decimal | None = None) -> dict[str, Any]:
    """The basis stored with the contract: the parties' status, the rule that applied and its legal basis,
    the term (days) the payment clock counts, and the late-payment interest it carries (interest.basis_interest:
    the agreed rate, P05's default under an SME rule, or none)."""
    rule = select(kind, contractor_sme, on, registry)
    rule_id = rule.id if rule is not None else CONTRACT
    return {"employer_kind": kind, "contractor_sme": bool(contractor_sme), "rule": rule_id,
            "legal_basis": rule.legal_basis if rule is not None else CONTRACT_BASIS,
            "term_days": term_days, "term_agreed": bool(agreed), "fixed_on": on.isoformat(),
            "interest": interest.basis_interest(rule_id, agreed_interest)}


def citation(basis: Mapping) -> str:
    """What an alert under this basis cites: the rule id and its legal basis."""
    return f"{basis['rule']} {basis['legal_basis']}"


def clock_start(delivered_at: date, accepted_at: date, acceptance_days: int, calendar) -> date:
    """The day the payment period runs from (P04): acceptance, or the last day of the agreed acceptance
    period when acceptance came later."""
    return min(accepted_at, deadlines.add_days(delivered_at, acceptance_days, calendar).last_day)
