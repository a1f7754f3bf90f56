"""Bearer tokens → the engine's Principal, once per request."""
from __future__ import annotations

from flask import current_app, g, request

from engine.access import directory
from engine.access.directory import Principal
from engine.settings import Settings


def bearer_token() -> str | None:
    """The request's bearer token exactly as it is authenticated (None without one)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def principal() -> Principal:
    if "principal" not in g:
        with current_app.extensions["lvyue"].db.lookup() as session:  # one statement (two for a supervisor)
            g.principal = directory.authenticate(session, bearer_token())
    return g.principal


def db():
    return current_app.extensions["lvyue"].db


def settings() -> Settings:
    """The settings the current app was built with (engine/settings.py)."""
    return current_app.extensions["lvyue"].settings
