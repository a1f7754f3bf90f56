"""Risk indicators of bid rigging and fraud over the imported tenders, and the leads they raise.

The indicators, their definitions, thresholds, legal bases and the lead type each feeds are data:
`risk_rules.json` (docs/intake.md "Risk indicators"). They are computed from the stored tenders, bids, parties
and awards by pure functions over a `Market` (no database inside them):

* K01 shared identifier, K02 price cluster, K04 identical documents — pairs of bidders within one tender;
* K03 ceiling ratio, K05 abnormal win rate — one bidder across tenders;
* K06 winner rotation — a pair of bidders across the tenders they meet in;
* K07 expert outlier — an evaluation expert and the bidder it scored apart.

Leads: hits are grouped by lead type, subjects (the pair, the bidder, the expert and bidder) and the
supervising department of the tenders; a group becomes a lead when its tenders reach the lead type's
`min_tenders`, or at once when one of its indicators is listed `alone`. A lead is written once per group
(its fingerprint) and extended when later imports add tenders or evidence. It goes to the department the
department's lead routes name for the type (`lvyue departments route CODE --lead-type T --to DEPT`, e.g.
bid_rigging → the public security bureau), else to the department's escalation target.
"""
from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import combinations
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import clock
from engine.access.directory import Principal
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.runtime import values
from engine.storage.db import Database
from engine.storage.models import (Department, LeadRoute, RiskLead, Tender, TenderAward, TenderBid, TenderParty,
                                  TradeRelease)
from engine.storage.pagination import page
from engine.supervision import credit

RULES_FILE = Path(__file__).resolve().parent / "risk_rules.json"
SCOPES = ("pair", "bidder", "expert")


# ---------------------------------------------------------------- the rules
@dataclass(frozen=True)
class Indicator:
    id: str
    name: str
    scope: str
    title: str
    definition: str
    thresholds: dict[str, Any]
    lead_type: str | None
    legal_basis: str
    verified: str
    notes: str

    def number(self, name: str) -> Decimal:
        return Decimal(str(self.thresholds[name]))


@dataclass(frozen=True)
class Rules:
    version: str
    indicators: dict[str, Indicator]
    leads: dict[str, dict[str, Any]]

    def by_name(self, name: str) -> Indicator:
        return next(i for i in self.indicators.values() if i.name == name)


def parse_rules(raw: dict[str, Any]) -> Rules:
    """The rules in `raw` (risk_rules.json's shape); ValueError naming what is wrong."""
    indicators = {}
    for entry in raw["indicators"]:
        ind = Indicator(entry["id"], entry["name"], entry["scope"], entry["title"], entry["definition"],
                        dict(entry["thresholds"]), entry["lead_type"], entry["legal_basis"], entry["verified"],
                        entry.get("notes", ""))
        if ind.id in indicators or ind.scope not in SCOPES:
            raise ValueError(f"indicator {ind.id}: repeated or of unknown scope {ind.scope!r}")
        if ind.lead_type is not None and ind.lead_type not in raw["leads"]:
            raise ValueError(f"indicator {ind.id}: lead type {ind.lead_type!r} is not under `leads`")
        for name, value in ind.thresholds.items():
            if name != "fields" and not isinstance(value, (int, str)) or isinstance(value, bool):
                raise ValueError(f"indicator {ind.id}: threshold {name} must be an integer or a decimal string")
        indicators[ind.id] = ind
    names = {i.name for i in indicators.values()}
    missing = {"shared_identifier", "price_cluster", "ceiling_ratio", "identical_documents", "abnormal_win_rate",
               "winner_rotation", "expert_outlier"} - names
    if missing:
        raise ValueError(f"indicators missing: {', '.join(sorted(missing))}")
    return Rules(raw["version"], indicators, raw["leads"])


@lru_cache(maxsize=1)
def rules() -> Rules:
    return parse_rules(json.loads(RULES_FILE.read_text(encoding="utf-8")))


