"""Request bodies, bounded before anything parses them: one hook for every endpoint.

A JSON body may be at most MAX_JSON_BODY bytes, a diagram upload MAX_DIAGRAM_BODY (413 beyond);
a JSON body is then read once by engine/strictjson.py (depth, integer digits, finite numbers, no
lone surrogates: 400 or 422 naming the field). What passes is safe for the stdlib parser that
webargs runs afterwards on the same bytes.
"""
from __future__ import annotations

from flask import Flask, request

from engine.runtime import diagrams, strictjson
from engine.supervision import intake
from engine.errors import TooLarge

MAX_JSON_BODY = 256 * 1024  # task and start data are capped at engine/forms.py MAX_DATA_BYTES (64 KB); room, not abuse
# A diagram is capped at diagrams.MAX_BYTES; the rest is the multipart envelope around it.
MAX_DIAGRAM_BODY = diagrams.MAX_BYTES + 64 * 1024
# Endpoints whose body is a BPMN diagram (XML or a multipart upload), not JSON.
DIAGRAM_ENDPOINTS = {"definitions.deploy", "definitions.validate"}
# Endpoints that read a large JSON document themselves (bounded and strict: engine/supervision/intake.py `load`).
LARGE_JSON_ENDPOINTS = {"ocds_import.import_package": intake.MAX_PACKAGE_BYTES}
MAX_BODY = max(MAX_DIAGRAM_BODY, *LARGE_JSON_ENDPOINTS.values())  # the largest any endpoint takes
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def limit_for(endpoint: str | None) -> int:
    if endpoint in LARGE_JSON_ENDPOINTS:
        return LARGE_JSON_ENDPOINTS[endpoint]
    return MAX_DIAGRAM_BODY if endpoint in DIAGRAM_ENDPOINTS else MAX_JSON_BODY


def register(app: Flask, skip_json: set[str]) -> None:
    """Install the hook; call it after authentication's hook (who is asking is decided first).
    Endpoints in `skip_json` (checked when a request arrives) read their JSON themselves, e.g. after
    verifying a signature over the raw bytes; their size is bounded all the same."""

    @app.before_request
    def _bounded_body():
        if request.method not in _BODY_METHODS:
            return
        limit = limit_for(request.endpoint)
        # Werkzeug enforces it while reading (also for chunked bodies, without a length); the explicit
        # check answers a declared length at once, with the figures.
        request.max_content_length = limit
        if request.content_length is not None and request.content_length > limit:
            raise TooLarge(f"the request body is {request.content_length} bytes; at most {limit} are accepted here",
                           {"body": [f"at most {limit} bytes"]})
        if request.is_json and request.endpoint not in skip_json and request.endpoint not in LARGE_JSON_ENDPOINTS:
            data = request.get_data(cache=True)
            if data:
                strictjson.load_body(data)
