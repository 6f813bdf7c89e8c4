"""Count, per retention run, the due rows kept because their person restricted processing (Art. 18).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("retention_runs", sa.Column("restricted", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("retention_runs", "restricted")
