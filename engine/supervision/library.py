"""The public credit library (市场主体诚信库): published credit records, for anyone, without a token.

Only records within their publicity period are shown (`credit.published_filter`: decided, of a class that is
published, not removed, from the decision's date to the last day of its period, China time), and of each
only what the decision makes public: the organisation's name and unified social credit code, the decision
(document number, date, legal basis, severity class, deciding department), the breached rule's legal basis
and the publicity period with its basis. Nothing else about the contract — its business key, amounts,
parties, notes, the alert, the evidence — leaves through here.

The same set is exported for the provincial credit platform (`export`), as JSON or CSV, documented in
docs/api.md ("Public credit library").
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select

from engine import clock
from engine.access import directory
from engine.errors import Invalid
from engine.storage.db import Database
from engine.storage.models import CreditRecord, Department, Organisation
from engine.storage.pagination import page
from engine.supervision import credit, csv_export

MAX_QUERY = 100
EXPORT_FORMAT = "lvyue-credit-records/1"
CSV_HEADER = ("id", "org_name", "uscc", "document_no", "decision_date", "severity", "department", "decision_basis",
              "violation_basis", "publicity_from", "publicity_until", "publicity_rule", "publicity_basis")


def public_view(r: CreditRecord, org: Organisation | None, department: Department | None) -> dict[str, Any]:
    return {
        "id": r.id,
        "organisation": {"name": org.name if org else None, "uscc": org.uscc if org else None},
        "decision": {"document_no": r.document_no, "date": r.decided_on.isoformat(), "legal_basis": r.decision_basis,
                     "severity": r.severity, "department": department.name if department else r.department_code},
        "violation": {"legal_basis": r.legal_basis},
        "publicity": {"from": r.publicity_from.isoformat(), "until": r.publicity_until.isoformat(),
                      "rule": r.publicity_rule, "legal_basis": r.publicity_basis},
    }


def _search(query, q: str | None):
    if q is None:
        return query
    q = q.strip()
    if not q or len(q) > MAX_QUERY:
        raise Invalid("q is 1 to 100 characters", {"q": [f"an organisation name or unified social credit code, "
                                                         f"1 to {MAX_QUERY} characters"]})
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    conditions = [Organisation.name.ilike(pattern, escape="\\")]
    if directory.valid_uscc(q.upper()):
        conditions.append(Organisation.uscc == q.upper())
    return query.where(or_(*conditions))


def _published(today: date, q: str | None):
    query = (select(CreditRecord).join(Organisation, Organisation.code == CreditRecord.org_code)
             .where(credit.published_filter(today)))
    return _search(query, q)


def _renderer(session):
    cache: dict[str, Any] = {}

    def prepare(rows: list[CreditRecord]) -> None:
        orgs = {r.org_code for r in rows}
        depts = {r.department_code for r in rows if r.department_code}
        if orgs:
            cache.update({("o", o.code): o for o in session.scalars(select(Organisation).where(Organisation.code.in_(orgs)))})
        if depts:
            cache.update({("d", d.code): d for d in session.scalars(select(Department).where(Department.code.in_(depts)))})

    def render(r: CreditRecord) -> dict[str, Any]:
        return public_view(r, cache.get(("o", r.org_code)), cache.get(("d", r.department_code)))
    return prepare, render


def list_public(db: Database, q: str | None, limit: int | None, cursor: str | None) -> dict[str, Any]:
    """Records in the public library today, newest decision first; `q` searches the organisation's name
    (contains) or its unified social credit code (exact)."""
    today = credit.china_date(clock.now())
    with db.read() as session:
        prepare, render = _renderer(session)
        return page(session, _published(today, q), [CreditRecord.decided_at, CreditRecord.id], limit, cursor, render,
                    descending=True, prepare=prepare)


def export(db: Database, fmt: str) -> tuple[str, dict[str, Any] | str]:
    """Every record in the library today for the provincial platform: ("json", the package) or ("csv", text)."""
    now = clock.now()
    today = credit.china_date(now)
    with db.read() as session:
        rows = list(session.scalars(_published(today, None).order_by(CreditRecord.decided_at, CreditRecord.id)))
        prepare, render = _renderer(session)
        prepare(rows)
        records = [render(r) for r in rows]
    if fmt == "csv":
        return "csv", csv_export.write(CSV_HEADER, ([
            r["id"], r["organisation"]["name"], r["organisation"]["uscc"], r["decision"]["document_no"],
            r["decision"]["date"], r["decision"]["severity"], r["decision"]["department"], r["decision"]["legal_basis"],
            r["violation"]["legal_basis"], r["publicity"]["from"], r["publicity"]["until"], r["publicity"]["rule"],
            r["publicity"]["legal_basis"]] for r in records))
    return "json", {"format": EXPORT_FORMAT, "as_of": today.isoformat(), "generated_at": _iso(now),
                    "count": len(records), "records": records}


def _iso(instant: datetime) -> str:
    return instant.isoformat()
