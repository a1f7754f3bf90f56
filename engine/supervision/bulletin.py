"""The monthly market bulletin (交易大数据月报) over the imported tenders and the contracts their awards started.

Which month a tender belongs to: the China date of its first active award; a tender without one, the day its
bids were opened (`tenderPeriod.endDate`); without that, the day of its latest release. Amounts are the
awarded amounts (active awards, CNY), summed exactly; percentages are rounded half up to 2 decimals.

Figures (each defined under `definitions` of the response, docs/intake.md "Market bulletin"):

* `tenders` — tenders of the month, how many have an active award, the awarded amount;
* `by_sector`, `by_procedure`, `by_department` — the same per mainProcurementCategory, procurementMethod and
  supervising department (`null` where unknown), with each one's share of the month's amount;
* `trend` — the previous month's count and amount, and the change in percent (null from zero);
* `size` — awarded tenders by their awarded amount: < 1 million, 1–10 million, 10–100 million, ≥ 100 million;
* `competition` — bids, bids per tender (mean, median), tenders with a single bid;
* `bidders` — distinct bidders of the month (`active`), and those of them with no bid in an earlier month
  (`new_entrants`);
* `openness` — awards won by a firm registered outside the buyer's city (the first 4 digits of the
  administrative division in their unified social credit codes differ), by count and by amount; awards where
  either region is unknown are counted apart and left out of the shares;
* `concentration` — winners, the Herfindahl-Hirschman index over the winners' shares of the awarded amount
  (in percent points squared, 0–10 000), the top-5 winners' share;
* `contracts` — awards of the month whose post_award contract was started, and their awarded amount.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.access.directory import Principal
from engine.errors import Forbidden, NotFound
from engine.runtime import values
from engine.storage.db import Database
from engine.storage.models import Tender, TenderAward, TenderBid, TenderParty
from engine.supervision import credit, csv_export, reports

MILLION = Decimal(1_000_000)
SIZE_BANDS = (("<1M", Decimal(0), MILLION), ("1M-10M", MILLION, 10 * MILLION),
              ("10M-100M", 10 * MILLION, 100 * MILLION), (">=100M", 100 * MILLION, None))
CITY_DIGITS = 4  # the prefecture-level city of a GB/T 2260 division code
TOP = 5

DEFINITIONS = {
    "month": "a tender belongs to the month (China time) of its first active award, else of its bid opening, "
             "else of its latest release",
    "tenders.amount": "sum of the amounts of the month's tenders' active awards (CNY)",
    "share_pct": "a group's amount / the month's amount × 100, rounded half up to 2 decimals",
    "trend": "change from the previous month in percent: (this − previous) / previous × 100; null when previous is 0",
    "size": "awarded tenders by awarded amount: [0, 1M), [1M, 10M), [10M, 100M), [100M, ∞)",
    "competition.bids_per_tender": "bids of the month's tenders / tenders (mean), and the median",
    "bidders.new_entrants": "active bidders (by scheme:identifier) without a bid in a tender of an earlier month",
    "openness": "an award is out of region when the winner's registration city (USCC characters 3–6) differs "
                "from the buyer's; awards with either unknown are `unknown_region` and not in the shares",
    "concentration.hhi": "Σ (winner's share of the month's awarded amount in %)², 0–10 000",
    "concentration.top5_share_pct": "the 5 largest winners' share of the month's awarded amount",
    "contracts": "awards of the month that started their post_award contract, and their awarded amount",
}


@dataclass
class _Tender:
    ocid: str
    sector: str | None
    procedure: str | None
    department: str | None
    buyer_region: str | None
    month: str
    awards: list[tuple[Decimal, str | None, str | None, bool]] = field(default_factory=list)  # amount, winner, region, started
    bidders: set[str] = field(default_factory=set)
    bids: int = 0


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _previous(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:])
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def _pct(part: Decimal, whole: Decimal) -> str | None:
    if not whole:
        return None
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP))


def _money(value: Decimal) -> str:
    return values.format_money(value)


def load(session: Session) -> list[_Tender]:
    """Every imported tender with its month, bids, active awards and the regions the openness figure needs."""
    regions = {(ocid, key): region for ocid, key, region in session.execute(
        select(TenderParty.ocid, TenderParty.key, TenderParty.region))}
    awards: dict[str, list] = defaultdict(list)
    for ocid, amount, day, winner, instance in session.execute(
            select(TenderAward.ocid, TenderAward.amount, TenderAward.awarded_on, TenderAward.supplier_key,
                   TenderAward.instance_id).where(TenderAward.status == "active")):
        awards[ocid].append((amount or Decimal(0), day, winner, instance is not None))
    bids: dict[str, list[str | None]] = defaultdict(list)
    for ocid, key in session.execute(select(TenderBid.ocid, TenderBid.tenderer_key)):
        bids[ocid].append(key)
    out = []
    for ocid, sector, procedure, dept, buyer, opened, released in session.execute(
            select(Tender.ocid, Tender.sector, Tender.procedure, Tender.department_code, Tender.buyer_key,
                   Tender.opened_on, Tender.released_at)):
        days = [d for _, d, _, _ in awards.get(ocid, []) if d is not None]
        day = min(days) if days else opened or released.astimezone(clock.SHANGHAI).date()
        t = _Tender(ocid, sector, procedure, dept, regions.get((ocid, buyer)), _month(day))
        t.awards = [(amount, winner, regions.get((ocid, winner)), started)
                    for amount, _, winner, started in awards.get(ocid, [])]
        t.bids = len(bids.get(ocid, []))
        t.bidders = {k for k in bids.get(ocid, []) if k}
        out.append(t)
    return out


def _amount(t: _Tender) -> Decimal:
    return sum((a for a, _, _, _ in t.awards), Decimal(0))


def _groups(tenders: list[_Tender], attr: str, total: Decimal) -> list[dict[str, Any]]:
    groups: dict[Any, list[_Tender]] = defaultdict(list)
    for t in tenders:
        groups[getattr(t, attr)].append(t)
    rows = []
    for key in sorted(groups, key=lambda k: (k is None, k or "")):
        amount = sum((_amount(t) for t in groups[key]), Decimal(0))
        rows.append({"key": key, "count": len(groups[key]), "awarded": sum(1 for t in groups[key] if t.awards),
                     "amount": _money(amount), "share_pct": _pct(amount, total)})
    return rows


def compute(tenders: list[_Tender], month: str) -> dict[str, Any]:
    """The bulletin of `month` over `tenders` (pure)."""
    these = [t for t in tenders if t.month == month]
    before = [t for t in tenders if t.month < month]
    prev = [t for t in tenders if t.month == _previous(month)]
    total = sum((_amount(t) for t in these), Decimal(0))
    prev_total = sum((_amount(t) for t in prev), Decimal(0))

    size = []
    for band, low, high in SIZE_BANDS:
        inside = [t for t in these if t.awards and _amount(t) >= low and (high is None or _amount(t) < high)]
        size.append({"band": band, "from": _money(low), "to": _money(high) if high is not None else None,
                     "count": len(inside), "amount": _money(sum((_amount(t) for t in inside), Decimal(0)))})

    counts = [t.bids for t in these]
    active = set().union(*(t.bidders for t in these)) if these else set()
    earlier = set().union(*(t.bidders for t in before)) if before else set()

    awards = [a for t in these for a in ((amount, winner, region, started, t.buyer_region)
                                         for amount, winner, region, started in t.awards)]
    known = [a for a in awards if a[2] and a[4]]
    outside = [a for a in known if a[2][:CITY_DIGITS] != a[4][:CITY_DIGITS]]
    known_amount = sum((a[0] for a in known), Decimal(0))
    outside_amount = sum((a[0] for a in outside), Decimal(0))

    by_winner: dict[str, Decimal] = defaultdict(Decimal)
    for amount, winner, *_ in awards:
        if winner:
            by_winner[winner] += amount
    shares = [amount * 100 / total for amount in by_winner.values()] if total else []
    top = sorted(by_winner.values(), reverse=True)[:TOP]
    started = [a for a in awards if a[3]]

    return {
        "month": month,
        "tenders": {"count": len(these), "awarded": sum(1 for t in these if t.awards), "amount": _money(total)},
        "by_sector": _groups(these, "sector", total),
        "by_procedure": _groups(these, "procedure", total),
        "by_department": _groups(these, "department", total),
        "trend": {"previous_month": _previous(month), "previous_count": len(prev), "previous_amount": _money(prev_total),
                  "count_change_pct": _pct(len(these) - len(prev), len(prev)),
                  "amount_change_pct": _pct(total - prev_total, prev_total)},
        "size": size,
        "competition": {"bids": sum(counts),
                        "bids_per_tender": str((Decimal(sum(counts)) / len(counts)).quantize(Decimal("0.01"), ROUND_HALF_UP)) if counts else None,
                        "median_bids": str(Decimal(str(statistics.median(counts)))) if counts else None,
                        "single_bid_tenders": sum(1 for c in counts if c == 1)},
        "bidders": {"active": len(active), "new_entrants": len(active - earlier)},
        "openness": {"awards": len(awards), "unknown_region": len(awards) - len(known), "out_of_region": len(outside),
                     "count_share_pct": _pct(len(outside), len(known)), "amount": _money(outside_amount),
                     "amount_share_pct": _pct(outside_amount, known_amount)},
        "concentration": {"winners": len(by_winner),
                          "hhi": str(sum((s * s for s in shares), Decimal(0)).quantize(Decimal("0.01"), ROUND_HALF_UP)) if shares else None,
                          "top5_share_pct": _pct(sum(top, Decimal(0)), total)},
        "contracts": {"started": len(started), "amount": _money(sum((a[0] for a in started), Decimal(0)))},
        "definitions": DEFINITIONS,
    }


def monthly(db: Database, principal: Principal, month: str) -> dict[str, Any]:
    """The bulletin of `month` (YYYY-MM) over the whole market: operators, supervisors, admins. 404 when no
    tender was imported at all."""
    if principal.role not in ("admin", "operator", "supervisor"):
        raise Forbidden("the market bulletin is for operators, supervisors and admins")
    credit.month_days(month)  # 422 naming `month` unless YYYY-MM
    with db.read() as session:
        tenders = load(session)
    if not tenders:
        raise NotFound("no tender has been imported")
    return compute(tenders, month)


def to_csv(bulletin: dict[str, Any]) -> str:
    """Rows `section,figure,value` (the definitions left out), as the monthly report's CSV."""
    return csv_export.write(["section", "figure", "value"],
                            ([section, path, value] for section, body in bulletin.items()
                             if section not in ("definitions", "month") for path, value in reports.flatten(body)))
