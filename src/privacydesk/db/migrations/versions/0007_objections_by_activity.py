"""The restriction register names the activity an objection is to (Art. 21(1)), for activities no consent serves.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("consent_restrictions", sa.Column("activity", sa.String(length=64), nullable=True))
    op.create_check_constraint(op.f("ck_consent_restrictions_one_scope"), "consent_restrictions", "activity IS NULL OR purpose IS NULL")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_consent_restrictions_one_scope"), "consent_restrictions", type_="check")
    op.drop_column("consent_restrictions", "activity")
