"""Webhook deliveries from the outbox, against real HTTP receivers on 127.0.0.1."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from engine import clock
from engine.access import directory, signing
from engine.errors import Invalid
from engine.runtime import webhooks
from engine.clock import frozen_at
from engine.storage.models import Incident, Outbox
from tests.conftest import seed_people

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
ALERT = {"id": "a-1", "kind": "arrears", "code": "G05", "severity": "red", "department": "ZJ",
         "business_key": "HT-2026-001", "amount_overdue": "125000.50", "legal_basis": "《保障中小企业款项支付条例》第十五条"}


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes


class Receiver:
    """An HTTP endpoint that answers `statuses` in turn (the last one repeats) and records each request.

    With `hang=True` it reads the request and never answers; `gone_at` is when the client gave up.
    """

    def __init__(self, statuses=(200,), hang=False):
        self.statuses, self.requests, self.gone_at = list(statuses), [], None
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if hang:
                    receiver.requests.append(Received(time.monotonic(), headers, body))
                    self.rfile.read(1)  # returns at EOF: the client timed out and closed the connection
                    receiver.gone_at = time.monotonic()
                    self.close_connection = True
                    return
                # Recorded before the answer: once the client has its answer, the test may look at the request.
                with receiver.lock:
                    status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                    receiver.requests.append(Received(time.monotonic(), headers, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    started = []

    def start(**kwargs) -> Receiver:
        started.append(Receiver(**kwargs))
        return started[-1]

    yield start
    for receiver in started:
        receiver.close()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/hook"


def _department(db, code, url, secret):
    with db.transaction() as s:
        directory.add_department(s, code, f"department {code}", webhook_url=url, webhook_secret=secret)


def _enqueue(db, code, payload=ALERT, event="alert.raised", at=T0):
    with frozen_at(at), db.transaction() as s:
        row = webhooks.enqueue(s, code, event, payload)
        return row.id if row is not None else None


def _row(db, row_id) -> Outbox:
    with db.read() as s:
        return s.get(Outbox, row_id)


def _deliver(db, at, owner="w1", **kwargs) -> int:
    with frozen_at(at):
        return webhooks.deliver_due(db, owner, **kwargs)


def test_receiver_gets_payload_signed_over_raw_body_with_delivery_id(db, receivers):
    """Secrets from before Standard Webhooks (plain texts) keep working: the deprecated header is what it was,
    and a Standard Webhooks verifier given the secret's whsec_ form (whsec_ + base64 of its text) accepts it."""
    zj, cz = receivers(), receivers()
    _department(db, "ZJH", zj.url, "zj-secret")
    _department(db, "CZH", cz.url, "财政-secret")
    ids = {"ZJH": _enqueue(db, "ZJH"), "CZH": _enqueue(db, "CZH", {**ALERT, "department": "CZ"}, "alert.escalated")}

    assert _deliver(db, T0) == 2

    assert signing.standard_form("zj-secret") == "whsec_emotc2VjcmV0"  # the mapping docs/api.md shows
    for code, receiver, secret, event in (("ZJH", zj, "zj-secret", "alert.raised"),
                                          ("CZH", cz, "财政-secret", "alert.escalated")):
        [request] = receiver.requests
        expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(request.headers["x-lvyue-signature"], expected)
        whsec = "whsec_" + base64.b64encode(secret.encode("utf-8")).decode()
        assert Webhook(whsec).verify(request.body, request.headers) == json.loads(request.body)
        with pytest.raises(WebhookVerificationError):
            Webhook(signing.standard_form("other-secret")).verify(request.body, request.headers)
        assert request.headers["webhook-id"] == request.headers["x-lvyue-delivery"] == ids[code]
        assert request.headers["x-lvyue-event"] == event
        assert request.headers["content-type"] == "application/json"
        assert request.body == _row(db, ids[code]).body.encode("utf-8")
        assert json.loads(request.body)["department"] == ("ZJ" if code == "ZJH" else "CZ")
        row = _row(db, ids[code])
        assert (row.status, row.attempts, row.delivered_at, row.lease_owner) == ("delivered", 0, T0, None)


