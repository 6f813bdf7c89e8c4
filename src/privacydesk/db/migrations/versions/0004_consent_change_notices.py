"""Tell the servers' consent-check caches what changed: PostgreSQL notifies on every change a check reads.

Channel `privacydesk_consent`, delivered on commit. Payloads: `k:<subject key>` when a key is
linked to another person or removed; `p:<person id>` when a person's current states or
restrictions change; `*` when anything every answer depends on changes (policy versions, their
derived revisions, API tokens' scopes/expiry/revocation, users' roles and activity).

A new key, and the states of a person created in the same transaction, notify nothing: the
caches never keep answers about unknown keys, so nothing can be stale. This keeps a visitor's
first decision free of NOTIFY, whose commit PostgreSQL serialises across the whole database.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BY_PERSON = ("consent_states", "consent_restrictions")
_EVERYTHING = {
    "policy_versions": "INSERT OR UPDATE OR DELETE",
    "consent_policy_sync": "INSERT OR UPDATE OR DELETE",
    "consent_revisions": "INSERT OR UPDATE OR DELETE",
    "api_tokens": "UPDATE OF scopes, expires_at, revoked_at, owner_id OR DELETE",
    "users": "UPDATE OF role, active OR DELETE",
}


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION consent_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN PERFORM pg_notify('privacydesk_consent', 'k:' || NEW.key); END IF;
            PERFORM pg_notify('privacydesk_consent', 'k:' || OLD.key);
            RETURN NULL;
        END $$;
        CREATE FUNCTION consent_person_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' AND EXISTS (
                SELECT 1 FROM consent_persons p WHERE p.id = NEW.person_id AND p.xmin = pg_current_xact_id()::xid
            ) THEN
                RETURN NULL;  -- a person this transaction created: nobody can have read it yet
            END IF;
            IF TG_OP <> 'DELETE' THEN PERFORM pg_notify('privacydesk_consent', 'p:' || NEW.person_id); END IF;
            IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('privacydesk_consent', 'p:' || OLD.person_id); END IF;
            RETURN NULL;
        END $$;
        CREATE FUNCTION consent_everything_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('privacydesk_consent', '*');
            RETURN NULL;
        END $$;
        CREATE TRIGGER consent_subjects_notify AFTER UPDATE OR DELETE ON consent_subjects
            FOR EACH ROW EXECUTE FUNCTION consent_key_changed();
        """
    )
    for table in _BY_PERSON:
        op.execute(
            f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION consent_person_changed()"
        )
    for table, events in _EVERYTHING.items():
        op.execute(
            f"CREATE TRIGGER {table}_notify AFTER {events} ON {table} FOR EACH STATEMENT EXECUTE FUNCTION consent_everything_changed()"
        )


def downgrade() -> None:
    for table in [*_EVERYTHING, *_BY_PERSON, "consent_subjects"]:
        op.execute(f"DROP TRIGGER {table}_notify ON {table}")
    op.execute("DROP FUNCTION consent_everything_changed(); DROP FUNCTION consent_person_changed(); DROP FUNCTION consent_key_changed();")
