"""The Alembic migrations and the SQLAlchemy models describe the same schema, on both databases."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, Table, func, insert, inspect, select, text
from sqlalchemy.exc import StatementError

from engine.storage import migrate
from engine.storage.db import Database, make_engine
from engine.storage.models import (Alert, Base, ContractDeadline, CreditRecord, Guarantee, GuaranteeClaim, Instance,
                                   Invoice, Payment, PaymentObligation)
from tests.conftest import PG_URL, require_postgres


def test_migrations_and_models_agree(db_url):
    engine = make_engine(db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


# ---------------------------------------------------------------------------- 0008: typed money and dates
BEFORE_TYPES = "0007"  # the previous release: money as text, business dates as "YYYY-MM-DD" text
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
# (table, id) → {column: (as the previous release stored it, as 0008 reads it, as the downgrade writes it back)}
CONVERTED: dict[tuple[str, str], dict[str, tuple]] = {
    ("payments", "p-two"): {"amount": ("1200000.00", Decimal("1200000.00"), "1200000.00"),
                            "paid_at": ("2026-09-04", date(2026, 9, 4), "2026-09-04")},
    ("payments", "p-none"): {"amount": ("40000", Decimal("40000.00"), "40000.00"),
                             "paid_at": ("2026-12-31", date(2026, 12, 31), "2026-12-31")},
    ("payments", "p-one"): {"amount": ("0.5", Decimal("0.50"), "0.50"),
                            "paid_at": ("2000-01-01", date(2000, 1, 1), "2000-01-01")},
    ("payments", "p-big"): {"amount": ("999999999999999.99", Decimal("999999999999999.99"), "999999999999999.99"),
                            "paid_at": ("2026-02-28", date(2026, 2, 28), "2026-02-28")},
    ("invoices", "i-1"): {"amount": ("0.00", Decimal("0.00"), "0.00"),
                          "issued_at": ("2026-08-31", date(2026, 8, 31), "2026-08-31")},
    ("alerts", "a-arrears"): {"amount_overdue": ("700000.5", Decimal("700000.50"), "700000.50")},
    # An expression computed it before 0008 (1234567.89 × 5 %): the one value rounded, half up, to the fen.
    ("alerts", "a-subfen"): {"amount_overdue": ("61728.3945", Decimal("61728.39"), "61728.39")},
    ("alerts", "a-none"): {"amount_overdue": (None, None, None)},
    ("guarantees", "g-bid"): {"amount": ("20000.00", Decimal("20000.00"), "20000.00"),
                              "freed_amount": ("5000", Decimal("5000.00"), "5000.00"),
                              "valid_from": ("2026-08-01", date(2026, 8, 1), "2026-08-01"),
                              "valid_to": ("2027-08-01", date(2027, 8, 1), "2027-08-01"),
                              "activated_on": ("2026-08-04", date(2026, 8, 4), "2026-08-04"),
                              "released_at": (None, None, None)},
    ("guarantee_claims", "c-1"): {"amount": ("20000.0", Decimal("20000.00"), "20000.00"),
                                  "claimed_at": ("2026-09-15", date(2026, 9, 15), "2026-09-15"),
                                  "paid_at": ("2026-09-20", date(2026, 9, 20), "2026-09-20"),
                                  "paid_amount": ("20000.00", Decimal("20000.00"), "20000.00")},
    ("credit_records", "cr-1"): {"record_date": ("2026-10-09", date(2026, 10, 9), "2026-10-09"),
                                 "publicity_until": ("2027-04-09", date(2027, 4, 9), "2027-04-09")},
}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    """An empty database of each kind (PostgreSQL: a schema of its own, so the shared one stays migrated)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'previous-release.sqlite'}"
        return
    require_postgres()
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS migration_0008 CASCADE"))
        conn.execute(text("CREATE SCHEMA migration_0008"))
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options=-csearch_path%3Dmigration_0008"
    with admin.begin() as conn:
        conn.execute(text("DROP SCHEMA migration_0008 CASCADE"))
    admin.dispose()