# ---------------------------------------------------------------- the market (what the indicators read)
@dataclass(frozen=True)
class TenderFacts:
    ocid: str
    title: str | None
    sector: str | None
    department: str | None
    ceiling: Decimal | None


@dataclass(frozen=True)
class BidFacts:
    key: str
    amount: Decimal | None
    hashes: tuple[str, ...]
    scores: tuple[tuple[str, Decimal], ...]
    marks: tuple[tuple[str, tuple[str, ...]], ...] = ()   # (("author", (...)), ("machine", (...)))


@dataclass(frozen=True)
class PartyFacts:
    name: str
    phone: str | None
    address: str | None
    legal_representative: str | None


@dataclass
class Market:
    tenders: dict[str, TenderFacts] = field(default_factory=dict)
    bids: dict[str, list[BidFacts]] = field(default_factory=lambda: defaultdict(list))
    parties: dict[str, dict[str, PartyFacts]] = field(default_factory=lambda: defaultdict(dict))
    winners: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def name(self, key: str) -> str:
        for parties in self.parties.values():
            if key in parties:
                return parties[key].name
        return key


def load_market(session: Session) -> Market:
    """Every imported tender with its bids (by tenderer key), parties (by key) and active awards' winners."""
    market = Market()
    for ocid, title, sector, dept, ceiling in session.execute(
            select(Tender.ocid, Tender.title, Tender.sector, Tender.department_code, Tender.ceiling)):
        market.tenders[ocid] = TenderFacts(ocid, title, sector, dept, ceiling)
    for ocid, key, amount, hashes, scores, marks in session.execute(
            select(TenderBid.ocid, TenderBid.tenderer_key, TenderBid.amount, TenderBid.document_hashes, TenderBid.scores,
                   TenderBid.document_marks).order_by(TenderBid.ocid, TenderBid.bid_id)):
        if key:
            market.bids[ocid].append(BidFacts(key, amount, tuple(hashes or ()),
                                              tuple((s["expert"], Decimal(s["score"])) for s in scores or ()),
                                              tuple((k, tuple(v)) for k, v in sorted((marks or {}).items()) if v)))
    for ocid, key, name, phone, address, rep in session.execute(
            select(TenderParty.ocid, TenderParty.key, TenderParty.name, TenderParty.phone, TenderParty.address,
                   TenderParty.legal_representative)):
        if key:
            market.parties[ocid][key] = PartyFacts(name, phone, address, rep)
    for ocid, key in session.execute(select(TenderAward.ocid, TenderAward.supplier_key)
                                     .where(TenderAward.status == "active")):
        if key:
            market.winners[ocid].add(key)
    return market


# ---------------------------------------------------------------- the indicators (pure)
@dataclass(frozen=True)
class Hit:
    indicator: str
    subjects: tuple[str, ...]
    ocids: tuple[str, ...]
    evidence: dict[str, Any]

    def view(self, rules_: Rules) -> dict[str, Any]:
        ind = rules_.indicators[self.indicator]
        return {"indicator": self.indicator, "name": ind.name, "title": ind.title, "subjects": list(self.subjects),
                "ocids": list(self.ocids), "evidence": self.evidence, "lead_type": ind.lead_type,
                "legal_basis": ind.legal_basis}


def _norm(value: str | None) -> str | None:
    if not value:
        return None
    return "".join(c for c in value if c not in " -－—\t").lower() or None


def _bidders(market: Market, ocid: str) -> list[str]:
    return sorted({b.key for b in market.bids.get(ocid, [])})


DOCUMENT_FIELDS = {"document_author": "author", "document_machine": "machine"}


def _document_marks(market: Market, ocid: str) -> dict[str, dict[str, set[str]]]:
    """bidder → mark kind → the values its bid files carry in this tender."""
    out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for b in market.bids.get(ocid, []):
        for kind, found in b.marks:
            out[b.key][kind].update(found)
    return out


