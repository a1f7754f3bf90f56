"""credit decisions, objections, the public credit library, supervision cases (issue 18)

A credit record now rests on an administrative decision (document number, date, legal basis, severity
class) and is published for the period the rule registry gives that class (engine/supervision/rules.json,
kind "publicity"), not for a fixed 60 months; records written before keep their rows but wait for a
decision (status `awaiting_decision`) and are not public until one is recorded. Objections by the party,
with the department's period and outcome; removal from publication; organisations' unified social
credit code (统一社会信用代码) for the public library; supervision cases (bpmn/supervision_case.bpmn) with the
alerts they were opened from; leads by type with their receiving body's acknowledgement and outcome, and
the routes that pick the receiving body.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 11:00:00
"""
from alembic import op
import sqlalchemy as sa
import engine.storage.db


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('uscc', sa.String(length=18), nullable=True))
        batch_op.create_index(batch_op.f('ix_organisations_uscc'), ['uscc'], unique=False)

    with op.batch_alter_table('credit_records', schema=None) as batch_op:
        batch_op.alter_column('alert_id', existing_type=sa.String(length=36), nullable=True)
        batch_op.alter_column('publicity_rule', existing_type=sa.String(length=16), nullable=True)
        batch_op.alter_column('publicity_basis', existing_type=sa.String(length=500), nullable=True)
        batch_op.alter_column('publicity_until', existing_type=sa.Date(), nullable=True)
        batch_op.add_column(sa.Column('status', sa.String(length=20), server_default='awaiting_decision', nullable=False))
        batch_op.add_column(sa.Column('document_no', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('decided_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('decision_basis', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('severity', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('decided_at', engine.storage.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('decided_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('publicity_verified', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('publicity_months', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('publicity_from', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('repair_after', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('removed_at', engine.storage.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('removal_reason', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('removal_due', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('removal_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('case_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_credit_records_case_id'), ['case_id'], unique=False)

    op.create_table('credit_objections',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('record_id', sa.String(length=36), nullable=False),
    sa.Column('org_code', sa.String(length=64), nullable=False),
    sa.Column('department_code', sa.String(length=64), nullable=True),
    sa.Column('grounds', sa.Text(), nullable=False),
    sa.Column('filed_at', engine.storage.db.UTCDateTime(), nullable=False),
    sa.Column('filed_by', sa.String(length=200), nullable=False),
    sa.Column('check', sa.String(length=20), nullable=False),
    sa.Column('due_rule', sa.String(length=16), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('answered_at', engine.storage.db.UTCDateTime(), nullable=True),
    sa.Column('answered_by', sa.String(length=200), nullable=True),
    sa.Column('late', sa.Boolean(), nullable=True),
    sa.Column('warned_at', engine.storage.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['record_id'], ['credit_records.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('credit_objections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_objections_department_code'), ['department_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_credit_objections_record_id'), ['record_id'], unique=False)

    op.create_table('supervision_cases',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_instance_id', sa.String(length=36), nullable=False),
    sa.Column('contract_instance_id', sa.String(length=36), nullable=False),
    sa.Column('business_key', sa.String(length=200), nullable=False),
    sa.Column('department_code', sa.String(length=64), nullable=True),
    sa.Column('org_code', sa.String(length=64), nullable=False),
    sa.Column('party_role', sa.String(length=20), nullable=False),
    sa.Column('track', sa.String(length=20), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('opened_at', engine.storage.db.UTCDateTime(), nullable=False),
    sa.Column('opened_by', sa.String(length=200), nullable=False),
    sa.Column('order_no', sa.String(length=200), nullable=True),
    sa.Column('ordered_at', sa.Date(), nullable=True),
    sa.Column('rectification_due', sa.Date(), nullable=True),
    sa.Column('order_basis', sa.String(length=500), nullable=True),
    sa.Column('closed_at', engine.storage.db.UTCDateTime(), nullable=True),
    sa.Column('credit_record_id', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['case_instance_id'], ['instances.id'], ),
    sa.ForeignKeyConstraint(['contract_instance_id'], ['instances.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_instance_id')
    )
    with op.batch_alter_table('supervision_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_cases_contract_instance_id'), ['contract_instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_cases_department_code'), ['department_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_cases_org_code'), ['org_code'], unique=False)

    op.create_table('case_alerts',
    sa.Column('alert_id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ),
    sa.ForeignKeyConstraint(['case_id'], ['supervision_cases.id'], ),
    sa.PrimaryKeyConstraint('alert_id')
    )
    with op.batch_alter_table('case_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_alerts_case_id'), ['case_id'], unique=False)

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.alter_column('alert_id', existing_type=sa.String(length=36), nullable=True)
        batch_op.add_column(sa.Column('lead_type', sa.String(length=30), server_default='non_performance', nullable=False))
        batch_op.add_column(sa.Column('route', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_at', engine.storage.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('outcome', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('outcome_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('outcome_at', engine.storage.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('outcome_by', sa.String(length=200), nullable=True))

    # lead_routes (a department's leads of one type → the receiving body) exists since 0011 (the risk leads'
    # routes); the supervision leads of engine/supervision/leads.py route through the same table.


def downgrade() -> None:
    with op.batch_alter_table('leads', schema=None) as batch_op:
        for column in ('outcome_by', 'outcome_at', 'outcome_note', 'outcome', 'acknowledged_by', 'acknowledged_at',
                       'route', 'lead_type'):
            batch_op.drop_column(column)
        batch_op.alter_column('alert_id', existing_type=sa.String(length=36), nullable=False)
    with op.batch_alter_table('case_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_alerts_case_id'))
    op.drop_table('case_alerts')
    with op.batch_alter_table('supervision_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_cases_org_code'))
        batch_op.drop_index(batch_op.f('ix_supervision_cases_department_code'))
        batch_op.drop_index(batch_op.f('ix_supervision_cases_contract_instance_id'))
    op.drop_table('supervision_cases')

    with op.batch_alter_table('credit_objections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_objections_record_id'))
        batch_op.drop_index(batch_op.f('ix_credit_objections_department_code'))
    op.drop_table('credit_objections')

    with op.batch_alter_table('credit_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_records_case_id'))
        for column in ('case_id', 'removal_note', 'removal_due', 'removal_reason', 'removed_at', 'repair_after', 'publicity_from',
                       'publicity_months', 'publicity_verified', 'decided_by', 'decided_at', 'severity',
                       'decision_basis', 'decided_on', 'document_no', 'status'):
            batch_op.drop_column(column)
        # A record without a decision had no publicity: the previous release cannot hold it without one.
        batch_op.alter_column('publicity_until', existing_type=sa.Date(), nullable=False)
        batch_op.alter_column('publicity_basis', existing_type=sa.String(length=500), nullable=False)
        batch_op.alter_column('publicity_rule', existing_type=sa.String(length=16), nullable=False)
        batch_op.alter_column('alert_id', existing_type=sa.String(length=36), nullable=False)

    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisations_uscc'))
        batch_op.drop_column('uscc')
