"""Keyset pagination: `?limit=` and an opaque `?cursor=` (API.md conventions)."""
from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import Select, or_, and_
from sqlalchemy.orm import Session

from engine.storage.db import UTCDateTime
from engine.errors import Invalid

DEFAULT_LIMIT, MAX_LIMIT = 50, 500


def _encode(values: list[Any]) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, n: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != n or not all(isinstance(v, (str, int)) for v in values):
            raise ValueError
        return values
    except (ValueError, UnicodeDecodeError):
        raise Invalid("the cursor is not one this server issued", {"cursor": ["invalid cursor"]}) from None


def encode_cursor(values: list[Any]) -> str:
    """An opaque cursor of these key values (for a page this module does not build itself)."""
    return _encode(values)


def decode_cursor(cursor: str, n: int) -> list[Any]:
    """The `n` key values of a cursor encode_cursor issued; Invalid (422 naming `cursor`) for anything else."""
    return _decode(cursor, n)


def check_limit(limit: int | None, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    limit = default if limit is None else limit
    if not 1 <= limit <= maximum:
        raise Invalid("limit out of range", {"limit": [f"between 1 and {maximum}"]})
    return limit


def page(session: Session, query: Select, keys: list, limit: int | None, cursor: str | None,
         render: Callable[[Any], dict[str, Any]], descending: bool = False,
         prepare: Callable[[list[Any]], None] | None = None) -> dict[str, Any]:
    """One page of `query`, ordered by `keys` (unique together), as {"items", "next_cursor"}.

    `prepare(rows)`, when given, runs once on the page's rows before `render` runs on each."""
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid("limit out of range", {"limit": [f"between 1 and {MAX_LIMIT}"]})
    if cursor:
        values = [_typed(k, v) for k, v in zip(keys, _decode(cursor, len(keys)))]
        query = query.where(_after(keys, values, descending))
    order = [k.desc() if descending else k.asc() for k in keys]
    rows = list(session.scalars(query.order_by(*order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode([getattr(rows[-1], k.key) for k in keys]) if more and rows else None
    if prepare is not None:
        prepare(rows)  # one batched lookup for the whole page instead of one per row
    return {"items": [render(r) for r in rows], "next_cursor": next_cursor}


def _typed(column, value):
    """A cursor value checked against its key's type: a forged cursor is a 422, never a 500."""
    bad = Invalid("the cursor is not one this server issued", {"cursor": ["invalid cursor"]})
    if _is_time(column):
        try:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise bad
        return parsed
    python_type = getattr(column.type, "python_type", str)
    if python_type is int:
        if type(value) is not int or not -2**63 <= value < 2**63:
            raise bad
        return value
    if not isinstance(value, str) or len(value) > 500:
        raise bad
    return value


def _is_time(column) -> bool:
    return isinstance(column.type, UTCDateTime)


def _after(keys: list, values: list, descending: bool):
    # (k1, k2, …) > (v1, v2, …) spelled out, since SQLite lacks row-value comparisons in older versions
    clauses = []
    for i, key in enumerate(keys):
        eq = [keys[j] == values[j] for j in range(i)]
        cmp = key < values[i] if descending else key > values[i]
        clauses.append(and_(*eq, cmp))
    return or_(*clauses)