def shared_identifier(market: Market, ind: Indicator) -> list[Hit]:
    fields_, least = ind.thresholds["fields"], int(ind.thresholds["min_shared"])
    party_fields = [f for f in fields_ if f not in DOCUMENT_FIELDS]
    hits = []
    for ocid in sorted(market.bids):
        parties = market.parties.get(ocid, {})
        keys = [k for k in _bidders(market, ocid) if k in parties]
        marks = _document_marks(market, ocid)
        for a, b in combinations(keys, 2):
            shared = {f: {a: getattr(parties[a], f), b: getattr(parties[b], f)} for f in party_fields
                      if _norm(getattr(parties[a], f)) and _norm(getattr(parties[a], f)) == _norm(getattr(parties[b], f))}
            for f, kind in DOCUMENT_FIELDS.items():
                common = sorted(marks[a][kind] & marks[b][kind]) if f in fields_ else []
                if common:
                    shared[f] = {a: common, b: common}
            if len(shared) >= least:
                hits.append(Hit(ind.id, (a, b), (ocid,), {"shared": shared}))
    return hits


def price_cluster(market: Market, ind: Indicator) -> list[Hit]:
    gap = ind.number("max_relative_gap")
    hits = []
    for ocid in sorted(market.bids):
        priced = sorted((b.amount, b.key) for b in market.bids[ocid] if b.amount is not None and b.amount > 0)
        seen = set()
        for i, (low, a) in enumerate(priced):
            for high, b in priced[i + 1:]:
                if (high - low) / low > gap:
                    break
                pair = tuple(sorted((a, b)))
                if a != b and pair not in seen:
                    seen.add(pair)
                    hits.append(Hit(ind.id, pair, (ocid,), {
                        "amounts": {a: values.format_money(low), b: values.format_money(high)},
                        "relative_gap": str(((high - low) / low).quantize(Decimal("0.000001")))}))
    return hits


def ceiling_ratio(market: Market, ind: Indicator) -> list[Hit]:
    tolerance, least = ind.number("tolerance"), int(ind.thresholds["min_tenders"])
    ratios: dict[str, list[tuple[Decimal, str]]] = defaultdict(list)
    for ocid, bids in market.bids.items():
        ceiling = market.tenders[ocid].ceiling if ocid in market.tenders else None
        if not ceiling:
            continue
        for b in bids:
            if b.amount is not None:
                ratios[b.key].append((b.amount / ceiling, ocid))
    hits = []
    for key in sorted(ratios):
        points = sorted(ratios[key])
        best: list[tuple[Decimal, str]] = []
        start = 0
        for end in range(len(points)):
            while points[end][0] - points[start][0] > tolerance:
                start += 1
            if end - start + 1 > len(best):
                best = points[start:end + 1]
        if len(best) >= least:
            hits.append(Hit(ind.id, (key,), tuple(sorted(o for _, o in best)), {
                "ratios": {o: str(r.quantize(Decimal("0.000001"))) for r, o in sorted(best, key=lambda p: p[1])}}))
    return hits


def identical_documents(market: Market, ind: Indicator) -> list[Hit]:
    hits = []
    for ocid in sorted(market.bids):
        by_hash: dict[str, set[str]] = defaultdict(set)
        for b in market.bids[ocid]:
            for h in b.hashes:
                by_hash[h].add(b.key)
        pairs: dict[tuple[str, str], list[str]] = defaultdict(list)
        for h, keys in sorted(by_hash.items()):
            for pair in combinations(sorted(keys), 2):
                pairs[pair].append(h)
        for pair, hashes in sorted(pairs.items()):
            hits.append(Hit(ind.id, pair, (ocid,), {"sha256": hashes}))
    return hits


