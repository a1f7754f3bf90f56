"""Bearer tokens → the engine's Principal, once per request."""
from __future__ import annotations

from flask import current_app, g, request

from engine import directory
from engine.directory import Principal


def principal() -> Principal:
    if "principal" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        with current_app.extensions["lvyue"].db.read() as session:
            g.principal = directory.authenticate(session, token.strip() if scheme.lower() == "bearer" else None)
    return g.principal


def db():
    return current_app.extensions["lvyue"].db
