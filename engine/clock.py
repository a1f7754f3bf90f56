"""The one engine clock.

Every "now" in Lvyue — timer due checks inside SpiffWorkflow, audit timestamps, alert ages — comes
from `now()`. `frozen_at(instant)` moves it for the current context only, which is how
`lvyue tick --at` and the tests simulate another instant without touching the system clock.
"""
from __future__ import annotations

import contextlib
import contextvars
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

_override: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("lvyue_clock", default=None)


# The zone of business days: a date a party types (paid on, signed on) is a day in China.
SHANGHAI = ZoneInfo("Asia/Shanghai")


def now() -> datetime:
    """The current engine instant, aware UTC."""
    fixed = _override.get()
    return fixed if fixed is not None else datetime.now(timezone.utc)


def wall_now() -> datetime:
    """The real instant, aware UTC, never frozen: for what another machine compares with its own clock
    (the timestamp a webhook is signed with), not for business time."""
    return datetime.now(timezone.utc)


def to_utc(value: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is refused (its zone would be a guess)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: an offset is required")
    return value.astimezone(timezone.utc)


@contextlib.contextmanager
def frozen_at(instant: datetime):
    """Run the block as if the engine clock read `instant`."""
    token = _override.set(to_utc(instant))
    try:
        yield
    finally:
        _override.reset(token)
