"""Slots for long-lived responses (the SSE alert stream): bounded per token and per process.

Each open stream holds one request thread of the WSGI server for as long as it lasts. Without a
bound, a few dozen streams from one token leave no thread for anything else (issue 14). A stream
takes a slot before its response starts and gives it back when the response is closed — the client
disconnected, the stream reached its lifetime, or the token stopped working. Beyond either cap the
caller gets 429 at once, with `Retry-After`, and no thread is held.
"""
from __future__ import annotations

import threading

from engine.errors import TooManyRequests

# Clients reconnect with Last-Event-ID (the stream's `retry:` tells EventSource when); a bounded lifetime
# hands each stream's thread and slot back, so a full server takes newcomers within this time.
LIFETIME_SECONDS = 900
PER_TOKEN = 2  # a department's system and one spare (a reconnect overlapping the old stream)
RETRY_AFTER_SECONDS = 30
DEFAULT_THREADS = 2  # gunicorn -k gthread --threads 2 (README "Running in production")


def cap_for_threads(threads: int) -> int:
    """Streams a process with `threads` request threads may serve: half of them, so ordinary requests
    always keep the other half (at least one stream)."""
    return max(1, threads // 2)


class Slot:
    """One held stream slot; `release` is idempotent (the generator's end and the response's close both call it)."""

    def __init__(self, slots: "StreamSlots", key: str):
        self._slots, self._key, self._held = slots, key, True

    def release(self) -> None:
        with self._slots._lock:
            if not self._held:
                return
            self._held = False
            self._slots._release(self._key)


class StreamSlots:
    """Counts open streams per token key and in total (one process; each gunicorn worker has its own)."""

    def __init__(self, total: int, per_token: int, retry_after: int = RETRY_AFTER_SECONDS):
        self.total, self.per_token, self.retry_after = total, per_token, retry_after
        self._lock = threading.Lock()
        self._by_key: dict[str, int] = {}
        self._open = 0

    def acquire(self, key: str) -> Slot:
        """A slot for the token `key`, or TooManyRequests (429) naming the cap that was reached."""
        with self._lock:
            if self._by_key.get(key, 0) >= self.per_token:
                raise TooManyRequests(f"this token has {self.per_token} alert streams open already, the most allowed; "
                                      "close one or retry later", self.retry_after)
            if self._open >= self.total:
                raise TooManyRequests(f"the server is serving {self.total} alert streams, the most it serves at once; "
                                      "retry later (or poll GET /api/v1/alerts)", self.retry_after)
            self._by_key[key] = self._by_key.get(key, 0) + 1
            self._open += 1
        return Slot(self, key)

    def _release(self, key: str) -> None:  # under self._lock
        self._open -= 1
        left = self._by_key.get(key, 1) - 1
        if left > 0:
            self._by_key[key] = left
        else:
            self._by_key.pop(key, None)

    @property
    def open(self) -> int:
        with self._lock:
            return self._open
