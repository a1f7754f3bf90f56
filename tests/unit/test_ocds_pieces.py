"""Pieces of the OCDS release (engine/supervision/ocds.py) that hold a rule of their own, without a database."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest

from engine.supervision import ocds


@pytest.mark.parametrize("instance_status, signed, expected", [
    ("running", None, "pending"),
    ("running", "2026-10-12", "active"),
    ("completed", "2026-10-12", "terminated"),
    ("cancelled", "2026-10-12", "terminated"),  # cancelled after signing: the contract existed and ended
    ("cancelled", None, "cancelled"),           # cancelled before signing: there never was a contract
])
def test_the_contract_status_follows_the_instance_and_the_signing(instance_status, signed, expected):
    assert ocds._contract_status(instance_status, signed) == expected


def test_a_milestone_is_paid_in_full_on_the_payment_that_first_reached_its_amount():
    def pay(no, amount, day):
        return SimpleNamespace(milestone_no=no, amount=Decimal(amount), paid_at=date(2026, 10, day))

    payments = [pay(1, "400.00", 3), pay(2, "999.00", 4), pay(1, "600.00", 9), pay(1, "50.00", 20)]
    assert ocds._paid_towards(payments, 1, Decimal("1000.00")) == (Decimal("1050.00"), date(2026, 10, 9))
    assert ocds._paid_towards(payments, 2, Decimal("1000.00")) == (Decimal("999.00"), None)
    assert ocds._paid_towards(payments, 3, Decimal("1.00")) == (Decimal(0), None)
