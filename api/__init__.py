"""The Flask application: a thin translation layer over `engine/` (STYLE.md)."""
from __future__ import annotations

import http
import json
import logging
import os
import re
import time
import uuid
from pathlib import Path

from flask import Flask, g, request
from apispec import BasePlugin
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import Schema, fields

from engine import bootstrap
from engine.runtime import spiff
from engine.storage.db import Database
from engine.settings import Settings

from . import auth, bodies, errors, streams

ROOT = Path(__file__).resolve().parent.parent

log = logging.getLogger("lvyue.requests")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# API endpoints that authenticate by other means than a bearer token (e.g. signed platform callbacks).
PUBLIC_ENDPOINTS: set[str] = set()


class ProblemSchema(Schema):
    """application/problem+json (RFC 9457), as every error of the API is answered."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "field path → messages, for invalid input"})
    request_id = fields.String()


class ProblemBodies(BasePlugin):
    """An error response documented by its description only (`alt_response(409, description=…)`) gets the body it
    really has: problem+json (api/errors.py), so a generated client parses it instead of dropping it."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            for status, response in (operation.get("responses") or {}).items():
                if str(status)[:1] in ("4", "5") and isinstance(response, dict) and not {"$ref", "content"} & set(response):
                    response["content"] = {errors.PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}


class LvyueApi(Api):
    """flask-smorest documenting errors as they are really sent: problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, errors.PROBLEM)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response (problem+json)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, errors.PROBLEM)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


class Lvyue:
    """Per-app state: the settings it was built with, the database handle and the alert streams' slots."""

    def __init__(self, settings: Settings, db: Database, streams: streams.StreamSlots):
        self.settings = settings
        self.db = db
        self.streams = streams


def create_app(test_config: dict | None = None, settings: Settings | None = None) -> Flask:
    """The WSGI app. `settings` default to the environment's (`Settings.from_env(os.environ)`, read here, once);
    keys of `test_config` named like a variable (README "Configuration", e.g. `DATABASE_URL`,
    `LVYUE_STREAMS_MAX`) override them, the others go to Flask's config. A bad value raises SettingsError."""
    test_config = test_config or {}
    settings = (settings or Settings.from_env(os.environ)).override(test_config)
    bootstrap.bootstrap()  # the domain's listeners, functions and bindings (engine/bootstrap.py)
    spiff.set_step_budget(settings.step_budget())
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config.from_mapping(
        MAX_CONTENT_LENGTH=bodies.MAX_BODY,  # the largest any endpoint takes; api/bodies.py narrows it
        # Each alert stream (SSE) holds a request thread; see api/streams.py and README "Resource limits".
        LVYUE_REQUEST_THREADS=streams.DEFAULT_THREADS,  # `lvyue serve --threads` sets its own
        # ASCII: generators derive the client's package name from it (openapi-python-client: lvyue-api-client,
        # import lvyue_api_client; docs/api.md "Generated clients").
        API_TITLE="Lvyue API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/vendor/swagger-ui-dist/",
        API_SPEC_OPTIONS={
            "info": {"description": "Lvyue (履约): post-award contract supervision: definitions, contracts, tasks, "
                                    "alerts. The contract is docs/api.md in the repository; errors are application/problem+json. "
                                    "Every operation has an operationId naming what it does (list_tasks, "
                                    "complete_task, start_instance …); a client generated with openapi-python-client "
                                    "is the package lvyue-api-client (import lvyue_api_client)."},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
        JSON_SORT_KEYS=False,
    )
    app.config.update({k: v for k, v in test_config.items() if k not in Settings.variables()})
    stream_cap = settings.streams_max or streams.cap_for_threads(app.config["LVYUE_REQUEST_THREADS"])
    slots = streams.StreamSlots(stream_cap, settings.streams_per_token or streams.PER_TOKEN)
    app.extensions["lvyue"] = Lvyue(settings, Database(settings.database_url_or_default()), slots)
    app.json.ensure_ascii = False

    api = LvyueApi(app, spec_kwargs={"extra_plugins": [ProblemBodies()]})
    from . import (alerts, cases, contracts, definitions, guarantees, incidents, instances, me, ops, pages, public,
                   sessions, tasks, versions)

    for blueprint in (definitions.blp, instances.blp, tasks.blp, alerts.blp, incidents.blp, contracts.blp,
                      versions.blp, versions.rules_blp, guarantees.blp, public.blp, cases.blp, me.blp, sessions.blp):
        api.register_blueprint(blueprint)
    PUBLIC_ENDPOINTS.add("guarantees.guarantee_issued")  # signed by the issuer's platform, or a bearer token
    PUBLIC_ENDPOINTS.update(public.ENDPOINTS)  # the public credit library: no token at all
    PUBLIC_ENDPOINTS.update(sessions.ENDPOINTS)  # signing in with a password: no token yet
    from . import reports  # supervisor insight: reports, credit records, leads, OCDS

    for blueprint in reports.BLUEPRINTS:
        api.register_blueprint(blueprint)
    from . import intake  # the trading platform's awards: import, tenders, contract start, bulletin, risk

    for blueprint in intake.BLUEPRINTS:
        api.register_blueprint(blueprint)
    app.register_blueprint(ops.bp)
    app.register_blueprint(pages.bp)
    errors.register(app)

    @app.before_request
    def _request_id():
        g.started = time.perf_counter()
        given = request.headers.get("X-Request-Id", "")
        # A caller's id is echoed into logs: only a plain token is accepted, never log-injection text.
        g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex

    @app.before_request
    def _authenticate_first():
        # Who is asking is decided before what they sent is read: an anonymous caller gets 401,
        # not a validation error that describes the API to strangers.
        if request.path.startswith("/api/v1/") and request.endpoint not in PUBLIC_ENDPOINTS:
            auth.principal()

    bodies.register(app, skip_json=PUBLIC_ENDPOINTS)

    @app.after_request
    def _log(response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        # One access line per request, key=value (README "Console and logs"). Bodies and query strings are
        # never logged: they carry tokens, webhook secrets and business data; path and user are JSON-quoted so
        # that a hostile path cannot forge a second line or another field.
        who = g.principal.name if "principal" in g else "-"
        ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        log.info("access request_id=%s method=%s path=%s status=%s ms=%.1f user=%s bytes=%s",
                 g.get("request_id", "-"), request.method, json.dumps(request.path, ensure_ascii=False),
                 response.status_code, ms, json.dumps(who, ensure_ascii=False),
                 response.calculate_content_length() if not response.is_streamed else "-")
        return response

    return app
