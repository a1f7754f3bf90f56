"""Who is asking, once per request: a bearer token (scripts), or a browser session's cookie (people signed in
with a password, engine/access/passwords.py) — then a state-changing request must carry the session's CSRF token.

A request with an Authorization header is judged by it alone (a cookie beside it is ignored): a browser never
adds that header by itself, so a bearer request cannot be forged across sites and needs no CSRF token. A request
without one is judged by the `lvyue_session` cookie (HttpOnly, SameSite=Lax); then every method but GET, HEAD and
OPTIONS must send the session's CSRF token in `X-CSRF-Token` (the pages read it from the `lvyue_csrf` cookie: a
double-submit bound to the session, HMAC of the session's secret), else 403.
"""
from __future__ import annotations

import hmac

from flask import current_app, g, request

from engine.access import directory, passwords
from engine.access.directory import Principal
from engine.errors import Forbidden
from engine.settings import Settings

SESSION_COOKIE = "lvyue_session"
CSRF_COOKIE = "lvyue_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_token() -> str | None:
    """The request's bearer token exactly as it is authenticated (None without one)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def session_secret() -> str | None:
    """The browser session's secret from its cookie, when the request has no Authorization header."""
    if "Authorization" in request.headers:
        return None
    return request.cookies.get(SESSION_COOKIE) or None


def credential() -> str:
    """What identifies the caller's credential (for per-credential limits, e.g. alert streams): its hash."""
    return directory.hash_token(bearer_token() or session_secret() or "")


def principal() -> Principal:
    if "principal" not in g:
        secret = session_secret()
        with current_app.extensions["lvyue"].db.lookup() as session:  # one statement (two for a supervisor)
            if secret:
                found = passwords.authenticate(session, secret)
            else:
                found = directory.authenticate(session, bearer_token())
        if secret and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent or not hmac.compare_digest(sent.encode("utf-8", "replace"),
                                                   passwords.csrf_for(secret).encode("utf-8")):
                raise Forbidden("a request signed in by cookie must send the session's CSRF token",
                                {CSRF_HEADER: ["missing or wrong: send the value of the lvyue_csrf cookie"]})
        g.principal = found
    return g.principal


def db():
    return current_app.extensions["lvyue"].db


def settings() -> Settings:
    """The settings the current app was built with (engine/settings.py)."""
    return current_app.extensions["lvyue"].settings
