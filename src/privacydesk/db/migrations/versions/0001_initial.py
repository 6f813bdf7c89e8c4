"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 03:30:27.207619
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("object_type", sa.String(length=100), nullable=False),
        sa.Column("object_id", sa.String(length=200), nullable=True),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entries")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_entries_hash")),
    )
    op.create_index(op.f("ix_audit_entries_action"), "audit_entries", ["action"], unique=False)
    op.create_table(
        "policy_versions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("policy", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("sources", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("effective", sa.Date(), nullable=False),
        sa.Column("publisher", sa.String(length=200), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_versions")),
        sa.UniqueConstraint("number", name=op.f("uq_policy_versions_number")),
    )
    op.create_index(op.f("ix_policy_versions_hash"), "policy_versions", ["hash"], unique=False)
    op.create_table(
        "policy_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["policy_versions.id"], name=op.f("fk_policy_events_version_id_policy_versions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_events")),
    )
    op.create_index(op.f("ix_policy_events_kind"), "policy_events", ["kind"], unique=False)
    op.create_index(op.f("ix_policy_events_version_id"), "policy_events", ["version_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_policy_events_version_id"), table_name="policy_events")
    op.drop_index(op.f("ix_policy_events_kind"), table_name="policy_events")
    op.drop_table("policy_events")
    op.drop_index(op.f("ix_policy_versions_hash"), table_name="policy_versions")
    op.drop_table("policy_versions")
    op.drop_index(op.f("ix_audit_entries_action"), table_name="audit_entries")
    op.drop_table("audit_entries")
