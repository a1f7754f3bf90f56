"""/api/v1/sessions — sign in with a user name and password (a browser session cookie), and sign out.

Scripts keep their bearer tokens; people in a browser may sign in here instead (engine/access/passwords.py,
api/auth.py for the cookie and its CSRF token). README "Signing in" and docs/api.md "Sessions".
"""
from __future__ import annotations

from flask import jsonify, make_response, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from engine.access import passwords

from .auth import CSRF_COOKIE, SESSION_COOKIE, db, principal, session_secret
from .schemas import Strict

blp = Blueprint("sessions", __name__, url_prefix="/api/v1/sessions",
                description="Sign-in with a user name and password: a browser session (cookie + CSRF token)")
# Signing in needs no credential (api/__init__.py PUBLIC_ENDPOINTS).
ENDPOINTS = ("sessions.sign_in",)


class SignInIn(Strict):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    password = fields.String(required=True, validate=validate.Length(1, passwords.MAX_LENGTH))


class SessionOut(Schema):
    name = fields.String()
    role = fields.String(metadata={"enum": ["admin", "operator", "designer", "party", "supervisor"]})
    org = fields.String(allow_none=True)
    department = fields.String(allow_none=True)
    csrf_token = fields.String(metadata={"description": "send it as X-CSRF-Token on every POST/PUT/PATCH/DELETE "
                                                        "made with the session cookie (also in the lvyue_csrf cookie)"})
    expires_at = fields.DateTime()


def _cookie_options() -> dict:
    # Secure whenever the request came over https (directly, or from a proxy trusted with X-Forwarded-Proto:
    # `lvyue serve --trusted-proxy`); over plain http on 127.0.0.1 a Secure cookie would never be sent back.
    return {"samesite": "Lax", "secure": request.is_secure, "path": "/"}


@blp.route("", methods=["POST"])
@blp.doc(operationId="sign_in", security=[])
@blp.arguments(SignInIn)
@blp.response(201, SessionOut)
@blp.alt_response(401, description="the user name or the password is wrong (the same answer for both)")
@blp.alt_response(429, description=f"{passwords.MAX_FAILURES} failures in a row: the user name is locked for "
                                   f"{passwords.LOCK_MINUTES} minutes (Retry-After)")
def sign_in(body):
    """Sign in with a user name and password: sets the session cookie `lvyue_session` (HttpOnly, SameSite=Lax,
    Secure over https) and `lvyue_csrf`, valid 12 hours; a wrong password or unknown name is 401 without saying
    which, 5 failures in a row lock the name for 15 minutes (429)."""
    with db().transaction() as session:
        outcome = passwords.sign_in(session, body["name"], body["password"])
    if not isinstance(outcome, passwords.Opened):
        raise outcome  # after the failure it counted was committed
    p = outcome.principal
    out = {"name": p.name, "role": p.role, "org": p.org_code, "department": p.department_code,
           "csrf_token": outcome.csrf, "expires_at": outcome.expires_at}
    response = make_response(jsonify(SessionOut().dump(out)), 201)
    response.headers["Cache-Control"] = "no-store"  # it carries the CSRF token
    max_age = passwords.SESSION_HOURS * 3600
    response.set_cookie(SESSION_COOKIE, outcome.secret, max_age=max_age, httponly=True, **_cookie_options())
    response.set_cookie(CSRF_COOKIE, outcome.csrf, max_age=max_age, httponly=False, **_cookie_options())
    return response


class SignOutOut(Schema):
    ended = fields.Boolean(metadata={"description": "true when a browser session was ended (false with a bearer token)"})


@blp.route("/current", methods=["DELETE"])
@blp.doc(operationId="sign_out")
@blp.response(200, SignOutOut)
@blp.alt_response(401, description="no valid token or session")
@blp.alt_response(403, description="by cookie without the session's X-CSRF-Token")
def sign_out():
    """Sign out: ends the browser session of the cookie (with its CSRF token, 403 without) and clears the
    cookies; with a bearer token nothing is ended (revoke tokens with `lvyue tokens revoke`)."""
    principal()
    secret, ended = session_secret(), False
    if secret:
        with db().transaction() as session:
            ended = passwords.sign_out(session, secret)
    response = make_response(jsonify(SignOutOut().dump({"ended": ended})), 200)
    if secret:  # a bearer call leaves a browser's cookies alone
        response.delete_cookie(SESSION_COOKIE, **_cookie_options())
        response.delete_cookie(CSRF_COOKIE, **_cookie_options())
    return response
