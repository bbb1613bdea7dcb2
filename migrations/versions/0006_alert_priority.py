"""alert priority: high or routine, filled for existing alerts from the stored answers

Revision ID: 0006_alert_priority
Revises: 0005_login_sessions
Create Date: 2026-12-04 20:05:00.000000

Existing suicidal-ideation alerts take the priority their response's PHQ-9
item 9 gives under docs/clinical-rules.md, "Alerts": high when it is 2 or
more, routine when it is 1. Every other alert (reliable deterioration) is
routine. The rule is spelled here, not imported, so this revision keeps
meaning what it meant when it was written.
"""
import json

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006_alert_priority'
down_revision = '0005_login_sessions'
branch_labels = None
depends_on = None

ITEM_9 = 8  # index of PHQ-9 item 9 in the stored answers
HIGH_FROM = 2  # item 9 at "more than half the days" or more


def _high_priority_alert_ids(connection) -> list[int]:
    rows = connection.execute(
        sa.text(
            "SELECT alert.id, response.answers FROM alert"
            " JOIN response ON response.id = alert.response_id"
            " WHERE alert.kind = 'suicidal_ideation' AND response.instrument = 'phq9'"
        )
    ).all()
    high = []
    for alert_id, answers in rows:
        if isinstance(answers, str):  # SQLite hands JSON back as text
            answers = json.loads(answers)
        value = answers[ITEM_9] if len(answers) > ITEM_9 else None
        if isinstance(value, int) and value >= HIGH_FROM:
            high.append(alert_id)
    return high


def upgrade():
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('priority', sa.String(length=16), nullable=True)
        )
    connection = op.get_bind()
    connection.execute(sa.text("UPDATE alert SET priority = 'routine'"))
    high = _high_priority_alert_ids(connection)
    if high:
        connection.execute(
            sa.text("UPDATE alert SET priority = 'high' WHERE id IN :ids").bindparams(
                sa.bindparam('ids', expanding=True)
            ),
            {'ids': high},
        )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.alter_column(
            'priority', existing_type=sa.String(length=16), nullable=False
        )
        batch_op.create_check_constraint(
            op.f('ck_alert_priority'), "priority IN ('high', 'routine')"
        )


def downgrade():
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_alert_priority'), type_='check')
        batch_op.drop_column('priority')
