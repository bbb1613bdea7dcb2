"""export jobs run on the workers: a lease and an attempt count on the job row

A worker claims a job by raising ``attempts`` (its fencing token) and setting
``lease_until``; it renews the lease while it writes. A job whose lease ran out
(its worker died) is handed to another worker by the tick.

Revision ID: 0008_export_lease
Revises: 0007_plans_and_outbox
Create Date: 2026-12-06 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
import tracker.models.types


# revision identifiers, used by Alembic.
revision = '0008_export_lease'
down_revision = '0007_plans_and_outbox'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('export_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('lease_until', tracker.models.types.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('export_job', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
        batch_op.drop_column('attempts')