def _insert_previous_release_rows(conn) -> None:
    """The rows a contract of the previous release holds, written by SQL into its schema: parents first, then
    every row whose money or dates 0008 converts (values from CONVERTED), and a child of each table that is
    recreated on SQLite while others reference it (guarantee_events, alert_decisions)."""
    meta = MetaData()
    table = lambda name: Table(name, meta, autoload_with=conn)  # noqa: E731
    stored = {key: {column: old for column, (old, _, _) in columns.items()} for key, columns in CONVERTED.items()}
    conn.execute(insert(table("organisations")), [{"code": c, "name": c, "sme": False, "public_body": False,
                                                   "created_at": NOW} for c in ("EMP", "CON")])
    conn.execute(insert(table("definitions")).values(id=1, key="post_award", version=1, sha256="0" * 64, xml="<x/>",
                                                     spec="{}", model={}, deployed_at=NOW))
    conn.execute(insert(table("instances")).values(
        id="i-1", business_key="HT-OLD", definition_id=1, status="running", roles={"employer": "EMP"}, data={},
        state="{}", created_at=NOW, updated_at=NOW, version=1, audit_seq=0))
    conn.execute(insert(table("alerts")), [{
        "id": key[1], "instance_id": "i-1", "business_key": "HT-OLD", "element_id": "record_payment",
        "occurrence": key[1], "kind": "arrears", "code": "PAYMENT_OVERDUE", "severity": "red", "due_at": NOW,
        "raised_at": NOW, "updated_at": NOW, "status": "open", **row} for key, row in stored.items() if key[0] == "alerts"])
    conn.execute(insert(table("alert_decisions")).values(alert_id="a-arrears", decision="confirmed", decided_at=NOW,
                                                         decided_by="zj"))
    conn.execute(insert(table("payments")), [{
        "id": key[1], "instance_id": "i-1", "milestone_no": 1, "recorded_at": NOW, "recorded_by": "emp", **row}
        for key, row in stored.items() if key[0] == "payments"])
    conn.execute(insert(table("invoices")).values(id="i-1", instance_id="i-1", milestone_no=1, invoice_no="INV-1",
                                                  recorded_at=NOW, recorded_by="con", **stored[("invoices", "i-1")]))
    conn.execute(insert(table("guarantees")).values(
        id="g-bid", instance_id="i-1", business_key="HT-OLD", kind="bid", form="e_guarantee", electronic=True,
        status="claimed", exempt_percent="20", created_at=NOW, updated_at=NOW, **stored[("guarantees", "g-bid")]))
    conn.execute(insert(table("guarantee_events")).values(guarantee_id="g-bid", seq=1, at=NOW, actor="con",
                                                          event="recorded", data={"amount": "20000.00"}))
    conn.execute(insert(table("guarantee_claims")).values(
        id="c-1", guarantee_id="g-bid", instance_id="i-1", no=1, reason="refused_to_sign", status="paid", filed_at=NOW,
        filed_by="emp", **stored[("guarantee_claims", "c-1")]))
    conn.execute(insert(table("credit_records")).values(
        id="cr-1", alert_id="a-arrears", org_code="EMP", instance_id="i-1", business_key="HT-OLD", code="PAYMENT_OVERDUE",
        publicity_rule="S02", publicity_basis="《…》", created_at=NOW, created_by="zj", **stored[("credit_records", "cr-1")]))


def _read(url: str) -> dict[tuple[str, str], dict[str, object]]:
    """Every converted cell as the database gives it back now."""
    engine = make_engine(url)
    out = {}
    with engine.connect() as conn:
        meta = MetaData()
        for (name, row_id), columns in CONVERTED.items():
            t = Table(name, meta, autoload_with=conn) if name not in meta.tables else meta.tables[name]
            row = conn.execute(select(*(t.c[c] for c in columns)).where(t.c.id == row_id)).one()
            out[(name, row_id)] = dict(row._mapping)
    engine.dispose()
    return out


