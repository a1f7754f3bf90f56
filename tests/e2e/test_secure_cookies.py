"""The sign-in cookies behind a TLS-terminating proxy (issue 19): `lvyue serve --trusted-proxy IP` believes that
proxy's X-Forwarded-Proto, so a sign-in made over https gets Secure cookies; without it (the default) the header
is ignored, whoever sends it."""
from __future__ import annotations

import pytest

from engine.access import passwords
from engine.storage import migrate
from engine.storage.db import Database
from tests import requests_shim as http
from tests.conftest import Server, seed_people

PASSWORD = "behind the proxy 1"


@pytest.mark.parametrize("trusted, secure", [(("--trusted-proxy", "127.0.0.1"), True), ((), False)])
def test_sign_in_cookies_are_secure_when_a_trusted_proxy_says_https(tmp_path, trusted, secure):
    url = f"sqlite:///{tmp_path / 'lvyue.sqlite'}"
    migrate.upgrade(url)
    database = Database(url)
    seed_people(database)
    with database.transaction() as s:
        passwords.set_password(s, "emp", PASSWORD)
    database.dispose()
    server = Server(url, tmp_path, *trusted).start()
    try:
        def sign_in(**headers):
            r = http.request("POST", server.base + "/api/v1/sessions", body={"name": "emp", "password": PASSWORD},
                             headers=headers)
            assert r.status == 201, r.body
            return r.headers.get("Set-Cookie", "")

        over_https = sign_in(**{"X-Forwarded-Proto": "https"})
        assert "lvyue_session=" in over_https and "HttpOnly" in over_https
        assert ("Secure" in over_https) is secure
        assert "Secure" not in sign_in()  # plain http through the proxy: not Secure (it would never come back)
    finally:
        server.kill()
