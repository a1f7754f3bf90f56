"""engine/csv_export.py: formula-like cells are neutralised, plain numbers are not."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from engine.supervision import csv_export


@pytest.mark.parametrize("value, cell", [
    ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
    ("+1+1", "'+1+1"), ("-1+1", "'-1+1"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"), ("-", "'-"), ("--12", "'--12"), ("-12.00.1", "'-12.00.1"),
    # plain numbers cannot hold a formula: a negative amount stays a number the spreadsheet sums
    ("-12.00", "-12.00"), ("-5", "-5"), ("-1e-05", "-1e-05"), (Decimal("-12.00"), "-12.00"), (-3, "-3"),
    ("12.00", "12.00"), ("中国银行", "中国银行"), (" =1+1", " =1+1"), ("a=1", "a=1"), (None, ""), (True, "True"),
])
def test_cell(value, cell):
    assert csv_export.cell(value) == cell


def test_write_neutralises_every_cell_and_keeps_the_csv_readable():
    text = csv_export.write(["=h", "figure"], [["a", '=HYPERLINK("http://x","y")'], ["b", "-12.00"], ["c", "x,\"y\"\r\nz"]])
    assert text.startswith("\ufeff") and "\r\n" in text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    assert rows == [["'=h", "figure"], ["a", '\'=HYPERLINK("http://x","y")'], ["b", "-12.00"], ["c", "x,\"y\"\r\nz"]]