def abnormal_win_rate(market: Market, ind: Indicator) -> list[Hit]:
    least_bids, multiple, least_bidders = (int(ind.thresholds["min_bids"]), ind.number("multiple"),
                                           int(ind.thresholds["min_bidders"]))
    bids: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    won: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for ocid, tender_bids in market.bids.items():
        sector = market.tenders[ocid].sector if ocid in market.tenders else None
        for key in {b.key for b in tender_bids}:
            bids[sector][key] += 1
            if key in market.winners.get(ocid, ()):
                won[sector][key].append(ocid)
    hits = []
    for sector in sorted(bids, key=str):
        total_bids = sum(bids[sector].values())
        total_wins = sum(len(v) for v in won[sector].values())
        if len(bids[sector]) < least_bidders or not total_bids or not total_wins:
            continue
        sector_rate = Decimal(total_wins) / total_bids
        for key in sorted(bids[sector]):
            n, wins = bids[sector][key], won[sector].get(key, [])
            rate = Decimal(len(wins)) / n
            if n >= least_bids and rate >= multiple * sector_rate:
                hits.append(Hit(ind.id, (key,), tuple(sorted(wins)), {
                    "sector": sector, "bids": n, "wins": len(wins), "win_rate": str(rate.quantize(Decimal("0.0001"))),
                    "sector_win_rate": str(sector_rate.quantize(Decimal("0.0001")))}))
    return hits


def winner_rotation(market: Market, ind: Indicator) -> list[Hit]:
    least = int(ind.thresholds["min_tenders"])
    met: dict[tuple[str, str], list[str]] = defaultdict(list)
    for ocid in sorted(market.bids):
        for pair in combinations(_bidders(market, ocid), 2):
            met[pair].append(ocid)
    hits = []
    for pair, ocids in sorted(met.items()):
        if len(ocids) < least:
            continue
        winners = {}
        for ocid in ocids:
            inside = sorted(set(pair) & market.winners.get(ocid, set()))
            if inside:
                winners[ocid] = inside[0]
        if len(winners) >= least and set(winners.values()) == set(pair):
            hits.append(Hit(ind.id, pair, tuple(sorted(winners)), {"met_in": ocids, "winners": winners}))
    return hits


def expert_outlier(market: Market, ind: Indicator) -> list[Hit]:
    least, gap = int(ind.thresholds["min_experts"]), ind.number("max_gap")
    hits = []
    for ocid in sorted(market.bids):
        for b in market.bids[ocid]:
            if len(b.scores) < least:
                continue
            for i, (expert, score) in enumerate(b.scores):
                others = [s for j, (_, s) in enumerate(b.scores) if j != i]
                mean = sum(others) / len(others)
                if abs(score - mean) > gap:
                    hits.append(Hit(ind.id, (f"expert:{expert}", b.key), (ocid,), {
                        "expert": expert, "bidder": b.key, "score": str(score),
                        "others_mean": str(mean.quantize(Decimal("0.01")))}))
    return hits


COMPUTE = {"shared_identifier": shared_identifier, "price_cluster": price_cluster, "ceiling_ratio": ceiling_ratio,
           "identical_documents": identical_documents, "abnormal_win_rate": abnormal_win_rate,
           "winner_rotation": winner_rotation, "expert_outlier": expert_outlier}


def indicators(market: Market, rules_: Rules | None = None) -> list[Hit]:
    """Every hit of every indicator over `market`, in indicator order."""
    rules_ = rules_ or rules()
    out: list[Hit] = []
    for ind in sorted(rules_.indicators.values(), key=lambda i: i.id):
        out.extend(COMPUTE[ind.name](market, ind))
    return out


# ---------------------------------------------------------------- leads
@dataclass
class LeadDraft:
    lead_type: str
    subjects: tuple[str, ...]
    department: str | None
    hits: list[Hit]

    @property
    def ocids(self) -> list[str]:
        return sorted({o for h in self.hits for o in h.ocids})

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps([self.lead_type, self.subjects, self.department]).encode()).hexdigest()


