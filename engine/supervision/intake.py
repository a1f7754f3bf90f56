"""Award intake: the trading platform's tenders, bids and awards as OCDS 1.1 release packages.

A package is checked in three layers before anything is written, and refused whole (422 naming the field
path, `releases.3.bids.details.0.value.amount`) on the first layer that fails:

1. bounded: at most MAX_PACKAGE_BYTES, MAX_RELEASES releases, and per release MAX_PARTIES parties,
   MAX_BIDS bids, MAX_AWARDS awards; JSON depth and numbers as engine/runtime/strictjson.py bounds them;
2. the official schemas: release-package-schema.json for the envelope and release-schema.json (OCDS 1.1.5)
   for each release, read from the folder LVYUE_OCDS_SCHEMA_DIR (default: the 1.1.5 schemas shipped in
   docs/ocds/standard-1__1__5/schema), with date-time and uri formats checked;
3. what Lvyue reads from it (docs/intake.md "Mapping"): amounts in CNY with at most 2 decimals, parties that
   bid, win or buy identified by scheme + id (a unified social credit code, scheme CN-USCC, with its check
   character), references to parties that exist, strings that fit their columns.

Then, in one transaction, each release is applied once (idempotent by release id; the same id with other
content is 409): its tender replaces the tender's fields, its parties, bids and awards are merged by their
ids (OCDS merge). Releases of one package are applied in date order. The result names each release
`created` (a new contracting process), `updated` or `unchanged`.
"""
from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import clock
from engine.access import authz
from engine.access.directory import Principal
from engine.errors import Conflict, Forbidden, Invalid, LvyueError, NotFound
from engine.runtime import strictjson, values
from engine.storage.db import Database
from engine.storage.models import (Department, Instance, Organisation, OrgIdentifier, Tender, TenderAward, TenderBid,
                                  TenderParty, TradeRelease)
from engine.storage.pagination import page
from engine.supervision import risk

MAX_PACKAGE_BYTES = 16 * 1024 * 1024
MAX_RELEASES = 2000
MAX_PARTIES = 200
MAX_BIDS = 300
MAX_AWARDS = 50
MAX_DOCUMENTS = 20
MAX_SCORES = 50
CURRENCY = "CNY"
USCC = "CN-USCC"
# Roles whose party must be identified (the risk indicators and the contract start match them across tenders).
IDENTIFIED_ROLES = ("buyer", "tenderer", "supplier")
DEPT_PREFIX = "dept-"  # a reviewBody party `dept-CODE` names Lvyue's supervising department CODE (as ocds.py exports it)
LENGTHS = {"id": 200, "name": 500, "title": 500, "phone": 64, "address": 500, "legal_representative": 200,
           "procedure_details": 200, "scheme": 32, "identifier": 80, "expert": 100, "mark": 200}
_HEX64 = re.compile(r"[0-9a-f]{64}")
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")
DEFAULT_SCHEMA_DIR = Path(__file__).resolve().parents[2] / "docs" / "ocds" / "standard-1__1__5" / "schema"


# ---------------------------------------------------------------- the unified social credit code (GB 32100-2015)
def uscc_check(code17: str) -> str:
    """The check character of the first 17 characters of a unified social credit code (GB 32100-2015 §4.5:
    weights 3^i mod 31 over the 31-character set, check = 31 − sum mod 31)."""
    total = sum(_USCC_CHARS.index(c) * (3 ** i % 31) for i, c in enumerate(code17))
    return _USCC_CHARS[(31 - total % 31) % 31]


def valid_uscc(code: str) -> bool:
    return bool(isinstance(code, str) and _USCC.fullmatch(code) and uscc_check(code[:17]) == code[17])


def uscc_region(code: str) -> str | None:
    """The administrative division code (6 digits, GB/T 2260) where the entity was registered."""
    return code[2:8] if valid_uscc(code) else None


# ---------------------------------------------------------------- the official schemas
_FORMATS = FormatChecker()


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value) -> bool:
    """RFC 3339: a full date, a time and an offset (jsonschema checks it only with extra packages)."""
    if not isinstance(value, str):
        return True
    if len(value) < 20 or value[10] != "T":
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    if datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is None:
        raise ValueError(f"no offset: {value!r}")
    return True


@_FORMATS.checks("uri", raises=ValueError)
def _uri(value) -> bool:
    if isinstance(value, str):
        parts = urlsplit(value)
        if not parts.scheme or not parts.netloc:
            raise ValueError(f"not an absolute URI: {value!r}")
    return True


@dataclass(frozen=True)
class Schemas:
    package: Draft4Validator
    release: Draft4Validator


class SchemasMissing(LvyueError):
    status = 503
    title = "OCDS schemas not available"


