"""typed money and dates

Money columns become integers of fen (engine/db.Money: "1200000.00" → 120000000) so that reports sum
them in SQL, and business dates ("YYYY-MM-DD" text) become DATE columns. Existing rows are converted;
the downgrade converts them back (money as text with 2 places, dates as ISO text).

A stored amount finer than a fen (possible only in an alert's amount_overdue, which an expression
computed before 0008) is rounded half up to the fen here — the one rounding the conversion makes; a
text that is no amount at all stops the migration with the row named.

SQLite cannot change a column's type: batch mode recreates each table, declaring the new types via
`reflect_args` so that no CAST rewrites the values (SQLite's CAST('2026-12-01' AS DATE) is 2026); the
values are converted in Python before (money) and kept as they are (dates, whose SQLite form is the
ISO text already). migrations/env.py turns foreign-key enforcement off around a migration for this.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00
"""
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from alembic import op
import sqlalchemy as sa
import engine.storage.db


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# table → [(column, nullable)]
MONEY = {
    'alerts': [('amount_overdue', True)],
    'payments': [('amount', False)],
    'invoices': [('amount', False)],
    'guarantees': [('amount', False), ('freed_amount', True)],
    'guarantee_claims': [('amount', False), ('paid_amount', True)],
}
DATES = {
    'payments': [('paid_at', False)],
    'invoices': [('issued_at', False)],
    'credit_records': [('record_date', False), ('publicity_until', False)],
    'guarantees': [('valid_from', True), ('valid_to', True), ('activated_on', True), ('released_at', True)],
    'guarantee_claims': [('claimed_at', False), ('paid_at', True)],
}
TABLES = sorted(set(MONEY) | set(DATES))
_FEN = Decimal('0.01')


def _fen(table: str, column: str, row_id, text) -> str | None:
    if text is None or str(text).strip() == '':
        return None
    try:
        amount = Decimal(str(text).strip())
    except InvalidOperation:
        amount = Decimal('NaN')
    if not amount.is_finite():
        raise ValueError(f"{table}.{column} of row {row_id} is no amount: {str(text)[:40]!r}")
    return str(int(amount.quantize(_FEN, rounding=ROUND_HALF_UP).scaleb(2)))


def _money_text(fen) -> str | None:
    return None if fen is None or str(fen) == '' else format(Decimal(int(str(fen))).scaleb(-2), 'f')


def _rewrite(table: str, column: str, convert) -> None:
    """Every non-null value of `table.column` (still text) replaced by `convert(table, column, id, value)`."""
    conn = op.get_bind()
    t = sa.table(table, sa.column('id'), sa.column(column, sa.String()))
    rows = conn.execute(sa.select(t.c.id, t.c[column]).where(t.c[column].is_not(None))).all()
    updates = [{'row_id': rid, 'value': convert(table, column, rid, value)} for rid, value in rows]
    changed = [u for u, (_, value) in zip(updates, rows) if u['value'] != value]
    if changed:
        conn.execute(t.update().where(t.c.id == sa.bindparam('row_id')).values({column: sa.bindparam('value')}),
                     changed)


def _blank_dates_to_null() -> None:
    for table, columns in DATES.items():
        for column, nullable in columns:
            if nullable:
                op.execute(sa.text(f"UPDATE {table} SET {column} = NULL WHERE {column} = ''"))


def _types(table: str, money, date) -> list[sa.Column]:
    return ([sa.Column(c, money, nullable=n) for c, n in MONEY.get(table, [])]
            + [sa.Column(c, date, nullable=n) for c, n in DATES.get(table, [])])


def upgrade() -> None:
    for table, columns in MONEY.items():
        for column, _ in columns:
            _rewrite(table, column, _fen)
    _blank_dates_to_null()
    if op.get_bind().dialect.name == 'sqlite':
        for table in TABLES:
            with op.batch_alter_table(table, recreate='always',
                                      reflect_args=_types(table, sa.BigInteger(), sa.Date())):
                pass
        return
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            for column, nullable in MONEY.get(table, []):
                batch_op.alter_column(column, type_=engine.storage.db.Money(), existing_type=sa.String(length=40),
                                      existing_nullable=nullable, postgresql_using=f'{column}::bigint')
            for column, nullable in DATES.get(table, []):
                batch_op.alter_column(column, type_=sa.Date(), existing_type=sa.String(length=10),
                                      existing_nullable=nullable, postgresql_using=f'{column}::date')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for table in TABLES:
            with op.batch_alter_table(table, recreate='always',
                                      reflect_args=_types(table, sa.String(length=40), sa.String(length=10))):
                pass
    else:
        for table in TABLES:
            with op.batch_alter_table(table) as batch_op:
                for column, nullable in MONEY.get(table, []):
                    batch_op.alter_column(column, type_=sa.String(length=40), existing_type=sa.BigInteger(),
                                          existing_nullable=nullable, postgresql_using=f'{column}::text')
                for column, nullable in DATES.get(table, []):
                    batch_op.alter_column(column, type_=sa.String(length=10), existing_type=sa.Date(),
                                          existing_nullable=nullable,
                                          postgresql_using=f"to_char({column}, 'YYYY-MM-DD')")
    for table, columns in MONEY.items():
        for column, _ in columns:
            _rewrite(table, column, lambda _t, _c, _id, fen: _money_text(fen))
