"""Webhook deliveries from the outbox (ARCHITECTURE.md §2 and §5, API.md "Alerts").

A step that raises an alert writes an `Outbox` row in the step's transaction (`enqueue`); after commit a
periodic pass (`deliver_due`) leases due rows, POSTs them signed to the department's webhook and
records each outcome. Delivery is at-least-once: a worker that dies between the POST and recording
the outcome leaves a lease that expires, and the row is sent again under the same delivery id, on
which receivers dedupe.

Deliveries are signed per Standard Webhooks (https://www.standardwebhooks.com), so any of its verifiers
checks them: `webhook-id` (the delivery id, the same on every retry), `webhook-timestamp` (the wall-clock
second of this attempt) and `webhook-signature` = `v1,` + base64 HMAC-SHA256 over `id.timestamp.body` under
the department's secret (engine/access/signing.py: a `whsec_` secret, or a legacy text secret as its
`standard_form`). A receiver refuses a timestamp more than five minutes from its clock (a replay of a
captured delivery) and dedupes on webhook-id. The old `X-Lvyue-Signature: sha256=<hex HMAC(body)>`
(no timestamp, so replayable) is still sent for this release and then dropped: deprecated.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import http.client
import json
import random
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine import clock
from engine.access import signing
from engine.storage.db import Database
from engine.storage.models import Alert, Department, Incident, Outbox

BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(hours=1)
# About a day of retries: eleven doublings reach the cap after about an hour, then each try waits
# 30–60 min (jitter), so a receiver that is down overnight or over a maintenance window loses
# nothing; a receiver still failing after that needs a person, so the row turns into an incident.
MAX_ATTEMPTS = 40
STATUSES = ("pending", "delivered", "dead")
# How far a signed timestamp may be from the verifier's clock (the Standard Webhooks libraries' default).
TOLERANCE = timedelta(minutes=5)
LEGACY_SIGNATURE_HEADER = "X-Lvyue-Signature"  # deprecated: sent for one more release


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect would turn the POST into a GET without body or send the alert somewhere nobody
    # configured; a 3xx counts as a failed attempt instead.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


@functools.cache
def _opener() -> urllib.request.OpenerDirector:
    # Built at the first delivery, not at import: its ProxyHandler reads the proxy variables (HTTPS_PROXY …)
    # from the environment, and no module reads the environment when it is imported.
    return urllib.request.build_opener(_NoRedirect)


@dataclass(frozen=True)
class _Delivery:
    """What one POST needs, copied out of the lease transaction so threads never touch a session."""

    id: str
    event: str
    body: str
    department_code: str
    url: str | None
    secret: str | None


def sign(secret: str, body: bytes) -> str:
    """The deprecated X-Lvyue-Signature value: "sha256=" + hex HMAC-SHA256 of the raw body keyed by the
    secret's UTF-8 text as configured (unchanged, `whsec_` prefix and all: old verifiers keep working)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def sign_standard(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature: "v1," + base64 HMAC-SHA256 over `msg_id.timestamp.body`."""
    mac = hmac.new(signing.key(secret), f"{msg_id}.{timestamp}.".encode("utf-8") + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def signed_headers(secret: str, msg_id: str, body: bytes, when: datetime) -> dict[str, str]:
    """The signature headers of one attempt at `when`: Standard Webhooks' three, and the deprecated one."""
    timestamp = int(when.timestamp())
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign_standard(secret, msg_id, timestamp, body),
            LEGACY_SIGNATURE_HEADER: sign(secret, body)}


def verify_standard(secret: str, body: bytes, headers: Mapping[str, str], now: datetime) -> bool:
    """Whether `headers` (webhook-id, webhook-timestamp, webhook-signature) sign `body` under `secret` at a
    timestamp within TOLERANCE of `now`; any of the space-separated `v1,` signatures may match."""
    msg_id, stamp, given = (headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and stamp and given) or not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        return False
    if abs(now.timestamp() - int(stamp)) > TOLERANCE.total_seconds():
        return False
    expected = sign_standard(secret, msg_id.encode("utf-8", "replace").decode("utf-8"), int(stamp), body).encode()
    # As bytes: compare_digest refuses str with non-ASCII characters, which a hostile header may carry.
    return any(hmac.compare_digest(expected, s.encode("utf-8", "replace")) for s in given.split(" ") if s)