@lru_cache(maxsize=4)
def schemas(folder: Path = DEFAULT_SCHEMA_DIR) -> Schemas:
    """The validators of the official release-package and release schemas in `folder`."""
    try:
        release = json.loads((folder / "release-schema.json").read_text(encoding="utf-8"))
        package = json.loads((folder / "release-package-schema.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemasMissing(f"the official OCDS schemas are not readable in {folder} (LVYUE_OCDS_SCHEMA_DIR): "
                             f"{exc.__class__.__name__}") from None
    registry = Registry().with_resource(release["id"], Resource.from_contents(release, default_specification=DRAFT4))
    # The envelope alone: each release is checked against the release schema on its own (errors name its index).
    envelope = {**package, "properties": {**package["properties"], "releases": {"type": "array", "minItems": 1}}}
    return Schemas(Draft4Validator(envelope, format_checker=_FORMATS, registry=registry),
                   Draft4Validator(release, format_checker=_FORMATS))


def _schema_errors(validator: Draft4Validator, document: Any, prefix: str, errors: dict[str, list[str]]) -> None:
    for error in sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.path])[:50]:
        where = [*map(str, error.path)]
        if error.validator == "required" and isinstance(error.instance, dict):  # name the missing field itself
            where += [next((str(k) for k in error.validator_value if k not in error.instance), "")][:1]
        path = ".".join([prefix, *where]) if prefix else ".".join(where) or "body"
        errors.setdefault(path, []).append(f"OCDS schema: {error.message[:300]}")


# ---------------------------------------------------------------- the parsed package
@dataclass
class Party:
    party_id: str
    name: str
    roles: list[str]
    scheme: str | None = None
    identifier: str | None = None
    phone: str | None = None
    address: str | None = None
    legal_representative: str | None = None
    region: str | None = None
    scale: str | None = None

    @property
    def key(self) -> str | None:
        return f"{self.scheme}:{self.identifier}" if self.scheme and self.identifier else None


@dataclass
class Bid:
    bid_id: str
    tenderer: str | None
    status: str | None
    amount: Decimal | None
    document_hashes: list[str]
    document_marks: dict[str, list[str]]
    scores: list[dict[str, Any]]


@dataclass
class Award:
    award_id: str
    title: str | None
    status: str | None
    amount: Decimal | None
    awarded_on: date | None
    supplier: str | None
    period_start: date | None
    period_end: date | None
    # An award to a consortium (联合体): every supplier's party id, the first (the lead) included; () for one supplier.
    members: tuple[str, ...] = ()


@dataclass
class Release:
    index: int
    release_id: str
    ocid: str
    date: datetime
    sha256: str
    tender: dict[str, Any] | None
    parties: list[Party] = field(default_factory=list)
    bids: list[Bid] | None = None
    awards: list[Award] | None = None