def test_a_delivery_verifies_with_standard_webhooks_and_the_same_delivery_ten_minutes_old_is_refused(
        db, receivers, monkeypatch):
    """Acceptance 3 of issue 22: `Webhook(secret).verify(body, headers)` of the `standardwebhooks` package."""
    secret = signing.new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    fresh, replayed = receivers(), receivers()
    _department(db, "FRESH", fresh.url, secret)
    _department(db, "STALE", replayed.url, secret)
    fresh_id = _enqueue(db, "FRESH")
    assert _deliver(db, T0) == 1  # the engine clock is frozen in March: the signature's timestamp is the wall clock's
    [request] = fresh.requests
    assert Webhook(secret).verify(request.body, request.headers) == ALERT
    stamp = int(request.headers["webhook-timestamp"])
    assert abs(stamp - time.time()) < 60 and request.headers["webhook-id"] == fresh_id
    assert request.headers["webhook-signature"].startswith("v1,")
    # The signature covers id, timestamp and body: changing any of them breaks it.
    for changed in ({"webhook-id": "other"}, {"webhook-timestamp": str(stamp - 1)}):
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            Webhook(secret).verify(request.body, {**request.headers, **changed})
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(secret).verify(request.body.replace(b"125000.50", b"1.00"), request.headers)

    # The same delivery sent with a timestamp ten minutes old (as a captured one replayed then would be):
    # correctly signed, and refused for its age.
    ten_minutes_ago = clock.wall_now() - timedelta(minutes=10)
    monkeypatch.setattr(clock, "wall_now", lambda: ten_minutes_ago)
    _enqueue(db, "STALE")
    assert _deliver(db, T0) == 1
    [old] = replayed.requests
    assert int(old.headers["webhook-timestamp"]) == int(ten_minutes_ago.timestamp())
    assert old.headers["webhook-signature"] == Webhook(secret).sign(
        old.headers["webhook-id"], ten_minutes_ago, old.body)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(old.body, old.headers)
    # Lvyue's own verifier (the issuer callbacks') agrees with the package on both.
    assert webhooks.verify_standard(secret, request.body, request.headers, datetime.now(timezone.utc))
    assert not webhooks.verify_standard(secret, old.body, old.headers, datetime.now(timezone.utc))
    assert webhooks.verify_standard(secret, old.body, old.headers, ten_minutes_ago + timedelta(minutes=4))


def test_a_malformed_whsec_secret_is_refused_when_configured(db):
    for bad, why in (("whsec_not*base64", "base64"), ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64")):
        with pytest.raises(Invalid) as refused, db.transaction() as s:
            directory.add_department(s, "BAD", "bad", webhook_url="http://127.0.0.1:9/hook", webhook_secret=bad)
        assert why in refused.value.errors["webhook_secret"][0]


def test_failing_receiver_gets_the_delivery_on_the_fourth_attempt_after_backoff(db, receivers):
    receiver = receivers(statuses=(500, 500, 500, 200))
    _department(db, "ZJH", receiver.url, "secret")
    row_id = _enqueue(db, "ZJH")

    at = T0
    for failures in (1, 2, 3):
        assert _deliver(db, at) == 1
        row = _row(db, row_id)
        assert (row.status, row.attempts, row.last_status, row.last_error) == ("pending", failures, 500, "HTTP 500")
        assert row.next_attempt_at > at
        at = row.next_attempt_at
        assert _deliver(db, at - timedelta(milliseconds=1)) == 0  # not before its backoff has passed
    assert _deliver(db, at) == 1

    row = _row(db, row_id)
    assert (row.status, row.attempts, row.delivered_at) == ("delivered", 3, at)
    assert [r.headers["x-lvyue-delivery"] for r in receiver.requests] == [row_id] * 4
    assert _deliver(db, at + timedelta(days=2)) == 0


def test_receiver_that_never_answers_does_not_delay_other_departments(db, receivers):
    stuck, healthy = receivers(hang=True), receivers()
    _department(db, "STUCK", stuck.url, "s1")
    _department(db, "OK", healthy.url, "s2")
    stuck_id = _enqueue(db, "STUCK", at=T0)  # due first: a one-at-a-time pass would wait on it
    healthy_id = _enqueue(db, "OK", at=T0 + timedelta(seconds=1))

    assert _deliver(db, T0 + timedelta(seconds=10), timeout=2.0, workers=4) == 2

    [answered] = healthy.requests
    assert stuck.gone_at is not None
    assert answered.at < stuck.gone_at  # answered while the stuck request was still waiting
    assert _row(db, healthy_id).status == "delivered"
    stuck_row = _row(db, stuck_id)
    assert (stuck_row.status, stuck_row.attempts, stuck_row.last_status) == ("pending", 1, None)
    assert "timed out" in stuck_row.last_error


def test_concurrent_passes_deliver_each_row_exactly_once(db, receivers):
    receiver = receivers()
    _department(db, "ZJH", receiver.url, "secret")
    ids = {_enqueue(db, "ZJH", {**ALERT, "id": f"a-{n}"}) for n in range(40)}
    owners = ("w1", "w2", "w3", "w4")
    start, errors = threading.Barrier(len(owners), timeout=20), []

    def worker(owner):
        try:
            start.wait()
            with frozen_at(T0):  # far from any lease expiry: a second delivery could only be a double lease
                while webhooks.deliver_due(db, owner, batch=3, timeout=5.0, workers=3):
                    pass
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(owner,)) for owner in owners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    delivered = Counter(r.headers["x-lvyue-delivery"] for r in receiver.requests)
    assert set(delivered) == ids and set(delivered.values()) == {1}
    with db.read() as s:
        assert s.scalar(select(func.count()).where(Outbox.status == "delivered")) == 40