def enqueue(session: Session, department_code: str, event: str, payload: dict,
            alert_id: str | None = None) -> Outbox | None:
    """Add one pending delivery of `payload` to the department's webhook, in the caller's transaction.

    Returns the row (its id is the delivery id receivers dedupe on), or None when the department has
    no webhook.
    """
    dept = session.get(Department, department_code)
    if dept is None or not dept.webhook_url:
        return None
    now = clock.now()
    row = Outbox(id=str(uuid.uuid4()), department_code=department_code, alert_id=alert_id, event=event,
                 body=json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True),
                 status="pending", attempts=0, next_attempt_at=now, created_at=now)
    session.add(row)
    return row


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: BACKOFF_BASE doubled per failure, capped, less 0–50 %.

    The jitter spreads out the retries of many rows that failed together (a receiver outage), so
    they do not all hit the receiver again in the same second when it comes back.
    """
    exponent = min(max(attempts - 1, 0), 32)  # far past the cap already; bounded so timedelta cannot overflow
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** exponent)
    return ceiling * random.uniform(0.5, 1.0)


def deliver_due(db: Database, owner: str, batch: int = 50, timeout: float = 5.0, workers: int = 8,
                lease_seconds: float = 60) -> int:
    """One delivery pass: lease up to `batch` due rows, POST them concurrently, record each outcome.

    A 2xx marks the row delivered; anything else counts a failed attempt and schedules a retry after
    `backoff`, and the MAX_ATTEMPTS-th failure marks it dead with an incident. `timeout` bounds each
    socket operation of one POST; keep `lease_seconds` above what a pass can take, or another worker
    may lease a row still in flight and send it twice. Returns the number of rows attempted.
    """
    deliveries = _lease(db, owner, batch, lease_seconds)
    if not deliveries:
        return 0
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(deliveries))),
                            thread_name_prefix="lvyue-webhook") as pool:
        futures = {pool.submit(_post, d, timeout): d for d in deliveries}
        # Outcomes are recorded here, in the caller's thread, as each POST ends: the engine clock is
        # a context variable the pool's threads do not see, and a slow receiver must not hold back
        # the rows of the others.
        for future in as_completed(futures):
            status, error = future.result()
            _record(db, owner, futures[future], status, error)
    return len(deliveries)


def stats(session: Session) -> dict:
    """`{"by_status": {status: rows}, "failed_attempts": total}` of the outbox, for /metrics."""
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: n for status, n in session.execute(
        select(Outbox.status, func.count()).group_by(Outbox.status))})
    failed = session.scalar(select(func.coalesce(func.sum(Outbox.attempts), 0)))
    return {"by_status": counts, "failed_attempts": int(failed)}


def _lease(db: Database, owner: str, batch: int, lease_seconds: float) -> list[_Delivery]:
    now = clock.now()
    query = (select(Outbox)
             .where(Outbox.status == "pending", Outbox.next_attempt_at <= now,
                    or_(Outbox.lease_expires_at.is_(None), Outbox.lease_expires_at <= now))
             .order_by(Outbox.next_attempt_at, Outbox.id).limit(batch))
    if db.dialect == "postgresql":
        # Concurrent passes skip each other's rows instead of queueing; SQLite needs no lock here
        # because its write transactions (BEGIN IMMEDIATE) run one at a time.
        query = query.with_for_update(skip_locked=True)
    with db.transaction() as session:
        rows = session.scalars(query).all()
        codes = {row.department_code for row in rows}
        depts = {d.code: d for d in session.scalars(select(Department).where(Department.code.in_(codes)))}
        deliveries = []
        for row in rows:
            row.lease_owner, row.lease_expires_at = owner, now + timedelta(seconds=lease_seconds)
            dept = depts.get(row.department_code)
            deliveries.append(_Delivery(row.id, row.event, row.body, row.department_code,
                                        dept.webhook_url if dept else None, dept.webhook_secret if dept else None))
    return deliveries


def _post(delivery: _Delivery, timeout: float) -> tuple[int | None, str | None]:
    """POST one delivery: (HTTP status or None, error or None). Errors never quote the URL or secret."""
    if not delivery.url or not delivery.secret:
        return None, "the department has no webhook any more"
    if urlsplit(delivery.url).scheme not in ("http", "https"):
        return None, "the webhook URL is not http(s)"
    body = delivery.body.encode("utf-8")
    try:
        # The wall clock, not the engine's: the receiver compares the timestamp with its own clock.
        signed = signed_headers(delivery.secret, delivery.id, body, clock.wall_now())
    except ValueError:
        return None, "the webhook secret is malformed"
    request = urllib.request.Request(delivery.url, data=body, method="POST", headers={
        "Content-Type": "application/json", "X-Lvyue-Delivery": delivery.id, "X-Lvyue-Event": delivery.event,
        **signed})
    try:
        with _opener().open(request, timeout=timeout) as response:
            return response.status, None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except urllib.error.URLError as exc:
        return None, f"{type(exc.reason).__name__}: {exc.reason}"[:500]
    except (ValueError, http.client.InvalidURL):
        return None, "the webhook URL is malformed"
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]


def _record(db: Database, owner: str, delivery: _Delivery, status: int | None, error: str | None) -> None:
    now = clock.now()
    with db.transaction() as session:
        row = session.get(Outbox, delivery.id, with_for_update=True)
        if row is None or row.status != "pending":
            return
        row.last_status = status
        if error is None:
            row.status, row.delivered_at, row.last_error = "delivered", now, None
            row.lease_owner = row.lease_expires_at = None
            return
        if row.lease_owner != owner:
            return  # our lease expired and another pass owns the row now: its outcome counts
        row.attempts += 1
        row.last_error = error
        row.lease_owner = row.lease_expires_at = None
        if row.attempts < MAX_ATTEMPTS:
            row.next_attempt_at = now + backoff(row.attempts)
            return
        row.status = "dead"
        alert = session.get(Alert, row.alert_id) if row.alert_id else None
        session.add(Incident(id=str(uuid.uuid4()), kind="webhook", instance_id=alert.instance_id if alert else None,
                             outbox_id=row.id,
                             error=f"webhook delivery {row.id} to department {row.department_code} failed "
                                   f"{row.attempts} times; last: {error}",
                             attempts=row.attempts, status="open", created_at=now))