def _canonical_sha(release: dict[str, Any]) -> str:
    text = json.dumps(release, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def china_date(value: str | None) -> date | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(clock.SHANGHAI).date()


class _Reader:
    """Reads the fields Lvyue keeps from one release, recording problems by path."""

    def __init__(self, prefix: str, errors: dict[str, list[str]]):
        self.prefix, self.errors = prefix, errors
        self.unidentified: set[str] = set()  # ids of this release's parties without scheme and id

    def bad(self, path: str, message: str) -> None:
        self.errors.setdefault(f"{self.prefix}.{path}", []).append(message)

    def text(self, value: Any, path: str, kind: str, required: bool = False) -> str | None:
        if value is None or value == "":
            if required:
                self.bad(path, "required")
            return None
        if isinstance(value, (int, Decimal)) and not isinstance(value, bool) and kind == "id":
            value = str(value)  # OCDS ids may be integers
        if not isinstance(value, str):
            self.bad(path, "must be a string")
            return None
        if len(value) > LENGTHS[kind]:
            self.bad(path, f"at most {LENGTHS[kind]} characters")
            return None
        return value

    def money(self, value: Any, path: str) -> Decimal | None:
        """An OCDS Value {amount, currency}: CNY, at most 2 decimals, not negative."""
        if value is None:
            return None
        if not isinstance(value, dict):
            self.bad(path, "must be an object {amount, currency}")
            return None
        if value.get("currency") not in (None, CURRENCY):
            self.bad(f"{path}.currency", f"only {CURRENCY} is supervised here")
            return None
        amount = value.get("amount")
        if amount is None:
            return None
        try:
            return values.parse_money(Decimal(amount) if isinstance(amount, int) and not isinstance(amount, bool) else amount)
        except values.BadValue as exc:
            self.bad(f"{path}.amount", str(exc).replace("a decimal string", "a number").replace(', not a JSON number', ''))
            return None


def _party(r: _Reader, i: int, p: dict[str, Any]) -> Party | None:
    path = f"parties.{i}"
    pid = r.text(p.get("id"), f"{path}.id", "id", required=True)
    name = r.text(p.get("name"), f"{path}.name", "name") or ""
    roles = [x for x in (p.get("roles") or []) if isinstance(x, str)]
    ident = p.get("identifier") or {}
    party = Party(pid or "", name, roles)
    party.scheme = r.text(ident.get("scheme"), f"{path}.identifier.scheme", "scheme")
    party.identifier = r.text(ident.get("id"), f"{path}.identifier.id", "identifier")
    if party.scheme == USCC and party.identifier is not None:
        if not valid_uscc(party.identifier):
            r.bad(f"{path}.identifier.id", "not a unified social credit code (18 characters, GB 32100-2015 check character)")
        party.region = uscc_region(party.identifier)
    if any(role in IDENTIFIED_ROLES for role in roles) and party.key is None:
        r.bad(f"{path}.identifier", f"a party with role {'/'.join(x for x in roles if x in IDENTIFIED_ROLES)} needs "
                                    f"identifier.scheme and identifier.id (e.g. {USCC} and the unified social credit code)")
    contact = p.get("contactPoint") or {}
    party.phone = r.text(contact.get("telephone"), f"{path}.contactPoint.telephone", "phone")
    address = p.get("address") or {}
    parts = [address.get(k) for k in ("region", "locality", "streetAddress") if isinstance(address.get(k), str)]
    party.address = r.text("".join(parts) or None, f"{path}.address", "address")
    details = p.get("details") if isinstance(p.get("details"), dict) else {}
    scale = details.get("scale")
    party.scale = scale if isinstance(scale, str) and len(scale) <= 20 else None
    party.legal_representative = r.text(details.get("legalRepresentative"), f"{path}.details.legalRepresentative",
                                        "legal_representative")
    return party if pid else None


def _bid(r: _Reader, i: int, b: Any, party_ids: set[str]) -> Bid | None:
    path = f"bids.details.{i}"
    if not isinstance(b, dict):
        r.bad(path, "must be an object")
        return None
    bid_id = r.text(b.get("id"), f"{path}.id", "id", required=True)
    tenderers = b.get("tenderers") or []
    tenderer = None
    if not isinstance(tenderers, list) or not tenderers or not isinstance(tenderers[0], dict):
        r.bad(f"{path}.tenderers", "one organisation reference {id, name} or more (the first is the bidder)")
    else:
        tenderer = r.text(tenderers[0].get("id"), f"{path}.tenderers.0.id", "id", required=True)
        if tenderer is not None and tenderer not in party_ids:
            r.bad(f"{path}.tenderers.0.id", f"no party {tenderer!r} in this release or an earlier one of the process")
        elif tenderer in r.unidentified:
            r.bad(f"{path}.tenderers.0.id", f"party {tenderer!r} bids but has no identifier (scheme and id)")
    documents = b.get("documents") or []
    hashes = []
    marks: dict[str, list[str]] = {"author": [], "machine": []}
    if not isinstance(documents, list) or len(documents) > MAX_DOCUMENTS:
        r.bad(f"{path}.documents", f"a list of at most {MAX_DOCUMENTS} documents")
    else:
        for j, d in enumerate(documents):
            for mark, key in (("author", "author"), ("machine", "machineCode")):
                value = r.text(d.get(key) if isinstance(d, dict) else None, f"{path}.documents.{j}.{key}", "mark")
                if value and value not in marks[mark]:
                    marks[mark].append(value)
            h = d.get("hash") if isinstance(d, dict) else None
            if h is None:
                continue
            if not isinstance(h, str) or not _HEX64.fullmatch(h.lower()):
                r.bad(f"{path}.documents.{j}.hash", "the SHA-256 of the file, 64 hexadecimal digits")
            else:
                hashes.append(h.lower())
    scores = []
    raw_scores = b.get("scores") or []
    if not isinstance(raw_scores, list) or len(raw_scores) > MAX_SCORES:
        r.bad(f"{path}.scores", f"a list of at most {MAX_SCORES} expert scores")
    else:
        for j, s in enumerate(raw_scores):
            expert = r.text(s.get("expert") if isinstance(s, dict) else None, f"{path}.scores.{j}.expert", "expert", required=True)
            score = s.get("score") if isinstance(s, dict) else None
            if isinstance(score, bool) or not isinstance(score, (int, Decimal)) or not 0 <= score <= 100:
                r.bad(f"{path}.scores.{j}.score", "a number from 0 to 100")
            elif expert:
                scores.append({"expert": expert, "score": str(score)})
    status = b.get("status") if isinstance(b.get("status"), str) else None
    return Bid(bid_id or "", tenderer, status[:20] if status else None, r.money(b.get("value"), f"{path}.value"),
               hashes, marks, scores) if bid_id else None


def _award(r: _Reader, i: int, a: dict[str, Any], party_ids: set[str]) -> Award | None:
    path = f"awards.{i}"
    award_id = r.text(a.get("id"), f"{path}.id", "id", required=True)
    suppliers = a.get("suppliers") or []
    supplier = None
    if suppliers:
        supplier = r.text(suppliers[0].get("id"), f"{path}.suppliers.0.id", "id", required=True)
        if supplier is not None and supplier not in party_ids:
            r.bad(f"{path}.suppliers.0.id", f"no party {supplier!r} in this release or an earlier one of the process")
        elif supplier in r.unidentified:
            r.bad(f"{path}.suppliers.0.id", f"party {supplier!r} wins but has no identifier (scheme and id)")
    elif a.get("status") == "active":
        r.bad(f"{path}.suppliers", "an active award names its supplier")
    # Several suppliers: a consortium, the first its lead (招标投标法 art 31); each identified like the lead.
    members: list[str] = []
    if len(suppliers) > 1:
        for n, s in enumerate(suppliers):
            member = r.text(s.get("id") if isinstance(s, dict) else None, f"{path}.suppliers.{n}.id", "id", required=True)
            if member is None:
                continue
            if n and member not in party_ids:
                r.bad(f"{path}.suppliers.{n}.id", f"no party {member!r} in this release or an earlier one of the process")
            elif n and member in r.unidentified:
                r.bad(f"{path}.suppliers.{n}.id", f"party {member!r} wins but has no identifier (scheme and id)")
            elif member in members:
                r.bad(f"{path}.suppliers.{n}.id", f"party {member!r} is named twice")
            members.append(member)
    period = a.get("contractPeriod") or {}
    return Award(award_id or "", r.text(a.get("title"), f"{path}.title", "title"), a.get("status"),
                 r.money(a.get("value"), f"{path}.value"), china_date(a.get("date")), supplier,
                 china_date(period.get("startDate")), china_date(period.get("endDate")),
                 tuple(members)) if award_id else None


def _tender(r: _Reader, t: dict[str, Any], parties: list[Party], release: dict[str, Any]) -> dict[str, Any]:
    review = [p for p in parties if "reviewBody" in p.roles]
    buyers = [p for p in parties if "buyer" in p.roles]
    buyer_ref = (release.get("buyer") or {}).get("id")
    buyer = next((p for p in buyers if p.party_id == buyer_ref), buyers[0] if buyers else None)
    return {
        "tender_id": r.text(t.get("id"), "tender.id", "id"),
        "title": r.text(t.get("title"), "tender.title", "title"),
        "sector": t.get("mainProcurementCategory"),
        "procedure": t.get("procurementMethod"),
        "procedure_details": r.text(t.get("procurementMethodDetails"), "tender.procurementMethodDetails",
                                    "procedure_details"),
        "ceiling": r.money(t.get("value"), "tender.value"),
        "opened_on": china_date((t.get("tenderPeriod") or {}).get("endDate")),
        "review": (review[0].party_id, review[0].name) if review else None,
        "buyer_key": buyer.key if buyer else None,
    }


def parse(package: Any, folder: Path = DEFAULT_SCHEMA_DIR,
          known_parties: dict[str, set[str]] | None = None) -> list[Release]:
    """The releases of `package`, checked (module doc, layers 1–3); Invalid naming every problem otherwise.
    `known_parties` gives the party ids already stored per ocid (references may point to them)."""
    errors: dict[str, list[str]] = {}
    if not isinstance(package, dict):
        raise Invalid("an OCDS release package is a JSON object", {"body": ["must be a JSON object"]})
    releases = package.get("releases")
    if isinstance(releases, list) and len(releases) > MAX_RELEASES:
        raise Invalid(f"at most {MAX_RELEASES} releases per package",
                      {"releases": [f"{len(releases)} releases; at most {MAX_RELEASES} per package (split it)"]})
    found = schemas(folder)
    _schema_errors(found.package, package, "", errors)
    if errors:
        raise Invalid("the package does not conform to the OCDS release package schema", errors)
    out: list[Release] = []
    for i, raw in enumerate(releases):
        prefix = f"releases.{i}"
        before = len(errors)
        _schema_errors(found.release, raw, prefix, errors)
        if len(errors) > before or not isinstance(raw, dict):
            continue
        r = _Reader(prefix, errors)
        for section, cap in (("parties", MAX_PARTIES), ("awards", MAX_AWARDS)):
            if len(raw.get(section) or []) > cap:
                r.bad(section, f"at most {cap} per release")
        bids = raw.get("bids")
        details = bids.get("details") if isinstance(bids, dict) else None
        if bids is not None and not isinstance(details, list):
            r.bad("bids", "the bids extension: an object with a list `details`")
            details = None
        if details is not None and len(details) > MAX_BIDS:
            r.bad("bids.details", f"at most {MAX_BIDS} per release")
        if len(errors) > before:
            continue
        release_id = r.text(raw["id"], "id", "id", required=True)
        ocid = r.text(raw["ocid"], "ocid", "id", required=True)
        parties = [p for p in (_party(r, j, p) for j, p in enumerate(raw.get("parties") or [])) if p is not None]
        ids = [p.party_id for p in parties]
        if len(set(ids)) != len(ids):
            r.bad("parties", "party ids repeat within the release")
        party_ids = set(ids) | (known_parties or {}).get(ocid or "", set())
        r.unidentified = {p.party_id for p in parties if p.key is None}
        release = Release(i, release_id or "", ocid or "", datetime.fromisoformat(raw["date"].replace("Z", "+00:00")),
                          _canonical_sha(raw), None, parties)
        if isinstance(raw.get("tender"), dict):
            release.tender = _tender(r, raw["tender"], parties, raw)
        if details is not None:
            release.bids = [b for b in (_bid(r, j, b, party_ids) for j, b in enumerate(details)) if b is not None]
        if raw.get("awards") is not None:
            release.awards = [a for a in (_award(r, j, a, party_ids) for j, a in enumerate(raw["awards"]))
                              if a is not None]
        out.append(release)
    seen: dict[str, Release] = {}
    for release in out:
        first = seen.setdefault(release.release_id, release)
        if first is not release and first.sha256 != release.sha256:
            errors.setdefault(f"releases.{release.index}.id", []).append(
                f"release {release.release_id} appears twice in the package with different content")
    if errors:
        count = sum(len(v) for v in errors.values())
        raise Invalid(f"the package has {count} problem{'s' if count != 1 else ''}; nothing was imported", errors)
    return out


def load(raw: bytes) -> Any:
    """The package in `raw` (UTF-8 JSON), bounded; numbers with a fraction as exact Decimals."""
    if len(raw) > MAX_PACKAGE_BYTES:
        raise Invalid(f"the package is {len(raw)} bytes; at most {MAX_PACKAGE_BYTES}",
                      {"body": [f"at most {MAX_PACKAGE_BYTES} bytes"]})
    strictjson.load_body(raw)  # depth, integer digits, finite numbers, surrogates: 400/422 naming where
    return json.loads(raw, parse_float=Decimal)


# ---------------------------------------------------------------- writing
def _known_parties(session: Session, ocids: list[str]) -> dict[str, set[str]]:
    known: dict[str, set[str]] = {}
    for chunk in (ocids[n:n + 500] for n in range(0, len(ocids), 500)):
        for ocid, pid in session.execute(select(TenderParty.ocid, TenderParty.party_id).where(TenderParty.ocid.in_(chunk))):
            known.setdefault(ocid, set()).add(pid)
    return known


def _in_chunks(session: Session, column, keys: list[str], query) -> list:
    rows = []
    for chunk in (keys[n:n + 500] for n in range(0, len(keys), 500)):
        rows.extend(session.scalars(query.where(column.in_(chunk))))
    return rows


def import_package(db: Database, principal: Principal, package: Any, folder: Path = DEFAULT_SCHEMA_DIR,
                   now: datetime | None = None, scan: bool = True) -> dict[str, Any]:
    """Import an OCDS release package (operators, admins). Returns {releases, created, updated, unchanged,
    tenders, awards, leads}: the release ids by outcome, the number of tenders touched and awards stored, and
    the risk leads the scan after it wrote (engine/supervision/risk.py; `scan=False` leaves it to the caller,
    e.g. a bulk load that scans once at the end)."""
    authz.require_role(principal, "operator")
    now = now or clock.now()
    ocids = sorted({r.get("ocid") for r in (package.get("releases") or []) if isinstance(r, dict)
                    and isinstance(r.get("ocid"), str)}) if isinstance(package, dict) and isinstance(package.get("releases"), list) else []
    with db.read() as session:
        known = _known_parties(session, ocids[:MAX_RELEASES])
    releases = parse(package, folder, known)
    try:
        outcome, fresh, fresh_ocids = _store(db, principal, releases, now)
    except IntegrityError:
        # Another import stored some of these releases (or tenders) between our read and our write.
        raise Conflict("a concurrent import stored some of these releases first; import the package again "
                       "(what is stored then counts as unchanged)", {"releases": ["stored concurrently"]}) from None
    leads = risk.scan(db, now) if scan and fresh else {"created": 0, "updated": 0}
    return {"releases": len(releases), **outcome, "tenders": len(fresh_ocids),
            "awards": sum(len(r.awards or []) for r in fresh), "leads": leads}


def _store(db: Database, principal: Principal, releases: list[Release], now: datetime):
    outcome: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
    with db.transaction() as session:
        ids = sorted({r.release_id for r in releases})
        stored = {t.release_id: t for t in _in_chunks(session, TradeRelease.release_id, ids, select(TradeRelease))}
        for release in releases:
            existing = stored.get(release.release_id)
            if existing is not None and existing.sha256 != release.sha256:
                raise Conflict(f"release {release.release_id} was imported before with other content; a changed "
                               "release needs a new id", {f"releases.{release.index}.id": ["imported before with other content"]})
        fresh = [r for r in releases if r.release_id not in stored]
        repeated = {r.release_id for r in releases if r.release_id in stored}
        fresh_ocids = sorted({r.ocid for r in fresh})
        tenders = {t.ocid: t for t in _in_chunks(session, Tender.ocid, fresh_ocids, select(Tender))}
        parties = {(p.ocid, p.party_id): p for p in _in_chunks(session, TenderParty.ocid, fresh_ocids, select(TenderParty))}
        bids = {(b.ocid, b.bid_id): b for b in _in_chunks(session, TenderBid.ocid, fresh_ocids, select(TenderBid))}
        awards = {(a.ocid, a.award_id): a for a in _in_chunks(session, TenderAward.ocid, fresh_ocids, select(TenderAward))}
        departments = set(session.scalars(select(Department.code)))
        new_ocids = set(fresh_ocids) - set(tenders)
        applied: set[str] = set()
        for release in sorted(fresh, key=lambda r: (r.date, r.index)):
            if release.release_id in applied:
                continue  # the same release twice in one package
            applied.add(release.release_id)
            _apply(session, release, tenders, parties, bids, awards, departments)
            session.add(TradeRelease(release_id=release.release_id, ocid=release.ocid, date=release.date,
                                     sha256=release.sha256, imported_at=now, imported_by=principal.name))
        for release in releases:
            if release.release_id in repeated or release.release_id not in applied:
                bucket = "unchanged"
            else:
                bucket = "created" if release.ocid in new_ocids else "updated"
                applied.discard(release.release_id)
            outcome[bucket].append(release.release_id)
    return outcome, fresh, fresh_ocids


def _apply(session: Session, release: Release, tenders: dict, parties: dict, bids: dict, awards: dict,
           departments: set[str]) -> None:
    ocid = release.ocid
    tender = tenders.get(ocid)
    if tender is None:
        tender = Tender(ocid=ocid, released_at=release.date)
        session.add(tender)
        tenders[ocid] = tender  # inserted before its parties, bids and awards: the flush orders tables by their foreign keys
    tender.released_at = max(tender.released_at, release.date)
    if release.tender is not None:
        t = release.tender
        for name in ("tender_id", "title", "sector", "procedure", "procedure_details", "ceiling", "opened_on", "buyer_key"):
            setattr(tender, name, t[name])
        review = t["review"]
        if review is not None:
            pid, name = review
            code = pid[len(DEPT_PREFIX):] if pid.startswith(DEPT_PREFIX) else None
            tender.department_code = code if code in departments else None
            tender.department_name = name[:200] or None
    for p in release.parties:
        row = parties.get((ocid, p.party_id))
        if row is None:
            row = TenderParty(ocid=ocid, party_id=p.party_id)
            session.add(row)
            parties[(ocid, p.party_id)] = row
        row.key, row.name, row.roles = p.key, p.name, p.roles
        row.phone, row.address, row.legal_representative, row.region = p.phone, p.address, p.legal_representative, p.region
        row.scale = p.scale
    if release.tender is not None and tender.buyer_key is None:
        buyer = next((p for p in release.parties if "buyer" in p.roles), None)
        tender.buyer_key = buyer.key if buyer else None
    key_of = {pid: row for (o, pid), row in parties.items() if o == ocid}
    for b in release.bids or []:
        row = bids.get((ocid, b.bid_id))
        if row is None:
            row = TenderBid(ocid=ocid, bid_id=b.bid_id)
            session.add(row)
            bids[(ocid, b.bid_id)] = row
        tenderer = key_of.get(b.tenderer)
        row.tenderer_key = tenderer.key if tenderer is not None else None
        row.tenderer_name = tenderer.name if tenderer is not None else None
        row.status, row.amount, row.document_hashes, row.scores = b.status, b.amount, b.document_hashes, b.scores
        row.document_marks = b.document_marks
    for a in release.awards or []:
        row = awards.get((ocid, a.award_id))
        if row is None:
            row = TenderAward(id=str(uuid.uuid4()), ocid=ocid, award_id=a.award_id)
            session.add(row)
            awards[(ocid, a.award_id)] = row
        supplier = key_of.get(a.supplier)
        row.title, row.status, row.amount, row.awarded_on = a.title, a.status, a.amount, a.awarded_on
        row.supplier_party = a.supplier
        row.supplier_key = supplier.key if supplier is not None else None
        row.supplier_parties = list(a.members) or None
        row.period_start, row.period_end = a.period_start, a.period_end


# ---------------------------------------------------------------- reading
def _can_read(principal: Principal) -> None:
    if principal.role not in ("admin", "operator", "supervisor"):
        raise Forbidden("the trading platform's tenders are for operators, supervisors and admins")


def _visible(principal: Principal, tender: Tender) -> bool:
    return principal.role in ("admin", "operator") or tender.department_code in principal.departments


def tender_view(session: Session, tender: Tender) -> dict[str, Any]:
    parties = list(session.scalars(select(TenderParty).where(TenderParty.ocid == tender.ocid).order_by(TenderParty.party_id)))
    bids = list(session.scalars(select(TenderBid).where(TenderBid.ocid == tender.ocid).order_by(TenderBid.bid_id)))
    awards = list(session.scalars(select(TenderAward).where(TenderAward.ocid == tender.ocid).order_by(TenderAward.award_id)))
    return {
        "ocid": tender.ocid, "tender_id": tender.tender_id, "title": tender.title, "sector": tender.sector,
        "procedure": tender.procedure, "procedure_details": tender.procedure_details,
        "department": tender.department_code, "department_name": tender.department_name, "buyer": tender.buyer_key,
        "ceiling": _money(tender.ceiling), "opened_on": _iso(tender.opened_on), "released_at": tender.released_at,
        "parties": [{"id": p.party_id, "key": p.key, "name": p.name, "roles": p.roles, "region": p.region}
                    for p in parties],
        "bids": [{"id": b.bid_id, "tenderer": b.tenderer_key, "tenderer_name": b.tenderer_name, "status": b.status,
                  "amount": _money(b.amount)} for b in bids],
        "awards": [award_summary(a) for a in awards],
    }


def award_summary(a: TenderAward) -> dict[str, Any]:
    return {"id": a.id, "ocid": a.ocid, "award_id": a.award_id, "title": a.title, "status": a.status,
            "amount": _money(a.amount), "date": _iso(a.awarded_on), "supplier": a.supplier_key,
            "consortium": a.supplier_parties,
            "contract_period": {"start": _iso(a.period_start), "end": _iso(a.period_end)},
            "instance_id": a.instance_id}


def _money(value: Decimal | None) -> str | None:
    return values.format_money(value) if value is not None else None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def get_tender(db: Database, principal: Principal, ocid: str) -> dict[str, Any]:
    _can_read(principal)
    with db.read() as session:
        tender = session.get(Tender, ocid)
        if tender is None or not _visible(principal, tender):
            raise NotFound(f"no tender {ocid}")
        return tender_view(session, tender)


# ---------------------------------------------------------------- an award starts its contract
SME_SCALES = ("micro", "sme")  # OCDS partyScale codes that are SMEs under 中小企业划型标准规定
# The start data an award fills (the operator confirms the rest: track, bid bond, rates, milestones …).
FROM_AWARD = ("project_code", "project_name", "category", "award_notice_date", "contract_amount", "employer",
              "contractor", "consortium", "department")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def match_org(session: Session, party: TenderParty) -> str:
    """The directory organisation of an imported party: the one its identifier is linked to, else the one whose
    code is the identifier (then linked), else a new one (code: the unified social credit code, or
    `SCHEME-ID` for another scheme; SME when OCDS details.scale says micro or sme)."""
    scheme, _, ident = (party.key or "").partition(":")
    linked = session.get(OrgIdentifier, (scheme, ident))
    if linked is not None:
        return linked.org_code
    code = ident if scheme == USCC else f"{scheme}-{ident}"[:64]
    if session.get(Organisation, code) is None:
        session.add(Organisation(code=code, name=(party.name or code)[:200], sme=party.scale in SME_SCALES,
                                 public_body=False, large_enterprise=False, credit_rating=None, created_at=clock.now()))
        session.flush()
    session.add(OrgIdentifier(scheme=scheme, identifier=ident, org_code=code))
    return code


def _award_and_tender(session: Session, award_id: str) -> tuple[TenderAward, Tender]:
    award = session.get(TenderAward, award_id) if isinstance(award_id, str) and len(award_id) <= 36 else None
    if award is None:
        raise NotFound(f"no award {award_id}")
    return award, session.get(Tender, award.ocid)


def contract_start_data(db: Database, principal: Principal, award_id: str, given: Any) -> dict[str, Any]:
    """The post_award start data of an award: what the operator gives (`given`) with the award's own fields
    filled in (FROM_AWARD). A field the operator gives that differs from the award's is 422 naming it (a
    contract differing from its award is the signed-vs-award check's business, not the start's). The parties'
    organisations are matched by identifier or created (match_org) — facts of the award, kept even when the
    start is then refused. 409 when the award is not active or has started its contract already."""
    authz.require_role(principal, "operator")
    if not isinstance(given, dict):
        raise Invalid("data must be an object", {"data": ["must be a JSON object"]})
    try:
        filled = _filled(db, award_id)
    except IntegrityError:  # a concurrent start created the same organisation first: it is matched now
        filled = _filled(db, award_id)
    errors = {f"data.{k}": [f"comes from the award: {filled[k]!r}"] for k in FROM_AWARD
              if filled[k] is not None and k in given and given[k] != filled[k]}
    if errors:
        raise Invalid("the start data departs from the award", errors)
    return {**given, **{k: v for k, v in filled.items() if v is not None}}


def _filled(db: Database, award_id: str) -> dict[str, Any]:
    """The start data the award gives, its parties' organisations matched or created."""
    with db.transaction() as session:
        award, tender = _award_and_tender(session, award_id)
        if award.instance_id is not None:
            raise Conflict(f"award {award.award_id} of {award.ocid} has started its contract already",
                           {"award": [f"contract instance {award.instance_id}"]})
        if award.status != "active":
            raise Conflict(f"award {award.award_id} of {award.ocid} is {award.status or 'without status'}, not active")
        parties = {p.party_id: p for p in session.scalars(select(TenderParty).where(TenderParty.ocid == award.ocid))}
        buyer = next((p for p in parties.values() if p.key and p.key == tender.buyer_key), None)
        supplier = parties.get(award.supplier_party) if award.supplier_party else None
        members = [parties.get(p) for p in award.supplier_parties or ()]
        consortium = None
        if len(members) > 1 and all(m is not None and m.key for m in members):
            codes = [match_org(session, m) for m in members]
            consortium = {"lead": codes[0], "members": codes}
        return {
            "project_code": tender.tender_id if tender.tender_id and _CODE.fullmatch(tender.tender_id) else None,
            "project_name": (tender.title or award.title or "")[:200] or None,
            "category": tender.sector,
            "award_notice_date": _iso(award.awarded_on),
            "contract_amount": _money(award.amount),
            "employer": match_org(session, buyer) if buyer is not None else None,
            "contractor": match_org(session, supplier) if supplier is not None and supplier.key else None,
            "consortium": consortium,
            "department": tender.department_code,
        }


def link_award(award_id: str, principal: Principal):
    """The callback that ties the award to the contract inside the start's own transaction: a second start
    of the same award (a race) finds it tied and is 409, and its contract is rolled back."""
    def link(session: Session, instance: Instance) -> None:
        session.flush()
        done = session.execute(update(TenderAward).where(TenderAward.id == award_id, TenderAward.instance_id.is_(None))
                               .values(instance_id=instance.id, started_at=clock.now(), started_by=principal.name))
        if done.rowcount != 1:
            raise Conflict(f"award {award_id} has started its contract already")
    return link


def award_view(session: Session, award: TenderAward) -> dict[str, Any]:
    """An award with its contract, if started, and the signed-vs-award check: the contract's signed amount
    (once signed) against the awarded amount (招标投标法 art 46: no agreement departing from the substance of
    the award)."""
    out = award_summary(award)
    tender = session.get(Tender, award.ocid)
    out["tender"] = {"ocid": tender.ocid, "title": tender.title, "department": tender.department_code}
    out["contract"] = None
    if award.instance_id:
        instance = session.get(Instance, award.instance_id)
        data = instance.data or {}
        signed = data.get("signed_amount")
        check = None
        if signed not in (None, "") and award.amount is not None:
            difference = values.amount_of(signed) - award.amount
            check = {"award": _money(award.amount), "signed": _money(values.amount_of(signed)),
                     "difference": values.format_money(difference), "matches": difference == 0}
        out["contract"] = {"business_key": instance.business_key, "instance_id": instance.id, "status": instance.status,
                           "contract_amount": data.get("contract_amount") and _money(values.amount_of(data["contract_amount"])),
                           "signed_vs_award": check}
    return out


def get_award(db: Database, principal: Principal, award_id: str) -> dict[str, Any]:
    _can_read(principal)
    with db.read() as session:
        award, tender = _award_and_tender(session, award_id)
        if not _visible(principal, tender):
            raise NotFound(f"no award {award_id}")
        out = award_view(session, award)
    rules = risk.rules()
    out["risk"] = [h.view(rules) for h in risk.current_hits(db) if award.ocid in h.ocids]
    return out


def list_awards(db: Database, principal: Principal, limit: int | None, cursor: str | None,
                ocid: str | None = None, started: bool | None = None, instance_id: str | None = None) -> dict[str, Any]:
    _can_read(principal)
    with db.read() as session:
        query = select(TenderAward).join(Tender, Tender.ocid == TenderAward.ocid)
        if principal.role == "supervisor":
            query = query.where(Tender.department_code.in_(sorted(principal.departments)))
        if ocid:
            query = query.where(TenderAward.ocid == ocid)
        if started is not None:
            query = query.where(TenderAward.instance_id.is_not(None) if started else TenderAward.instance_id.is_(None))
        if instance_id:
            query = query.where(TenderAward.instance_id == instance_id)
        return page(session, query, [TenderAward.ocid, TenderAward.award_id], limit, cursor, award_summary)
