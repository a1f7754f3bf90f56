"""Every error leaves as application/problem+json (RFC 9457); the mapping lives here only."""
from __future__ import annotations

import logging
import traceback

from flask import Flask, Response, g, json
from sqlalchemy.exc import StatementError
from werkzeug.exceptions import HTTPException

from engine.errors import LvyueError, TooManyRequests

log = logging.getLogger("lvyue.api")

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, errors: dict | None = None) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    request_id = getattr(g, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="lvyue"'
    return response


def _flatten(messages, prefix="") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out[prefix or "body"] = messages
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            out.update(_flatten(value, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out[prefix or "body"] = [str(messages)]
    return out


def register(app: Flask) -> None:
    @app.errorhandler(LvyueError)
    def _domain(exc: LvyueError):
        response = problem(exc.status, exc.title, exc.detail, exc.errors)
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        data = getattr(exc, "data", None) or {}
        messages = data.get("messages")
        if messages and exc.code == 400:
            return problem(400, "Malformed request", "the request body is not valid JSON")
        if messages:
            # webargs/marshmallow: {"json": {"field": [...]}, "query": {...}} → {"field": [...]}
            errors = {}
            for location, fields in messages.items():
                errors.update(_flatten(fields, "" if location in ("json", "query", "form", "files") else location))
            first = next(iter(errors.items()))
            return problem(422, "Invalid input", f"{first[0]}: {first[1][0]}", errors)
        detail = exc.description or exc.name
        if exc.code == 400:
            detail = "the request body is not valid JSON" if "JSON" in (exc.description or "") else detail
        return problem(exc.code or 500, exc.name, detail)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        request_id = getattr(g, "request_id", "-")
        if isinstance(exc, StatementError):
            log.error("unhandled error (request %s): %s", request_id, describe_database_error(exc))
        else:
            log.exception("unhandled error (request %s)", request_id)
        return problem(500, "Internal error", "an unexpected error occurred; it has been logged with this request id")


def describe_database_error(exc: StatementError) -> str:
    """A failed statement as a log line without contract data: the error types, the driver's SQLSTATE and
    constraint, the SQL text and where it was issued — never the bound parameters, nor the driver's
    message (PostgreSQL's carries values: `DETAIL: Key (business_key)=(…) already exists`)."""
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    facts = [f"{type(exc).__name__} ({type(orig).__module__}.{type(orig).__name__})" if orig is not None
             else type(exc).__name__]
    for name, value in (("sqlstate", getattr(orig, "sqlstate", None)),
                        ("sqlite", getattr(orig, "sqlite_errorname", None)),
                        ("constraint", getattr(diag, "constraint_name", None)),
                        ("table", getattr(diag, "table_name", None))):
        if value:
            facts.append(f"{name} {value}")
    statement = " ".join(str(exc.statement or "").split())
    frames = "".join(traceback.format_tb(exc.__traceback__))
    return f"{'; '.join(facts)}; statement: {statement}\n{frames.rstrip()}"