def drafts(market: Market, hits: list[Hit], rules_: Rules | None = None) -> list[LeadDraft]:
    """The leads the hits raise (module doc): grouped by type, subjects and department, above threshold."""
    rules_ = rules_ or rules()
    groups: dict[tuple, LeadDraft] = {}
    for hit in hits:
        lead_type = rules_.indicators[hit.indicator].lead_type
        if lead_type is None:
            continue
        by_dept: dict[str | None, list[str]] = defaultdict(list)
        for ocid in hit.ocids:
            by_dept[market.tenders[ocid].department if ocid in market.tenders else None].append(ocid)
        for dept, ocids in by_dept.items():
            part = hit if len(by_dept) == 1 else Hit(hit.indicator, hit.subjects, tuple(ocids), hit.evidence)
            key = (lead_type, hit.subjects, dept)
            groups.setdefault(key, LeadDraft(lead_type, hit.subjects, dept, [])).hits.append(part)
    out = []
    for draft in groups.values():
        spec = rules_.leads[draft.lead_type]
        if len(draft.ocids) >= int(spec["min_tenders"]) or any(h.indicator in spec.get("alone", ()) for h in draft.hits):
            out.append(draft)
    return sorted(out, key=lambda d: (d.lead_type, d.subjects, d.department or ""))


def evidence(market: Market, draft: LeadDraft, rules_: Rules) -> dict[str, Any]:
    """Which tenders, which fields: per tender the hits on it alone; the hits across tenders beside them."""
    tenders = []
    for ocid in draft.ocids:
        t = market.tenders.get(ocid)
        tenders.append({"ocid": ocid, "title": t.title if t else None, "department": t.department if t else None,
                        "hits": [{"indicator": h.indicator, "title": rules_.indicators[h.indicator].title, **h.evidence}
                                 for h in draft.hits if h.ocids == (ocid,)]})
    subjects = [{"key": s, "name": s if s.startswith("expert:") else market.name(s)} for s in draft.subjects]
    return {"lead_type": draft.lead_type, "title": rules_.leads[draft.lead_type]["title"], "subjects": subjects,
            "tenders": tenders,
            "across_tenders": [{"indicator": h.indicator, "title": rules_.indicators[h.indicator].title,
                                "ocids": list(h.ocids), **h.evidence} for h in draft.hits if len(h.ocids) > 1],
            "indicators": sorted({h.indicator for h in draft.hits}),
            "legal_basis": sorted({rules_.indicators[h.indicator].legal_basis for h in draft.hits}),
            "rules_version": rules_.version}


def route(session: Session, department: str | None, lead_type: str) -> str | None:
    """Where a department's leads of `lead_type` go: its lead route for the type, else its escalation target."""
    if department is None:
        return None
    routed = session.get(LeadRoute, (department, lead_type))
    if routed is not None:
        return routed.to_department
    dept = session.get(Department, department)
    return dept.escalates_to if dept is not None else None


def write_leads(session: Session, market: Market, hits: list[Hit], now: datetime,
                rules_: Rules | None = None) -> dict[str, int]:
    """Write the leads the hits raise: new groups created, groups with new tenders or evidence updated."""
    rules_ = rules_ or rules()
    found = drafts(market, hits, rules_)
    existing = {r.fingerprint: r for r in session.scalars(select(RiskLead))}
    created = updated = 0
    for draft in found:
        proof = evidence(market, draft, rules_)
        row = existing.get(draft.fingerprint)
        if row is None:
            session.add(RiskLead(id=str(uuid.uuid4()), fingerprint=draft.fingerprint, lead_type=draft.lead_type,
                                 indicators=proof["indicators"], subjects=proof["subjects"], ocids=draft.ocids,
                                 department_code=draft.department, to_department=route(session, draft.department, draft.lead_type),
                                 evidence=proof, created_at=now, updated_at=now))
            created += 1
        elif row.evidence != proof:
            row.evidence, row.ocids, row.indicators, row.updated_at = proof, draft.ocids, proof["indicators"], now
            updated += 1
    return {"created": created, "updated": updated}


