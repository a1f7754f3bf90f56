"""Sign-in with a user name and password, for people in a browser (scripts keep their bearer tokens).

Passwords are hashed with werkzeug's scrypt (`werkzeug.security`, pinned in setup.cfg: scrypt N=2^15, r=8,
p=1, a 16-character random salt per hash); only the hash is stored. A sign-in opens a browser session: a
256-bit random secret sent as an HttpOnly cookie, of which only the SHA-256 is stored (as for tokens), ended
by signing out, by a new password, or SESSION_HOURS after it was opened.

Guessing is bounded per user name: after MAX_FAILURES consecutive wrong passwords the name is locked for
LOCK_MINUTES (429 with Retry-After), whatever is sent, also the right password. Names that are no user are
counted the same way, in a bounded in-process table (UNKNOWN_NAMES_KEPT, oldest forgotten first), so that a
locked answer does not tell a guesser which names exist; a wrong password and an unknown name get the same
answer, and take the same time (a dummy hash is checked for an unknown name).
"""
from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine import clock
from engine.access import directory
from engine.access.directory import Principal
from engine.errors import Invalid, LvyueError, NotFound, TooManyRequests, Unauthenticated
from engine.storage.models import User, WebSession

METHOD = "scrypt"  # werkzeug's default: scrypt:32768:8:1
MIN_LENGTH = 10
MAX_LENGTH = 256  # a longer "password" would only make the hash cost more
MAX_FAILURES = 5
LOCK_MINUTES = 15
SESSION_HOURS = 12
UNKNOWN_NAMES_KEPT = 10_000
WRONG = "the user name or the password is wrong"
CSRF_LABEL = b"lvyue-csrf-v1"


def hash_password(password: str) -> str:
    check_password(password)
    return generate_password_hash(password, method=METHOD)


def verify(password: str, stored: str | None) -> bool:
    """True when `password` matches the stored hash; a dummy hash is checked when there is none (same time)."""
    if not isinstance(password, str) or len(password) > MAX_LENGTH:
        return False
    return check_password_hash(stored or _dummy(), password) and stored is not None


_DUMMY: list[str] = []


def _dummy() -> str:
    if not _DUMMY:
        _DUMMY.append(generate_password_hash(secrets.token_urlsafe(16), method=METHOD))
    return _DUMMY[0]


def check_password(password: object) -> None:
    if not isinstance(password, str) or not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise Invalid("unacceptable password",
                      {"password": [f"{MIN_LENGTH} to {MAX_LENGTH} characters"]})
    if password.strip() != password or not password.isprintable():
        raise Invalid("unacceptable password",
                      {"password": ["no leading or trailing spaces, no control characters"]})


def set_password(session: Session, user_name: str, password: str, hashed: str | None = None) -> User:
    """Set (or replace) a user's password: its sessions end and its lockout is lifted. `hashed`: the password's
    hash_password() already computed (the demo gives its users one password, hashed once)."""
    user = session.scalar(select(User).where(User.name == user_name))
    if user is None:
        raise NotFound(f"no user {user_name}")
    user.password_hash = hashed or hash_password(password)
    user.failed_sign_ins, user.locked_until = 0, None
    end_sessions(session, user.id)
    return user


def end_sessions(session: Session, user_id: int) -> int:
    now, count = clock.now(), 0
    for row in session.scalars(select(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))):
        row.ended_at = now
        count += 1
    return count


class _UnknownNames:
    """Failures of names that are no user: name → (consecutive failures, locked until), bounded."""

    def __init__(self, kept: int = UNKNOWN_NAMES_KEPT):
        self.kept = kept
        self.rows: OrderedDict[str, tuple[int, datetime | None]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, name: str) -> tuple[int, datetime | None]:
        with self.lock:
            return self.rows.get(name, (0, None))

    def put(self, name: str, failures: int, locked_until: datetime | None) -> None:
        with self.lock:
            self.rows[name] = (failures, locked_until)
            self.rows.move_to_end(name)
            while len(self.rows) > self.kept:
                self.rows.popitem(last=False)


