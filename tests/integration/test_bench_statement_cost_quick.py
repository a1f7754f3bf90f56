"""bench/statement_cost.py --quick runs end to end, so the measurement behind BENCHMARKS.md §1 cannot rot,
and holds the step's statement budget: a post_award contract issues no more SQL than it did when the
figures were taken (447 statements; raise the budget deliberately, with the reason, if a feature needs more)."""
from __future__ import annotations

import pytest

from tests.conftest import run_quick_bench

# 447 when the figures were taken; 449 since payments are checked for plausibility (one SELECT of what is
# already paid per payment: 3 in the bench's contract) and completion for its milestones (one SELECT), with
# fewer statements elsewhere in the same change; 493 since the contract has two more tasks (the contractor confirms
# the signature, the GP contract is published: issue 17), ~22 statements a step as before; 340 since the lean step
# (issue 20: a completion reads its task, instance, definition, part and READY rows in one statement, and its alerts
# and pending timers once for the step and its reply; a new contract asks nothing of its own rows; the token is read
# in autocommit, without BEGIN: 311, ~12 statements a request, 1 of them the token's read); 363 since the monthly
# report reads typed rows (issue 20, migration 0016): a flush that changes what payment_obligations or
# contract_deadlines copy rebuilds that table's rows of the contract (15 of the contract's flushes: its task
# deadlines and, for payment_obligations, its payments read again; 430 before only the table concerned was rebuilt,
# from the instance as just flushed, and contract_deadlines updated in place) — the price of reports that are SQL sums.
STATEMENT_BUDGET = 363


@pytest.mark.slow
def test_quick_statement_cost_bench_runs_and_a_contract_keeps_its_statement_budget(tmp_path):
    output = tmp_path / "statement_cost.json"
    result, printed = run_quick_bench("statement_cost.py", output)
    assert {"params", "machine", "contracts", "layers"} <= result.keys()
    assert result["quick"] is True and result["params"] == {"contracts": 2, "rounds": 3, "statements": 100}
    contracts = result["contracts"]
    assert contracts["requests_per_contract"] == 22.0  # the start + 21 completions, task ids from the replies
    assert 0 < contracts["statements_per_contract"] <= STATEMENT_BUDGET, contracts
    assert contracts["statements_by_kind"]["SELECT"] > 0 and contracts["statements_by_kind"]["INSERT"] > 0
    assert set(result["layers"]) == {"orm", "orm_prebuilt", "core", "core_prebuilt", "dbapi"}
    for row in result["layers"].values():
        assert len(row["samples_us"]) == 3 and 0 < row["min_us"] <= row["median_us"]
    assert "statements" in printed and "dbapi" in printed  # the table is printed