def scan(db: Database, now: datetime | None = None) -> dict[str, int]:
    """Compute every indicator over the stored market and write the leads (after each import)."""
    now = now or clock.now()
    for attempt in (1, 2):
        try:
            with db.transaction() as session:
                market = load_market(session)
                return write_leads(session, market, indicators(market), now)
        except IntegrityError:
            if attempt == 2:  # a concurrent scan wrote the same leads twice in a row: theirs stand
                raise Conflict("a concurrent risk scan wrote these leads; they stand as it wrote them") from None
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- the hits as of the last import
_CACHE: dict[str, tuple[tuple, Market, list[Hit]]] = {}
_CACHE_LOCK = threading.Lock()


def current_hits(db: Database) -> list[Hit]:
    """Every hit over the stored market, computed again only when an import added releases since (keyed by the
    number of stored releases, the latest import instant and the greatest release id), so a page showing one
    tender's indicators does not recompute the market each time. The market stays in memory (about 50 MB at
    10,000 tenders)."""
    return _current(db)[1]


def _current(db: Database) -> tuple[Market, list[Hit]]:
    with db.read() as session:
        key = tuple(session.execute(select(func.count(TradeRelease.release_id), func.max(TradeRelease.imported_at),
                                           func.max(TradeRelease.release_id))).one())
        cached = _CACHE.get(db.url)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        market = load_market(session)
    hits = indicators(market)
    with _CACHE_LOCK:
        _CACHE[db.url] = (key, market, hits)
    return market, hits


# ---------------------------------------------------------------- use cases (read)
def _reader(principal: Principal) -> None:
    if principal.role not in ("admin", "operator", "supervisor"):
        raise Forbidden("the risk indicators are for operators, supervisors and admins")


def tender_hits(db: Database, principal: Principal, ocid: str) -> dict[str, Any]:
    """The hits touching one tender (as its contract's page shows them)."""
    _reader(principal)
    with db.read() as session:
        tender = session.get(Tender, ocid)
        if tender is None or (principal.role == "supervisor" and tender.department_code not in principal.departments):
            raise NotFound(f"no tender {ocid}")
    r = rules()
    return {"ocid": ocid, "rules_version": r.version, "hits": [h.view(r) for h in current_hits(db) if ocid in h.ocids]}


def all_hits(db: Database, principal: Principal, indicator: str | None = None) -> dict[str, Any]:
    _reader(principal)
    r = rules()
    if indicator is not None and indicator not in r.indicators:
        raise Invalid("unknown indicator", {"indicator": [f"one of {', '.join(sorted(r.indicators))}"]})
    market, hits = _current(db)
    hits = [h for h in hits if indicator is None or h.indicator == indicator]
    if principal.role == "supervisor":
        hits = [h for h in hits if any(market.tenders[o].department in principal.departments for o in h.ocids)]
    return {"rules_version": r.version, "hits": [h.view(r) for h in hits]}


def definitions() -> dict[str, Any]:
    r = rules()
    return {"version": r.version, "leads": r.leads,
            "indicators": [{"id": i.id, "name": i.name, "scope": i.scope, "title": i.title, "definition": i.definition,
                            "thresholds": i.thresholds, "lead_type": i.lead_type, "legal_basis": i.legal_basis,
                            "verified": i.verified, "notes": i.notes} for i in r.indicators.values()]}


def lead_view(lead: RiskLead) -> dict[str, Any]:
    return {"id": lead.id, "kind": "risk", "lead_type": lead.lead_type, "indicators": lead.indicators,
            "subjects": lead.subjects, "ocids": lead.ocids, "department": lead.department_code,
            "to_department": lead.to_department, "created_at": lead.created_at, "updated_at": lead.updated_at,
            "evidence": lead.evidence}


