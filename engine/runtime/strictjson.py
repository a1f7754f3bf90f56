"""JSON read from outside, bounded: nesting depth, integer digits, finite numbers, no lone surrogates.

Python's `json.loads` accepts what the rest of the system cannot hold: a document nested 100,000
deep (RecursionError), a 5,000-digit integer (ValueError past the int-str digit limit, or a number
no column stores), `NaN`/`Infinity` (not JSON), `1e999` (infinity) and `"\\ud800"` (a lone UTF-16
surrogate that no UTF-8 encoder, hence no database, log or response, can write). `loads` refuses
each of them and names where it was found (`data.amount`, `data.items.0`, or `body`).
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from engine.errors import Invalid, Malformed

MAX_DEPTH = 32  # task data nests a few levels (milestones → items); 32 only stops pathological input
MAX_INT_DIGITS = 20  # every 64-bit integer fits; money and quantities travel as decimal strings
_SURROGATE = re.compile("[\ud800-\udfff]")


class Rejected(ValueError):
    """The document is not acceptable. `path` names where (`body` for the document as a whole);
    `malformed` is True when it is not JSON at all (400), False when it is JSON that cannot be held (422)."""

    def __init__(self, path: str, reason: str, malformed: bool):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason, self.malformed = path, reason, malformed


class _Refused:
    """Stands in for a number the parser met but must not keep; the walk turns it into Rejected with a path."""

    __slots__ = ("reason", "malformed")

    def __init__(self, reason: str, malformed: bool = False):
        self.reason, self.malformed = reason, malformed


def _int(text: str) -> Any:
    digits = len(text) - (text[0] == "-")
    if digits > MAX_INT_DIGITS:
        return _Refused(f"an integer of {digits} digits; at most {MAX_INT_DIGITS} are accepted "
                        "(send amounts as decimal strings)")
    return int(text)


def _float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _Refused("a number beyond the range of a double")


def _constant(name: str) -> Any:
    return _Refused(f"{name} is not a JSON value", malformed=True)


def printable(text: str) -> str:
    """`text` safe to echo in a response or a log line (lone surrogates written as \\udxxx escapes)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _walk(document: Any, max_depth: int) -> None:
    # Iterative, so a document at the depth limit cannot exhaust the interpreter's stack here either.
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        where = path or "body"
        if isinstance(value, _Refused):
            raise Rejected(where, value.reason, value.malformed)
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise Rejected(where, "contains a lone UTF-16 surrogate (\\ud800–\\udfff), which is not a character", False)
        elif isinstance(value, (dict, list)):
            if depth >= max_depth:
                raise Rejected("body", f"JSON nested deeper than {max_depth} levels", True)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and _SURROGATE.search(key):
                    raise Rejected(f"{path}.{printable(key)}" if path else printable(key),
                                   "the field name contains a lone UTF-16 surrogate, which is not a character", False)
                stack.append((item, f"{path}.{key}" if path else str(key), depth + 1))


def loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON document in `data` (UTF-8), or Rejected (a ValueError) naming where it is unacceptable."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    except UnicodeDecodeError as exc:
        raise Rejected("body", f"not UTF-8 (byte {exc.start})", True) from None
    try:
        document = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise Rejected("body", f"JSON nested deeper than {max_depth} levels", True) from None
    except json.JSONDecodeError as exc:
        raise Rejected("body", f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", True) from None
    _walk(document, max_depth)
    return document


def load_body(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """`loads` for a request body: Malformed (400) when it is not JSON, Invalid (422) naming the field
    when it is JSON the system cannot hold."""
    try:
        return loads(data, max_depth)
    except Rejected as exc:
        if exc.malformed:
            detail = "the request body is not valid JSON" if exc.reason.startswith("not ") else \
                f"the request body is refused: {exc.reason}"
            raise Malformed(detail if exc.path == "body" else f"{exc.path}: {exc.reason}",
                            {exc.path: [exc.reason]}) from None
        raise Invalid(f"{exc.path}: {exc.reason}", {exc.path: [exc.reason]}) from None