def test_expired_lease_of_a_crashed_worker_is_picked_up_again(db, receivers):
    receiver = receivers()
    _department(db, "ZJH", receiver.url, "secret")
    row_id = _enqueue(db, "ZJH")
    with db.transaction() as s:  # the state a worker leaves when it dies mid-pass
        row = s.get(Outbox, row_id)
        row.lease_owner, row.lease_expires_at = "crashed", T0 + timedelta(seconds=60)

    assert _deliver(db, T0 + timedelta(seconds=30), owner="w2") == 0
    assert receiver.requests == []
    assert _deliver(db, T0 + timedelta(seconds=61), owner="w2") == 1
    assert [r.headers["x-lvyue-delivery"] for r in receiver.requests] == [row_id]
    assert _row(db, row_id).status == "delivered"


def test_last_failed_attempt_marks_the_row_dead_with_an_incident(db, receivers, monkeypatch):
    monkeypatch.setattr(webhooks, "MAX_ATTEMPTS", 3)
    _department(db, "GONE", _closed_port_url(), "secret")
    row_id = _enqueue(db, "GONE")

    at = T0
    for _ in range(3):
        assert _deliver(db, at) == 1
        at = _row(db, row_id).next_attempt_at
    row = _row(db, row_id)
    assert (row.status, row.attempts) == ("dead", 3)
    assert _deliver(db, at + timedelta(days=2)) == 0
    with db.read() as s:
        [incident] = s.scalars(select(Incident)).all()
    assert (incident.kind, incident.attempts, incident.status) == ("webhook", 3, "open")
    assert row_id in incident.error and "Connection refused" in incident.error


def test_department_without_webhook_gets_no_outbox_row(db):
    seed_people(db)
    assert _enqueue(db, "ZJ") is None
    assert _enqueue(db, "NO-SUCH-DEPARTMENT") is None
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Outbox)) == 0


def test_webhook_secret_never_appears_in_row_body_or_error(db, receivers):
    secret = "whsec-7f3a9c1e5b"
    failing, stuck = receivers(statuses=(500,)), receivers(hang=True)
    # A URL may carry credentials too, so errors must not quote it either.
    for code, url in (("FAIL", failing.url), ("STUCK", stuck.url), ("GONE", _closed_port_url())):
        _department(db, code, f"{url}?key={secret}", secret)
        _enqueue(db, code)

    assert _deliver(db, T0, timeout=0.5) == 3

    with db.read() as s:
        rows = s.scalars(select(Outbox)).all()
    assert [r.status for r in rows] == ["pending"] * 3
    for row in rows:
        assert row.last_error and secret not in row.last_error
        assert secret not in row.body and json.loads(row.body) == ALERT


def test_stats_count_rows_by_status_and_failed_attempts(db, receivers):
    _department(db, "OK", receivers().url, "s1")
    _department(db, "FAIL", receivers(statuses=(503,)).url, "s2")
    _enqueue(db, "OK")
    _enqueue(db, "FAIL")
    _deliver(db, T0)

    with db.read() as s:
        assert webhooks.stats(s) == {"by_status": {"pending": 1, "delivered": 1, "dead": 0}, "failed_attempts": 1}


def test_backoff_doubles_from_the_base_up_to_the_cap_with_jitter(monkeypatch):
    monkeypatch.setattr(webhooks, "BACKOFF_BASE", timedelta(milliseconds=10))
    for attempts, ceiling in ((1, 0.01), (2, 0.02), (5, 0.16)):
        assert ceiling / 2 <= webhooks.backoff(attempts).total_seconds() <= ceiling
    assert webhooks.backoff(10_000) <= webhooks.BACKOFF_CAP
    assert len({webhooks.backoff(8) for _ in range(20)}) > 1
