"""A demo directory for a fresh machine: departments, organisations, users, the bundled diagrams, and the
sample package of invented tenders of the trading platform (samples/tenders-2026-09-10.json, docs/intake.md).

Idempotent: running it again keeps what exists and prints fresh tokens for the demo users.
"""
from __future__ import annotations

import secrets
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import select

from engine.runtime import definitions
from engine.access import directory, passwords
from engine.supervision import intake
from engine.storage.db import Database
from engine.storage.models import Department, Organisation, User

DEPARTMENTS = [
    # code, name, parent, escalates_to
    ("JW", "市纪委监委 (discipline inspection)", None, None),
    ("ZJ", "市住房和城乡建设局 (housing and construction)", None, "JW"),
    ("ZJ-ZY", "中原区住房和城乡建设局 (district housing)", "ZJ", "JW"),
    ("JT", "市交通运输局 (transport)", None, "JW"),
    ("SL", "市水利局 (water resources)", None, "JW"),
    ("CZ", "市财政局 (finance, government procurement)", None, "JW"),
]
ORGANISATIONS = [
    # code, name, credit rating, SME, public body
    ("EMP-SCHOOL", "市第一中学 (employer, public body)", None, False, True),
    ("EMP-WATER", "市水务投资有限公司 (employer, state-owned)", None, False, False),
    ("CON-BUILD", "中原建工集团有限公司 (contractor)", "AAA", False, False),
    ("CON-SME", "郑州小微电子科技有限公司 (contractor, SME)", "AA", True, False),
    ("GUA-BANK", "中原银行郑州分行 (guarantor)", None, False, False),
]
USERS = [
    # name, role, org, department
    ("admin", "admin", None, None),
    ("operator", "operator", None, None),
    ("designer", "designer", None, None),
    ("school", "party", "EMP-SCHOOL", None),
    ("water", "party", "EMP-WATER", None),
    ("builder", "party", "CON-BUILD", None),
    ("sme", "party", "CON-SME", None),
    ("bank", "party", "GUA-BANK", None),
    ("zj-supervisor", "supervisor", None, "ZJ"),
    ("cz-supervisor", "supervisor", None, "CZ"),
    ("jw-inspector", "supervisor", None, "JW"),
]


SAMPLES = Path(__file__).resolve().parent / "samples"
SAMPLE = SAMPLES / "tenders-2026-09-10.json"
# Three November tenders with a planted bid-rigging pair (shared phone, prices within 0.1 %, winning in turn):
# the risk indicators flag it and a lead goes to discipline inspection (JW).
COLLUSION = SAMPLES / "collusion-2026-11.json"


def contracts(today: date) -> list[tuple[str, dict[str, Any]]]:
    """(business key, post_award start data) of the demo's contracts, dated from `today` so that their clocks run
    now: a works contract of the public school with the SME builder, paid on measurement (advance 10 %, progress
    payments of 80 %, settlement, retention 3 %: bpmn/README.md "Payment terms") and funded by special bonds."""
    award = today - timedelta(days=20)
    return [("DEMO-WORKS-1", {
        "project_code": "ZZ-JS-DEMO-001", "project_name": "市第一中学体育馆建设（演示）", "track": "tendering",
        "category": "works", "award_notice_date": award.isoformat(), "contract_amount": "4800000.00",
        "employer": "EMP-SCHOOL", "contractor": "CON-SME", "department": "ZJ",
        "bid_bond": {"amount": "20000.00", "form": "cash"}, "performance_guarantee_rate": "0",
        "retention_rate": "3", "acceptance_days": 14, "funding_source": "special_bonds",
        "payment_terms": {"advance": {"percent": "10"}, "works_start_date": (award + timedelta(days=40)).isoformat(),
                          "progress": {"percent": "80"}, "settlement": True}})]


def seed(db: Database, bpmn_folder: Path, schema_dir: Path = intake.DEFAULT_SCHEMA_DIR) -> Iterator[str]:
    """Create what is missing and yield lines to print (tokens included)."""
    with db.transaction() as session:
        for code, name, parent, escalates in DEPARTMENTS:
            if session.get(Department, code) is None:
                directory.add_department(session, code, name, parent, escalates)
                session.flush()
        for code, name, rating, sme, public in ORGANISATIONS:
            if session.get(Organisation, code) is None:
                directory.add_organisation(session, code, name, rating, sme, public)
        session.flush()
        tokens = []
        # One demo password for every demo user, new at each run (like their tokens): printed, never stored in clear.
        password = "demo-" + secrets.token_urlsafe(9)
        hashed = passwords.hash_password(password)
        for name, role, org, dept in USERS:
            user = session.scalar(select(User).where(User.name == name))
            if user is None:
                user, token = directory.add_user(session, name, role, org, dept)
            else:
                token = directory.issue_token(session, user)
            session.flush()
            passwords.set_password(session, name, password, hashed)
            tokens.append((name, role, org or dept or "", token))
    admin = directory.Principal(0, "demo", "admin")
    for path in sorted(bpmn_folder.glob("*.bpmn")):
        out, created = definitions.deploy(db, admin, path.read_bytes())
        yield f"definition {out['key']} v{out['version']} {'deployed' if created else 'unchanged'}"
    for sample in (SAMPLE, COLLUSION):
        try:
            out = intake.import_package(db, admin, intake.load(sample.read_bytes()), schema_dir)
            yield (f"sample tenders ({sample.name}): {len(out['created']) + len(out['updated'])} releases imported, "
                   f"{len(out['unchanged'])} unchanged; {out['leads']['created']} risk leads")
        except intake.SchemasMissing as exc:
            yield f"sample tenders not imported: {exc.detail}"
    yield ""
    yield f"Demo password (sign in at / with a user name below): {password}"
    yield "Demo tokens (Authorization: Bearer <token>):"
    for name, role, where, token in tokens:
        yield f"  {name:<14} {role:<10} {where:<11} {token}"
