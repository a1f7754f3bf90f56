"""CSV for spreadsheets, safe to open: every CSV export of Lvyue is written here.

A cell whose text begins with `=`, `+`, `-`, `@`, a tab or a carriage return is read by spreadsheet
programs as a formula (CSV injection): an organisation named `=HYPERLINK("http://x","y")` would become a
live link in a supervisor's report, `=cmd|...` a command. Such a cell is written with a leading single
quote (`'=HYPERLINK(...)`), the OWASP recommendation: the spreadsheet shows it as text.

Plain numbers are the one exception: `-12.00` (a refund, a correction) cannot hold a formula, and
prefixing it would turn every negative amount into text that no longer sums. A value is a plain number
when it is nothing but an optional minus, digits, an optional decimal part and an optional exponent.
"""
from __future__ import annotations

import csv
import io
import re
from typing import Any, Iterable

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")


def cell(value: Any) -> str:
    """The text of one cell: None as empty, a formula-like text behind a single quote."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def write(header: Iterable[Any], rows: Iterable[Iterable[Any]]) -> str:
    """The rows as CSV text (CRLF line ends, UTF-8 byte-order mark so spreadsheet programs read Chinese
    names), every cell — the header's too — through `cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([cell(v) for v in header])
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return "\ufeff" + buffer.getvalue()