def test_0008_converts_the_money_and_dates_of_the_previous_release_and_back(empty_url):
    config = migrate.alembic_config(empty_url)
    command.upgrade(config, BEFORE_TYPES)
    engine = make_engine(empty_url)
    with engine.begin() as conn:
        _insert_previous_release_rows(conn)
    engine.dispose()

    command.upgrade(config, "head")
    # Read through the models: money is a Decimal of 2 places from integer fen, business dates are dates.
    db = Database(empty_url)
    with db.read() as s:
        for (name, row_id), columns in CONVERTED.items():
            model = {"payments": Payment, "invoices": Invoice, "alerts": Alert, "guarantees": Guarantee,
                     "guarantee_claims": GuaranteeClaim, "credit_records": CreditRecord}[name]
            obj = s.get(model, row_id)
            got = {c: getattr(obj, c) for c in columns}
            assert got == {c: new for c, (_, new, _) in columns.items()}, (name, row_id)
            assert all(str(getattr(obj, c)) == back for c, (_, _, back) in columns.items() if back is not None)
        # The columns hold integers of fen (what SQL sums), and the ledger still reads as before.
        assert s.scalar(select(func.sum(Payment.amount))) == Decimal("1000000001240000.49")
        assert s.scalar(text("SELECT amount FROM payments WHERE id = 'p-two'")) == 120000000
        assert [p.id for p in s.scalars(select(Payment).where(Payment.paid_at >= date(2026, 9, 1))
                                        .order_by(Payment.paid_at))] == ["p-two", "p-none"]
    db.dispose()
    with make_engine(empty_url).connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        # The rows that reference a recreated table still do (SQLite rebuilt guarantees and alerts).
        assert conn.execute(text("SELECT count(*) FROM guarantee_events WHERE guarantee_id = 'g-bid'")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM alert_decisions WHERE alert_id = 'a-arrears'")).scalar() == 1

    command.downgrade(config, BEFORE_TYPES)
    assert _read(empty_url) == {key: {c: back for c, (_, _, back) in columns.items()}
                                for key, columns in CONVERTED.items()}
    command.upgrade(config, "head")  # and up again, from what the downgrade wrote: integers of fen, dates
    fen = lambda v: int(v * 100) if isinstance(v, Decimal) else v  # noqa: E731
    assert _read(empty_url) == {key: {c: fen(new) for c, (_, new, _) in columns.items()}
                                for key, columns in CONVERTED.items()}


def test_a_money_column_refuses_what_it_would_have_to_round(db):
    from engine.storage.db import Money

    assert Money.to_fen(Decimal("1200000.00")) == 120000000 and Money.to_fen(Decimal("28000.000")) == 2800000
    for bad in (Decimal("0.001"), Decimal("1.005"), Decimal("NaN"), Decimal("Infinity"), Decimal("1E+17"), "1.00", 1.5):
        with pytest.raises(ValueError):
            Money.to_fen(bad)
    with pytest.raises(StatementError, match="at most 2 decimals"):
        with db.transaction() as s:
            s.execute(insert(Payment).values(id="x", instance_id="none", paid_at=date(2026, 1, 1), amount=Decimal("1.001"),
                                             recorded_at=NOW, recorded_by="t"))


def test_migration_0016_fills_the_table_from_the_contracts_and_drops_it_on_downgrade(empty_url):
    config = migrate.alembic_config(empty_url)
    command.upgrade(config, "0015")
    engine = make_engine(empty_url)
    now = datetime(2026, 9, 1, tzinfo=timezone.utc)
    due = datetime(2026, 9, 30, 16, tzinfo=timezone.utc)
    with engine.begin() as conn:
        conn.execute(insert(Base.metadata.tables["definitions"]).values(
            id=1, key="post_award", version=1, sha256="0" * 64, xml="<x/>", spec="{}", model={}, deployed_at=now))
        conn.execute(insert(Instance.__table__).values(
            id="i-1", business_key="OLD-1", definition_id=1, status="running", roles={"employer": "EMP"},
            department_code=None, state="{}", created_at=now, updated_at=now, version=1, audit_seq=0,
            data={"funding_source": "special_bonds", "payment_basis": {"rule": "P01", "interest": {"rule": "P05"}},
                  "milestones": [{"amount": "100.00"}, {"amount": "0"}, {"amount": "250.50"}]}))
        tasks = Base.metadata.tables["tasks"]
        for tid, no, at_ in (("t1", 1, due), ("t1b", 1, due.replace(day=20)), ("t3", 3, None)):
            conn.execute(insert(tasks).values(id=tid, instance_id="i-1", item_no=no, element_id="record_payment",
                                              state="ready", created_at=now, due_at=at_))
        payments = Base.metadata.tables["payments"]
        for pid, day, amount in (("p2", date(2026, 9, 25), "60.00"), ("p1", date(2026, 9, 10), "40.00"),
                                 ("p3", date(2026, 9, 28), "0.01")):
            conn.execute(insert(payments).values(id=pid, instance_id="i-1", milestone_no=1, paid_at=day,
                                                 amount=Decimal(amount),
                                                 recorded_at=now, recorded_by="emp"))
    command.upgrade(config, "0016")
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(select(
            PaymentObligation.milestone_no, PaymentObligation.employer, PaymentObligation.funding_source,
            PaymentObligation.amount, PaymentObligation.due_at, PaymentObligation.last_day,
            PaymentObligation.interest_micro_percent, PaymentObligation.paid, PaymentObligation.last_paid_on,
            PaymentObligation.paid_in_full_on).order_by(PaymentObligation.milestone_no))]
        contract = conn.execute(select(ContractDeadline.instance_id, ContractDeadline.sign_last_day,
                                       ContractDeadline.works_terms)).all()
    # milestone 1: 40.00 on 09-10, 60.00 on 09-25 (paid in full), 0.01 on 09-28; milestone 2 is of no amount
    assert rows == [(1, "EMP", "special_bonds", Decimal("100.00"), due.replace(day=20), date(2026, 9, 20), 50_000,
                     Decimal("100.01"), date(2026, 9, 28), date(2026, 9, 25)),
                    (3, "EMP", "special_bonds", Decimal("250.50"), None, None, None, Decimal("0.00"), None, None)]
    assert contract == [("i-1", None, False)]
    command.downgrade(config, "0015")
    with engine.connect() as conn:
        assert not {"payment_obligations", "contract_deadlines"} & set(inspect(conn).get_table_names())
    command.upgrade(config, "head")
    engine.dispose()
