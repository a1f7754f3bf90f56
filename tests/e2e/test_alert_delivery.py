"""Alert delivery against the real server (`lvyue serve` in a subprocess, its embedded scheduler
sweeping every LVYUE_SWEEP_SECONDS): a deadline seconds away raises its alert within one sweep
interval + 2 s and not before; a backdated contract shows its alert at once; the SSE stream reaches
the supervising department and no other; a department's webhook receives the alert signed.

The contracts use tests/fixtures/short_timer.bpmn, whose boundary timer fires at the start-data
instant `due_at` and throws the warning construct (an orange DELIVERY_OVERDUE alert).
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from engine.access import signing
from engine.storage.db import Database
from engine.access.directory import add_department
from engine.storage.models import Outbox
from tests import requests_shim as shim
from tests.conftest import Server, fixture_bytes, seed_people

SWEEP_SECONDS = 1.0  # the product default, set explicitly so the bound below follows it
PROMISE = timedelta(seconds=SWEEP_SECONDS + 2)  # an alert is raised at most one sweep + 2 s after its deadline
WAIT = 30.0  # generous bound on any wait on a noisy machine; never the thing being measured


@pytest.fixture
def live(db_url, tmp_path, monkeypatch):
    """A running server with the directory seeded and short_timer.bpmn deployed: (server, people)."""
    monkeypatch.setenv("LVYUE_SWEEP_SECONDS", str(SWEEP_SECONDS))
    monkeypatch.setenv("LVYUE_DELIVERY_SECONDS", "0.5")
    database = Database(db_url)
    people = seed_people(database)
    database.dispose()
    server = Server(db_url, tmp_path).start()
    try:
        r = shim.request("POST", server.base + "/api/v1/definitions", raw=fixture_bytes("short_timer.bpmn"),
                         headers={**people.auth("designer"), "Content-Type": "application/xml"})
        assert r.status == 201, r.body
        yield server, people
    finally:
        server.kill()


def start(server: Server, people, key: str, due_at: datetime, department: str = "ZJ") -> dict:
    r = shim.request("POST", server.base + "/api/v1/instances", headers=people.auth("operator"), body={
        "definition": "short_timer", "business_key": key,
        "data": {"employer": "EMP", "department": department, "due_at": due_at.isoformat(), "amount": "88000.00"}})
    assert r.status == 201, r.body
    return r.json()


def alerts_of(server: Server, people, who: str, key: str) -> list[dict]:
    r = shim.request("GET", f"{server.base}/api/v1/alerts?business_key={key}", headers=people.auth(who))
    assert r.status == 200, r.body
    return r.json()["items"]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---------------------------------------------------------------- a: the deadline a few seconds away
def test_alert_is_raised_within_one_sweep_and_two_seconds_after_its_deadline_and_not_before(live):
    server, people = live
    due = datetime.now(timezone.utc) + timedelta(seconds=3)
    instance = start(server, people, "SHORT-1", due)
    [timer] = instance["timers"]
    assert timer["status"] == "waiting" and instant(timer["due_at"]) == due
    assert instance["alerts"] == []

    seen_before_due, first_seen = [], None
    give_up = time.monotonic() + 3 + WAIT
    while time.monotonic() < give_up:
        items = alerts_of(server, people, "zj", "SHORT-1")
        answered_at = datetime.now(timezone.utc)
        if items:
            if answered_at < due:  # the answer came back before the deadline, so the alert existed then
                seen_before_due.append(answered_at)
            first_seen = items[0]
            break
        time.sleep(0.1)
    assert not seen_before_due, f"alert visible at {seen_before_due[0]}, before its deadline {due}"
    assert first_seen is not None, f"no alert within {WAIT} s of the deadline"

    raised_at = instant(first_seen["raised_at"])
    assert instant(first_seen["due_at"]) == due
    assert first_seen["code"] == "DELIVERY_OVERDUE" and first_seen["severity"] == "orange"
    assert raised_at >= due, f"raised {due - raised_at} before the deadline"
    assert raised_at - due <= PROMISE, f"raised {raised_at - due} after the deadline; promised at most {PROMISE}"

    after = shim.request("GET", f"{server.base}/api/v1/instances/{instance['id']}", headers=people.auth("operator")).json()
    assert after["timers"] == []  # the instance view lists pending timers; this one fired
    assert [a["id"] for a in after["alerts"]] == [first_seen["id"]]


# ---------------------------------------------------------------- b: backdated
def test_backdated_contract_shows_its_alert_at_once(live):
    server, people = live
    due = datetime.now(timezone.utc) - timedelta(days=10)
    instance = start(server, people, "BACK-1", due)
    assert [a["code"] for a in instance["alerts"]] == ["DELIVERY_OVERDUE"]  # raised in the start step itself
    [alert] = alerts_of(server, people, "zj", "BACK-1")  # asked at once: no sweep was waited for
    assert alert["instance_id"] == instance["id"] and alert["status"] == "open"
    assert instant(alert["due_at"]) == due and alert["days_overdue"] >= 10
    assert alert["department"] == "ZJ" and alert["responsible_org"] == "EMP"
    assert [t for t in instance["timers"] if t["status"] == "waiting"] == []  # nothing left for a sweep to do


# ---------------------------------------------------------------- c: SSE
class EventStream:
    """GET /api/v1/alerts/stream read line by line with a socket timeout; yields parsed SSE messages."""

    def __init__(self, base: str, headers: dict[str, str], timeout: float = 10):
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        self.conn.request("GET", "/api/v1/alerts/stream", headers={**headers, "Accept": "text/event-stream"})
        self.response = self.conn.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("Content-Type", "").startswith("text/event-stream")

    def next(self) -> dict[str, str]:
        """The next message as {field: value} ("event", "data", "id", "retry"; a keep-alive comment
        comes back as {"comment": …}, so callers regain control at every poll of the server)."""
        message: dict[str, str] = {}
        while True:
            line = self.response.readline()  # raises TimeoutError if the server goes silent
            if not line:
                raise EOFError("the stream ended")
            line = line.decode("utf-8").rstrip("\r\n")
            if line == "":
                if message:
                    return message
                continue
            if line.startswith(":"):
                name, value = "comment", line[1:].strip()
            else:
                name, _, value = line.partition(":")
            message[name] = message.get(name, "") + value.removeprefix(" ")

    def alerts_until(self, stop, deadline: float) -> list[dict]:
        """Alert events in order until `stop(alert)` is true (inclusive) or the monotonic deadline passes."""
        out = []
        while time.monotonic() < deadline:
            message = self.next()
            if message.get("event") == "alert":
                out.append(json.loads(message["data"]))
                if stop(out[-1]):
                    break
        return out

    def close(self) -> None:
        self.conn.close()


def test_alert_stream_reaches_the_departments_supervisor_and_not_another_departments(live):
    server, people = live
    zj = EventStream(server.base, people.auth("zj"))
    cz = EventStream(server.base, people.auth("cz"))
    try:
        # The first message ("retry:") means each stream's resume point is set: what follows is new.
        assert "retry" in zj.next() and "retry" in cz.next()

        start(server, people, "SSE-ZJ", datetime.now(timezone.utc) - timedelta(days=3), department="ZJ")
        got = zj.alerts_until(lambda a: a["business_key"] == "SSE-ZJ", time.monotonic() + WAIT)
        assert [a["business_key"] for a in got] == ["SSE-ZJ"]
        assert got[0]["department"] == "ZJ" and got[0]["code"] == "DELIVERY_OVERDUE" and got[0]["status"] == "open"
        [listed] = alerts_of(server, people, "zj", "SSE-ZJ")
        assert got[0]["id"] == listed["id"]

        # The finance bureau's stream is ordered by change time: had it been allowed the ZJ alert, that
        # would come before CZ's own alert, raised later. So CZ's first alert event must be its own.
        start(server, people, "SSE-CZ", datetime.now(timezone.utc) - timedelta(days=3), department="CZ")
        seen_by_cz = cz.alerts_until(lambda a: a["business_key"] == "SSE-CZ", time.monotonic() + WAIT)
        assert [a["business_key"] for a in seen_by_cz] == ["SSE-CZ"], "CZ's supervisor saw another department's alert"
        # …and ZJ's supervisor is not sent the CZ alert either (read past two more poll rounds).
        zj_later = zj.alerts_until(lambda a: False, time.monotonic() + 3 * SWEEP_SECONDS)
        assert all(a["department"] == "ZJ" for a in zj_later), zj_later
    finally:
        zj.close()
        cz.close()


# ---------------------------------------------------------------- d: webhook
class Receiver:
    """A localhost webhook endpoint answering 204 and recording each request's headers and raw body."""

    def __init__(self):
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.arrived.set()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/lvyue-hook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_department_webhook_receives_the_alert_signed_with_its_secret(live, db_url):
    server, people = live
    secret = signing.new_secret()  # the whsec_ form of Standard Webhooks
    receiver = Receiver()
    database = Database(db_url)
    try:
        with database.transaction() as s:
            add_department(s, "HOOK", "交通运输局", webhook_url=receiver.url, webhook_secret=secret)
        instance = start(server, people, "HOOK-1", datetime.now(timezone.utc) - timedelta(days=2), department="HOOK")
        [alert] = instance["alerts"]
        assert receiver.arrived.wait(WAIT), f"no webhook POST within {WAIT} s"

        headers, body = receiver.requests[0]
        # Standard Webhooks, verified as any receiver would with its reference library:
        assert Webhook(secret).verify(body, headers)["id"] == alert["id"]
        with pytest.raises(WebhookVerificationError):
            Webhook(signing.new_secret()).verify(body, headers)
        # The deprecated header, keyed by the secret's text as before:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-lvyue-signature"], expected)
        assert not hmac.compare_digest(headers["x-lvyue-signature"],
                                       "sha256=" + hmac.new(b"another secret", body, hashlib.sha256).hexdigest())
        delivery = headers["x-lvyue-delivery"]
        assert str(uuid.UUID(delivery)) == delivery == headers["webhook-id"]
        payload = json.loads(body)
        assert payload["id"] == alert["id"] and payload["business_key"] == "HOOK-1"
        assert payload["department"] == "HOOK" and payload["code"] == "DELIVERY_OVERDUE"
        assert headers["content-type"].startswith("application/json")

        # The 204 is recorded against that delivery id, so it is not sent again.
        give_up = time.monotonic() + WAIT
        while time.monotonic() < give_up:
            with database.read() as s:
                rows = list(s.scalars(select(Outbox)))
            if rows and all(r.status == "delivered" for r in rows):
                break
            time.sleep(0.2)
        assert [(r.id, r.status, r.alert_id) for r in rows] == [(delivery, "delivered", alert["id"])]
        assert len({h["x-lvyue-delivery"] for h, _ in receiver.requests}) == 1
    finally:
        database.dispose()
        receiver.close()
