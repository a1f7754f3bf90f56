"""bench/intake.py --quick runs end to end (SQLite), so the benchmark cannot rot unnoticed: every tender and
bid lands, a re-import changes nothing, and the bulletin covers the month it measures."""
from __future__ import annotations

import pytest

from tests.conftest import run_quick_bench


@pytest.mark.slow
def test_quick_intake_bench_imports_everything_and_measures_the_bulletin(tmp_path):
    result, printed = run_quick_bench("intake.py", tmp_path / "intake.json")
    assert result["database"] == "sqlite" and result["tenders"] == 300 and result["bids"] == 1800
    assert result["rows"]["tenders"] == 300 and result["rows"]["tender_bids"] == 1800
    assert result["rows"]["tender_awards"] == 300
    assert result["import"]["releases_per_s"] > 0 and result["packages"] == 3
    assert 0 < result["bulletin"]["tenders_in_month"] < 300 and result["bulletin"]["median_s"] > 0
    assert result["risk_scan"]["leads"]["created"] == result["rows"]["risk_leads"]
    assert "bulletin of a month, median (s)" in printed
