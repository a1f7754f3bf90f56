"""Resource limits against the real server (`lvyue serve`, waitress, 32 request threads): alert streams are
capped per token and per process and never starve ordinary requests (issue 14, acceptance 1); a stream's
slot comes back when its client leaves; an oversized body is refused as problem+json before parsing."""
from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest

from api import bodies, streams
from engine.storage.db import Database
from tests import requests_shim as http
from tests.conftest import Server, fixture_bytes, seed_people

PROMPT = 2.0  # acceptance: ordinary requests answer within 2 s while the streams are open


def _setup(server: Server):
    database = Database(server.db_url)
    people = seed_people(database)
    database.dispose()
    r = http.request("POST", server.base + "/api/v1/definitions", raw=fixture_bytes("approval.bpmn"),
                     headers={**people.auth("designer"), "Content-Type": "application/xml"})
    assert r.status == 201, r.body
    return people


def _start(server: Server, people, business_key: str) -> dict:
    r = http.request("POST", server.base + "/api/v1/instances", headers=people.auth("operator"),
                     body={"definition": "variation_approval", "business_key": business_key,
                           "data": {"employer": "EMP", "contractor": "CON"}})
    assert r.status == 201, r.body
    return r.json()


def _open_stream(server: Server, token: str) -> socket.socket:
    """Connect and send GET /api/v1/alerts/stream; the response is read later (`_head`)."""
    parts = urlsplit(server.base)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.sendall((f"GET /api/v1/alerts/stream HTTP/1.1\r\nHost: {parts.hostname}\r\n"
                  f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n").encode())
    return sock


def _head(sock: socket.socket) -> tuple[int, dict[str, str]]:
    """The status and headers of the response on `sock` (the body is left unread)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise EOFError(f"connection closed after {data!r}")
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(head[0].split()[1]), headers


def _timed(method: str, url: str, **kwargs):
    began = time.monotonic()
    reply = http.request(method, url, timeout=30, **kwargs)
    return reply, time.monotonic() - began


def test_a_hundred_streams_from_one_token_leave_the_server_responsive(server):
    people = _setup(server)
    instance = _start(server, people, "STREAMS-1")
    emp = people.tokens["emp"]

    socks = [_open_stream(server, emp) for _ in range(100)]  # all sent before any answer is read
    try:
        health, health_took = _timed("GET", server.base + "/healthz")
        assert health.status == 200 and health_took < PROMPT, f"/healthz took {health_took:.2f} s"
        task = instance["tasks"][0]
        done, done_took = _timed("POST", f"{server.base}/api/v1/tasks/{task['id']}/complete", headers=people.auth("con"),
                                 body={"data": {"amount": "10.00", "reason": "while streams are open"}})
        assert done.status == 200 and done_took < PROMPT, (done.status, f"{done_took:.2f} s")

        heads = [_head(s) for s in socks]
        accepted = [h for status, h in heads if status == 200]
        refused = [h for status, h in heads if status == 429]
        assert len(accepted) == streams.PER_TOKEN and len(refused) == 100 - streams.PER_TOKEN, \
            sorted({status for status, _ in heads})
        for headers in accepted:
            assert headers["content-type"].startswith("text/event-stream")
        for headers in refused:
            assert headers["content-type"].startswith("application/problem+json")
            assert int(headers["retry-after"]) > 0

        # …and with the accepted streams still open, the other party and the server answer as promptly.
        health, health_took = _timed("GET", server.base + "/healthz")
        assert health.status == 200 and health_took < PROMPT
        listed, listed_took = _timed("GET", server.base + "/api/v1/tasks", headers=people.auth("emp"))
        assert listed.status == 200 and listed_took < PROMPT
        [approve] = listed.json()["items"]
        done, done_took = _timed("POST", f"{server.base}/api/v1/tasks/{approve['id']}/complete",
                                 headers=people.auth("emp"), body={"data": {"approved": True}})
        assert done.status == 200 and done_took < PROMPT
    finally:
        for s in socks:
            s.close()


def test_the_process_cap_refuses_other_tokens_and_a_closed_stream_gives_its_slot_back(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LVYUE_STREAMS_MAX", "3")
    server = Server(db_url, tmp_path).start()
    held = []
    try:
        people = _setup(server)
        for who in ("emp", "emp", "con"):
            held.append(_open_stream(server, people.tokens[who]))
            assert _head(held[-1])[0] == 200
        refused = _open_stream(server, people.tokens["zj"])
        status, headers = _head(refused)
        refused.close()
        assert status == 429 and int(headers["retry-after"]) > 0
        reply = http.request("GET", server.base + "/api/v1/alerts/stream", headers=people.auth("zj"))
        problem = reply.json()
        assert problem["status"] == 429 and "3 alert streams" in problem["detail"], problem

        held.pop().close()  # con's stream: the server notices at its next keep-alive write (one poll)
        deadline, status = time.monotonic() + 15, None
        while time.monotonic() < deadline:
            retry = _open_stream(server, people.tokens["zj"])
            status = _head(retry)[0]
            if status == 200:
                held.append(retry)
                break
            retry.close()
            time.sleep(0.5)
        assert status == 200, "the closed stream's slot was not given back"
        assert http.request("GET", server.base + "/healthz").status == 200
    finally:
        for s in held:
            s.close()
        server.kill()


@pytest.mark.parametrize("path, content_type, size", [
    ("/api/v1/instances", "application/json", bodies.MAX_JSON_BODY + 1),
    ("/api/v1/definitions", "application/xml", bodies.MAX_DIAGRAM_BODY + 1),
])
def test_an_oversized_body_is_413_problem_json_from_the_real_server(server, path, content_type, size):
    people = _setup(server)
    who = "designer" if path.endswith("definitions") else "operator"
    filler = b'{"definition": "x", "business_key": "b", "data": {"s": "' + b"a" * size + b'"}}' \
        if content_type == "application/json" else b"<x>" + b"a" * size + b"</x>"
    reply = http.request("POST", server.base + path, raw=filler, headers={**people.auth(who), "Content-Type": content_type})
    assert reply.status == 413 and reply.headers["Content-Type"].startswith("application/problem+json"), reply.status
    problem = json.loads(reply.body)
    assert str(bodies.limit_for("definitions.deploy" if who == "designer" else None)) in problem["detail"]
    # Nothing was stored: no instance, no definition beyond the one _setup deployed.
    assert http.request("GET", server.base + "/api/v1/instances", headers=people.auth("admin")).json()["items"] == []
    definitions = http.request("GET", server.base + "/api/v1/definitions", headers=people.auth("admin")).json()["items"]
    assert [d["key"] for d in definitions] == ["variation_approval"]
