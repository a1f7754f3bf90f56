"""Issue 14: the timer values Lvyue runs (engine/spiff.timer_value_problem), the same rule at deploy and at
run time. No I/O."""
from __future__ import annotations

import pytest

from engine.runtime import spiff


@pytest.mark.parametrize("kind, value, reason", [
    ("timeCycle", "R/PT0S", "repeats without end"),
    ("timeCycle", "R/PT0S", "shorter than the minimum"),
    ("timeCycle", "R/PT1S", "shorter than the minimum"),
    ("timeCycle", "R2/PT59M", "shorter than the minimum"),
    ("timeCycle", "R/P1D", "repeats without end"),
    ("timeCycle", "R/2020-01-01T00:00:00Z/PT1S", "repeats without end"),
    ("timeCycle", "R10001/P1D", "more than 10000"),
    ("timeCycle", "R" + "9" * 5000 + "/P1D", "more than 10000"),
    ("timeCycle", "R3/P1D/P2D", "not an ISO 8601 repeating interval"),
    ("timeCycle", "R3/1999-01-01T00:00:00Z/P1D", "outside 2000-01-01"),
    ("timeDate", "9999-12-31T23:59:59-23:59", "outside 2000-01-01"),
    ("timeDate", "2200-01-01T00:00:00Z", "outside 2000-01-01"),
    ("timeDate", "P1D", "is a duration"),
    ("timeDate", 20261201, "must be ISO 8601 text"),
    ("timeDuration", "P9999Y", "longer than 100 years"),
    ("timeDuration", "P99999999999D", "longer than 100 years"),
    ("timeDuration", "PT" + "9" * 400 + "S", "longer than 100 years"),
    ("timeDuration", "PT", "not an ISO 8601 duration"),
])
def test_values_outside_the_limits_are_refused_with_the_reason(kind, value, reason):
    assert reason in (spiff.timer_value_problem(kind, value) or "")


@pytest.mark.parametrize("kind, value", [
    ("timeCycle", "R3/PT1H"), ("timeCycle", "R10000/P1D"), ("timeCycle", "R5/2020-01-01T00:00:00Z/P1D"),
    ("timeCycle", "R12/P1M/2030-01-01T00:00:00+08:00"), ("timeDate", "2026-12-31T00:00:00+08:00"),
    ("timeDate", "2199-12-31T15:59:59Z"), ("timeDuration", "P30D"), ("timeDuration", "P100Y"),
    ("timeDuration", "PT0S"), ("timeDuration", "P1DT12H"),
])
def test_values_within_the_limits_pass(kind, value):
    assert spiff.timer_value_problem(kind, value) is None
