"""The directory: supervising departments, organisations, users and their API tokens.

Tokens are 256-bit random strings shown once; only their SHA-256 is stored (ARCHITECTURE.md §7).
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Conflict, Invalid, NotFound, Unauthenticated
from engine.access import signing
from engine.storage.models import Department, Organisation, Token, User

ROLES = ("admin", "operator", "designer", "party", "supervisor")
CREDIT_RATINGS = ("AAA", "AA", "A", "B", "C")
TOKEN_PREFIX = "lvy_"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, with the department subtree a supervisor may see."""

    user_id: int
    name: str
    role: str
    org_code: str | None = None
    department_code: str | None = None
    departments: frozenset[str] = field(default_factory=frozenset)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_department(session: Session, code: str, name: str, parent: str | None = None,
                   escalates_to: str | None = None, webhook_url: str | None = None,
                   webhook_secret: str | None = None) -> Department:
    if session.get(Department, code) is not None:
        raise Conflict(f"department {code} exists already")
    for ref, label in ((parent, "parent"), (escalates_to, "escalates_to")):
        if ref is not None and session.get(Department, ref) is None:
            raise Invalid(f"unknown {label} department {ref}", {label: [f"unknown department {ref}"]})
    if (webhook_url is None) != (webhook_secret is None):
        raise Invalid("a webhook needs both a URL and a secret", {"webhook": ["give both --webhook and --secret"]})
    if webhook_secret is not None and (why := signing.problem(webhook_secret)):
        raise Invalid("the webhook secret cannot sign", {"webhook_secret": [why]})
    dept = Department(code=code, name=name, parent_code=parent, escalates_to=escalates_to, webhook_url=webhook_url,
                      webhook_secret=webhook_secret, created_at=clock.now())
    session.add(dept)
    return dept


# 统一社会信用代码 (GB 32100-2015): 18 characters of this alphabet (no I, O, Z, S, V), the last a check character.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first17: str) -> str:
    """The check character of a unified social credit code's first 17 characters (GB 32100-2015 §5)."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def valid_uscc(value: object) -> bool:
    return (isinstance(value, str) and len(value) == 18 and all(c in USCC_ALPHABET for c in value)
            and uscc_check_char(value[:17]) == value[17])


def add_organisation(session: Session, code: str, name: str, credit_rating: str | None = None,
                     sme: bool = False, public_body: bool = False, large_enterprise: bool = False,
                     uscc: str | None = None) -> Organisation:
    if session.get(Organisation, code) is not None:
        raise Conflict(f"organisation {code} exists already")
    if uscc is not None and not valid_uscc(uscc):
        raise Invalid("not a unified social credit code", {"uscc": [
            "18 characters of 0-9 and A-Y without I, O, Z, S, V, the last one the GB 32100-2015 check character"]})
    if credit_rating is not None and credit_rating not in CREDIT_RATINGS:
        raise Invalid("unknown credit rating", {"credit_rating": [f"one of {', '.join(CREDIT_RATINGS)}"]})
    if large_enterprise and (sme or public_body):
        raise Invalid("a large enterprise is neither an SME nor a public body",
                      {"large_enterprise": ["cannot be combined with sme or public_body"]})
    org = Organisation(code=code, name=name, credit_rating=credit_rating, sme=sme, public_body=public_body,
                       large_enterprise=large_enterprise, uscc=uscc, created_at=clock.now())
    session.add(org)
    return org


MAX_TOKEN_DAYS = 3650  # ten years: a token lifetime is a whole number of days from 1 to this


def _check_token_days(days: int | None) -> None:
    """None (no expiry) or 1–MAX_TOKEN_DAYS: 0 used to mean "never expires", a negative number a dead token."""
    if days is None:
        return
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_TOKEN_DAYS:
        raise Invalid("invalid token lifetime",
                      {"expires_days": [f"a whole number of days from 1 to {MAX_TOKEN_DAYS}, or none for no expiry; "
                                        f"got {days!r}"]})


def add_user(session: Session, name: str, role: str, org: str | None = None, department: str | None = None,
             token_days: int | None = None) -> tuple[User, str]:
    """Create a user and a first token; the token is returned once and never stored in clear. `token_days`:
    the token's lifetime, 1–MAX_TOKEN_DAYS days, or None for no expiry (anything else: Invalid, nothing created)."""
    _check_token_days(token_days)
    if role not in ROLES:
        raise Invalid("unknown role", {"role": [f"one of {', '.join(ROLES)}"]})
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise Conflict(f"user {name} exists already")
    if role == "party" and (org is None or session.get(Organisation, org) is None):
        raise Invalid("a party user belongs to an existing organisation", {"org": ["required: an organisation code"]})
    if role == "supervisor" and (department is None or session.get(Department, department) is None):
        raise Invalid("a supervisor belongs to an existing department", {"department": ["required: a department code"]})
    user = User(name=name, role=role, org_code=org if role == "party" else None,
                department_code=department if role == "supervisor" else None, created_at=clock.now())
    session.add(user)
    session.flush()
    return user, issue_token(session, user, token_days)


def issue_token(session: Session, user: User, days: int | None = None) -> str:
    """A new token for `user`, valid `days` days (1–MAX_TOKEN_DAYS) or without expiry (None)."""
    _check_token_days(days)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = clock.now() + timedelta(days=days) if days is not None else None
    session.add(Token(user_id=user.id, token_hash=hash_token(token), created_at=clock.now(), expires_at=expires))
    return token


def revoke_tokens(session: Session, user_name: str) -> int:
    user = session.scalar(select(User).where(User.name == user_name))
    if user is None:
        raise NotFound(f"no user {user_name}")
    count = 0
    for token in session.scalars(select(Token).where(Token.user_id == user.id, Token.revoked_at.is_(None))):
        token.revoked_at = clock.now()
        count += 1
    return count


def subtree(session: Session, code: str) -> frozenset[str]:
    """A department and every department below it."""
    children: dict[str, list[str]] = {}
    for dept_code, parent in session.execute(select(Department.code, Department.parent_code)):
        children.setdefault(parent, []).append(dept_code)
    seen, todo = set(), [code]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(children.get(current, []))
    return frozenset(seen)


# Built once: every request runs it (issue 20: a statement's construction costs more than SQLite's work).
_BY_TOKEN = select(Token, User).outerjoin(User, User.id == Token.user_id).where(Token.token_hash == bindparam("token_hash"))


def authenticate(session: Session, token: str | None, at: datetime | None = None) -> Principal:
    if not token:
        raise Unauthenticated("send Authorization: Bearer <token>")
    found = session.execute(_BY_TOKEN, {"token_hash": hash_token(token)}).first()
    row, user = found if found is not None else (None, None)
    now = at or clock.now()
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise Unauthenticated("the token is unknown, revoked or expired")
    if user is None or user.disabled_at is not None:
        raise Unauthenticated("the token's user is disabled")
    departments = subtree(session, user.department_code) if user.department_code else frozenset()
    return Principal(user.id, user.name, user.role, user.org_code, user.department_code, departments)


SYSTEM = Principal(0, "system", "system")
