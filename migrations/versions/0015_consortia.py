"""consortia (联合体): a role held by several organisations, a credit record per member, leads naming them (issue 17)

instance_parties gets one row per organisation holding a role: its primary key becomes (instance_id, role,
org_code). credit_records holds one record per responsible organisation of an alert: the unique alert_id becomes
unique (alert_id, org_code). leads.responsible_members names a consortium's members; tender_awards.supplier_parties
every supplier of an award to a consortium (OCDS awards[].suppliers).

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-06 14:00:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0013'
branch_labels = None
depends_on = None

# SQLite's constraints of these tables are unnamed: the convention names them so that batch mode can drop them.
SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s", "pk": "pk_%(table_name)s"}


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _alert_unique() -> str:
    """The unique alert_id constraint of 0006: PostgreSQL's default name; SQLite's convention name (unnamed there)."""
    return 'uq_credit_records_alert_id' if _sqlite() else 'credit_records_alert_id_key'


def _set_primary_key(columns: list[str]) -> None:
    if _sqlite():
        with op.batch_alter_table('instance_parties', recreate='always', naming_convention=SQLITE_NAMES) as batch_op:
            batch_op.create_primary_key('pk_instance_parties', columns)
    else:
        op.drop_constraint('instance_parties_pkey', 'instance_parties', type_='primary')
        op.create_primary_key('instance_parties_pkey', 'instance_parties', columns)


def _credit_unique(drop: str, create: tuple[str, list[str]]) -> None:
    kw = {"recreate": "always", "naming_convention": SQLITE_NAMES} if _sqlite() else {}
    with op.batch_alter_table('credit_records', schema=None, **kw) as batch_op:
        batch_op.drop_constraint(drop, type_='unique')
        batch_op.create_unique_constraint(*create)


def upgrade() -> None:
    _set_primary_key(['instance_id', 'role', 'org_code'])
    _credit_unique(_alert_unique(), ('uq_credit_records_alert_org', ['alert_id', 'org_code']))
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('responsible_members', sa.JSON(), nullable=True))
    with op.batch_alter_table('tender_awards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('supplier_parties', sa.JSON(), nullable=True))


def downgrade() -> None:
    # The older schema binds one organisation per role and one credit record per alert: refuse rather than guess
    # which member to drop.
    bind = op.get_bind()
    shared = bind.execute(sa.text("SELECT COUNT(*) FROM (SELECT instance_id, role FROM instance_parties "
                                  "GROUP BY instance_id, role HAVING COUNT(*) > 1) s")).scalar()
    if shared:
        raise RuntimeError(f"{shared} contract role(s) are held by a consortium: downgrading below 0015 would lose "
                           "their members; end or export those contracts first")
    with op.batch_alter_table('tender_awards', schema=None) as batch_op:
        batch_op.drop_column('supplier_parties')
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_column('responsible_members')
    _credit_unique('uq_credit_records_alert_org', (_alert_unique(), ['alert_id']))
    _set_primary_key(['instance_id', 'role'])