UNKNOWN = _UnknownNames()


@dataclass(frozen=True)
class Opened:
    """A new browser session: the cookie's secret (shown once) and the CSRF token the pages send back."""

    secret: str
    csrf: str
    expires_at: datetime
    principal: Principal


def csrf_for(secret: str) -> str:
    """The CSRF token bound to one session: only who holds the session's secret can compute it."""
    return hmac.new(secret.encode("utf-8"), CSRF_LABEL, hashlib.sha256).hexdigest()


def _locked(locked_until: datetime | None, now: datetime) -> TooManyRequests | None:
    if locked_until is not None and locked_until > now:
        seconds = max(1, math.ceil((locked_until - now).total_seconds()))
        return TooManyRequests(f"too many failed sign-ins for this user name: try again in {seconds} s", seconds,
                               {"name": ["locked after repeated failures"]})
    return None


def _failed(failures: int, now: datetime) -> tuple[int, datetime | None]:
    failures += 1
    if failures >= MAX_FAILURES:
        return 0, now + timedelta(minutes=LOCK_MINUTES)
    return failures, None


def sign_in(session: Session, name: object, password: object) -> Opened | LvyueError:
    """Open a browser session for `name` when `password` is its password. A refusal is returned, not raised, so
    that the caller commits the failure it counted before raising it: wrong password or unknown name → 401, the
    same answer; locked → 429 (TooManyRequests with the seconds to wait)."""
    if not isinstance(name, str) or not name or len(name) > 200 or not isinstance(password, str):
        return Unauthenticated(WRONG)
    now = clock.now()
    user = session.scalar(select(User).where(User.name == name))
    if user is None or user.password_hash is None or user.disabled_at is not None:
        failures, locked_until = UNKNOWN.get(name)
        if (refused := _locked(locked_until, now)) is not None:
            return refused
        verify(password, None)  # the same work as for a real user
        UNKNOWN.put(name, *_failed(failures, now))
        return Unauthenticated(WRONG)
    if (refused := _locked(user.locked_until, now)) is not None:
        return refused
    if not verify(password, user.password_hash):
        user.failed_sign_ins, user.locked_until = _failed(user.failed_sign_ins or 0, now)
        return Unauthenticated(WRONG)
    user.failed_sign_ins, user.locked_until = 0, None
    secret = "lvs_" + secrets.token_urlsafe(32)
    expires = now + timedelta(hours=SESSION_HOURS)
    session.add(WebSession(user_id=user.id, token_hash=directory.hash_token(secret), created_at=now, expires_at=expires))
    departments = directory.subtree(session, user.department_code) if user.department_code else frozenset()
    return Opened(secret, csrf_for(secret), expires,
                  Principal(user.id, user.name, user.role, user.org_code, user.department_code, departments))


def authenticate(session: Session, secret: str, at: datetime | None = None) -> Principal:
    """The principal of a browser session's cookie (401 when unknown, ended, expired or its user disabled)."""
    found = session.execute(select(WebSession, User).join(User, User.id == WebSession.user_id)
                            .where(WebSession.token_hash == directory.hash_token(secret))).first()
    now = at or clock.now()
    if found is None or found[0].ended_at is not None or found[0].expires_at <= now:
        raise Unauthenticated("the session is unknown, ended or expired: sign in again")
    row, user = found
    if user.disabled_at is not None:
        raise Unauthenticated("the session's user is disabled")
    departments = directory.subtree(session, user.department_code) if user.department_code else frozenset()
    return Principal(user.id, user.name, user.role, user.org_code, user.department_code, departments)


def sign_out(session: Session, secret: str) -> bool:
    row = session.scalar(select(WebSession).where(WebSession.token_hash == directory.hash_token(secret)))
    if row is None or row.ended_at is not None:
        return False
    row.ended_at = clock.now()
    return True
