"""The audit chain's head read under its append lock in one round trip.

`audit_chain_head(lock_key)` takes the transaction-level advisory lock that serialises appends,
then reads the last entry. A VOLATILE function takes a fresh snapshot for each query it runs, so
the read sees the entry the previous lock holder committed while this one waited; a single
statement taking the lock and reading would read with its snapshot from before the wait.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION audit_chain_head(lock_key bigint) RETURNS TABLE (seq bigint, hash varchar)
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock(lock_key);
            RETURN QUERY SELECT entries.seq, entries.hash FROM audit_entries AS entries ORDER BY entries.seq DESC LIMIT 1;
        END $$;
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION audit_chain_head(bigint)")
