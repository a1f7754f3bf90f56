"""bench/seed_scale.py --quick seeds 2,000 contracts on PostgreSQL and every supervisor query it times answers 200,
so the benchmark cannot rot unnoticed."""
from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import run_quick_bench

QUERIES = ("monthly report (JSON)", "monthly report (CSV)", "dashboard", "alerts page 1", "alerts page after 200",
           "contracts page 1", "contracts page after 200", "one ledger", "OCDS package of the month")


@pytest.mark.slow
def test_quick_seed_scale_bench_seeds_and_every_query_answers(db_url, tmp_path):
    if not db_url.startswith("postgresql"):
        pytest.skip("the bench measures PostgreSQL only")
    output = tmp_path / "seed_scale.json"
    bench_db = f"bench_scale_{make_url(db_url).database}"
    result, printed = run_quick_bench("seed_scale.py", output, "--database-url", db_url, "--bench-db", bench_db,
                                      "--repeat", "2", timeout=300)
    rows = result["seeded"]["rows"]
    assert rows["instances"] == 2000 and rows["tasks"] > 2000 and rows["payments"] > 0 and rows["alerts"] > 0
    assert rows["audit_events"] >= rows["alerts"] and rows["leads"] == rows["credit_records"] > 0
    assert set(result["queries"]) == set(QUERIES)
    for name, q in result["queries"].items():
        assert q["status"] == [200], (name, q)
        assert q["samples"] == 2 and 0 < q["min_ms"] <= q["median_ms"] <= q["max_ms"] and q["bytes"] > 100, (name, q)
    assert result["server_peak_rss_mib"] > 10
    assert "monthly report (JSON)" in printed and "server peak RSS" in printed