def list_leads(db: Database, principal: Principal, limit: int | None, cursor: str | None, month: str | None = None,
               lead_type: str | None = None) -> dict[str, Any]:
    """Risk leads, oldest first (admins; supervisors of the tenders' department or of the receiving one).
    `month` (YYYY-MM) selects by the day the lead was written, China time — the monthly transfer list."""
    if principal.role == "supervisor" and not principal.departments:
        raise Forbidden("a supervisor without a department sees no leads")
    if principal.role not in ("supervisor", "admin"):
        raise Forbidden("risk leads are for the supervising departments")
    if lead_type is not None and lead_type not in rules().leads:
        raise Invalid("unknown lead type", {"type": [f"one of {', '.join(sorted(rules().leads))}"]})
    with db.read() as session:
        query = select(RiskLead)
        if principal.role == "supervisor":
            depts = sorted(principal.departments)
            query = query.where(or_(RiskLead.department_code.in_(depts), RiskLead.to_department.in_(depts)))
        if lead_type:
            query = query.where(RiskLead.lead_type == lead_type)
        if month:
            first, last = credit.month_days(month)
            start = datetime.combine(first, datetime.min.time(), clock.SHANGHAI)
            end = datetime.combine(last + timedelta(days=1), datetime.min.time(), clock.SHANGHAI)
            query = query.where(RiskLead.created_at >= start, RiskLead.created_at < end)
        return page(session, query, [RiskLead.created_at, RiskLead.id], limit, cursor, lead_view)


def transfer_rows(session: Session, principal: Principal, window: tuple[datetime, datetime] | None,
                  wanted: tuple[str, ...]) -> list[tuple[datetime, str, dict[str, Any]]]:
    """The risk leads in the monthly transfer list (`GET /leads`, engine/supervision/credit.py `list_leads`):
    written in `window` (all when None), visible to `principal`, shaped as a lead of that list (`kind: risk`,
    status `pending`: written by the indicators, awaiting the receiving department)."""
    if "pending" not in wanted:
        return []
    query = select(RiskLead)
    if principal.role == "supervisor":
        depts = sorted(principal.departments)
        query = query.where(or_(RiskLead.department_code.in_(depts), RiskLead.to_department.in_(depts)))
    if window is not None:
        query = query.where(RiskLead.created_at >= window[0], RiskLead.created_at < window[1])
    out = []
    for lead in session.scalars(query):
        view = {"id": lead.id, "kind": "risk", "status": "pending", "alert_id": None, "instance_id": None,
                "business_key": None, "department": lead.department_code, "to_department": lead.to_department,
                "responsible_org": None, "code": lead.lead_type,
                "legal_basis": "；".join(lead.evidence.get("legal_basis", [])) or None,
                "escalated_at": lead.created_at, "confirmed_at": None, "confirmed_by": None, "note": None,
                "evidence": lead.evidence, "lead_type": lead.lead_type, "indicators": lead.indicators,
                "subjects": lead.subjects, "ocids": lead.ocids}
        out.append((lead.created_at, lead.id, view))
    return out


def set_route(session: Session, department: str, lead_type: str, to: str) -> None:
    """Send `department`'s risk leads of `lead_type` to `to` (e.g. bid_rigging → the public security bureau)."""
    if lead_type not in rules().leads:
        raise Invalid("unknown lead type", {"lead_type": [f"one of {', '.join(sorted(rules().leads))}"]})
    for field_, code in (("department", department), ("to", to)):
        if session.get(Department, code) is None:
            raise Invalid(f"no department {code}", {field_: [f"unknown department {code!r}"]})
    routed = session.get(LeadRoute, (department, lead_type))
    if routed is None:
        session.add(LeadRoute(department_code=department, lead_type=lead_type, to_department=to))
    else:
        routed.to_department = to
