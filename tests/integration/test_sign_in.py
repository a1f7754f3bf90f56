"""Sign-in with a user name and password (issue 19): hashes, the same 401 for a wrong password and an unknown
name, lockout after repeated failures, the session cookie with its CSRF token, bearer tokens unaffected."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import clock
from engine.access import passwords
from engine.errors import Invalid
from engine.storage.models import User

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
PASSWORD = "correct horse 42"


def test_a_password_is_stored_as_a_salted_scrypt_hash_and_verified():
    one, two = passwords.hash_password(PASSWORD), passwords.hash_password(PASSWORD)
    assert one.startswith("scrypt:32768:8:1$") and PASSWORD not in one and one != two  # salted
    assert passwords.verify(PASSWORD, one) and passwords.verify(PASSWORD, two)
    assert not passwords.verify(PASSWORD + "x", one) and not passwords.verify(PASSWORD, None)
    assert not passwords.verify("x" * (passwords.MAX_LENGTH + 1), one)
    for bad in ("short", " leading space1", "x" * (passwords.MAX_LENGTH + 1), "with\nnewline1"):
        with pytest.raises(Invalid) as exc:
            passwords.hash_password(bad)
        assert "password" in exc.value.errors


def set_password(app, name, password=PASSWORD):
    with app.extensions["lvyue"].db.transaction() as s:
        passwords.set_password(s, name, password)


def sign_in(client, name, password=PASSWORD):
    return client.post("/api/v1/sessions", json={"name": name, "password": password})


@SQLITE
def test_sign_in_sets_an_httponly_lax_cookie_and_the_session_acts_as_the_user(app, client, people):
    set_password(app, "emp")
    r = sign_in(client, "emp")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["name"] == "emp" and body["role"] == "party" and body["org"] == "EMP" and len(body["csrf_token"]) == 64
    cookies = {c.split("=", 1)[0]: c for c in r.headers.getlist("Set-Cookie")}
    assert "HttpOnly" in cookies["lvyue_session"] and "SameSite=Lax" in cookies["lvyue_session"]
    assert "Secure" not in cookies["lvyue_session"]  # plain http: a Secure cookie would never come back
    assert "HttpOnly" not in cookies["lvyue_csrf"] and body["csrf_token"] in cookies["lvyue_csrf"]
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.get_json()["name"] == "emp"
    # over https the cookies are Secure
    secure = app.test_client().post("/api/v1/sessions", json={"name": "emp", "password": PASSWORD},
                                    base_url="https://localhost")
    assert all("Secure" in c for c in secure.headers.getlist("Set-Cookie"))


@SQLITE
def test_a_wrong_password_and_an_unknown_name_get_the_same_401(app, client, people):
    set_password(app, "emp")
    wrong, unknown, no_password = sign_in(client, "emp", "wrong password!"), sign_in(client, "nobody"), sign_in(client, "con")
    assert wrong.status_code == unknown.status_code == no_password.status_code == 401
    assert wrong.get_json()["detail"] == unknown.get_json()["detail"] == no_password.get_json()["detail"] == passwords.WRONG
    assert "lvyue_session" not in "".join(wrong.headers.getlist("Set-Cookie"))
    assert client.get("/api/v1/me").status_code == 401
    assert client.post("/api/v1/sessions", json={"name": "emp"}).status_code == 422  # a missing field is named


@SQLITE
def test_five_failures_lock_the_name_for_fifteen_minutes_even_for_the_right_password(app, client, people):
    set_password(app, "emp")
    now = clock.now()
    with clock.frozen_at(now):
        for _ in range(passwords.MAX_FAILURES - 1):
            assert sign_in(client, "emp", "wrong password!").status_code == 401
        assert sign_in(client, "emp").status_code == 201  # a success resets the count
        for _ in range(passwords.MAX_FAILURES):
            assert sign_in(client, "emp", "wrong password!").status_code == 401
        locked = sign_in(client, "emp")
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) == passwords.LOCK_MINUTES * 60
        # a name that is no user is locked the same way: the answer does not tell which names exist
        for _ in range(passwords.MAX_FAILURES):
            assert sign_in(client, "ghost").status_code == 401
        assert sign_in(client, "ghost").status_code == 429
    with clock.frozen_at(now + timedelta(minutes=passwords.LOCK_MINUTES, seconds=1)):
        assert sign_in(client, "emp").status_code == 201
    with app.extensions["lvyue"].db.read() as s:
        user = s.scalar(select(User).where(User.name == "emp"))
        assert user.failed_sign_ins == 0 and user.locked_until is None


def test_the_unknown_names_table_is_bounded():
    table = passwords._UnknownNames(kept=3)
    for name in "abcde":
        table.put(name, 1, None)
    assert list(table.rows) == ["c", "d", "e"] and table.get("a") == (0, None)


@SQLITE
def test_a_cookie_session_needs_its_csrf_token_to_change_anything_and_a_bearer_token_does_not(app, client, people):
    set_password(app, "zj")
    csrf = sign_in(client, "zj").get_json()["csrf_token"]
    # a state-changing request by cookie without the token, or with another, is refused and changes nothing
    note = {"severity": "red"}
    for headers in ({}, {"X-CSRF-Token": "0" * 64}):
        r = client.post("/api/v1/leads", json=note, headers=headers)
        assert r.status_code == 403, r.get_json()
        assert "X-CSRF-Token" in r.get_json()["errors"]
    # with it, the request reaches the endpoint (here: 422 on the incomplete lead, not 403)
    r = client.post("/api/v1/leads", json=note, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422, r.get_json()
    # reading needs no token
    assert client.get("/api/v1/alerts").status_code == 200
    # a bearer request is judged by its token alone: no CSRF token, and the cookie beside it is ignored (nor ended)
    r = client.delete("/api/v1/sessions/current", headers=people.auth("zj"))
    assert r.status_code == 200 and r.get_json() == {"ended": False} and client.get("/api/v1/me").status_code == 200
    r = client.post("/api/v1/leads", json=note, headers=people.auth("zj"))
    assert r.status_code == 422, r.get_json()
    assert client.get("/api/v1/me", headers=people.auth("emp")).get_json()["name"] == "emp"


@SQLITE
def test_sign_out_ends_the_session_and_a_new_password_ends_the_others(app, client, people):
    set_password(app, "emp")
    csrf = sign_in(client, "emp").get_json()["csrf_token"]
    assert client.delete("/api/v1/sessions/current").status_code == 403  # sign-out changes state: CSRF too
    stolen = client.get_cookie("lvyue_session").value
    r = client.delete("/api/v1/sessions/current", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.get_json() == {"ended": True}
    assert client.get_cookie("lvyue_session") is None
    client.set_cookie("lvyue_session", stolen)  # the old cookie is dead on the server too
    assert client.get("/api/v1/me").status_code == 401

    other = app.test_client()
    assert sign_in(other, "emp").status_code == 201 and other.get("/api/v1/me").status_code == 200
    set_password(app, "emp", "another password 7")
    assert other.get("/api/v1/me").status_code == 401
    assert sign_in(other, "emp").status_code == 401 and sign_in(other, "emp", "another password 7").status_code == 201
