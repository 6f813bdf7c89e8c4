"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 05:33:17.439829
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
        "consent_persons",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("merged_into", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["merged_into"], ["consent_persons.id"], name=op.f("fk_consent_persons_merged_into_consent_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_persons")),
    )
    op.create_table(
        "consent_policy_sync",
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version_number", name=op.f("pk_consent_policy_sync")),
    )
    op.create_table(
        "consent_revisions",
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("purpose", "version_number", name=op.f("pk_consent_revisions")),
    )
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=True),
        sa.Column("collection", sa.String(length=64), nullable=True),
        sa.Column("keys", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("identity_type", sa.String(length=32), nullable=True),
        sa.Column("identity_value", sa.String(length=320), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.String(length=200), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "(collection IS NOT NULL AND system IS NOT NULL AND keys IS NOT NULL AND identity_type IS NULL AND identity_value IS NULL) OR (keys IS NULL AND identity_type IS NOT NULL AND identity_value IS NOT NULL)",
            name=op.f("ck_legal_holds_target"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("last_failed_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttles")),
    )
    op.create_index(op.f("ix_login_throttles_last_failed_login_at"), "login_throttles", ["last_failed_login_at"], unique=False)
    op.create_table(
        "newsletter_subscriptions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("email_key", sa.String(length=300), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("confirm_nonce", sa.String(length=64), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'confirmed', 'unsubscribed')", name=op.f("ck_newsletter_subscriptions_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_newsletter_subscriptions")),
        sa.UniqueConstraint("email_key", "purpose", name=op.f("uq_newsletter_subscriptions_email_key")),
    )
    op.create_index("ix_newsletter_subscriptions_purpose_status", "newsletter_subscriptions", ["purpose", "status"], unique=False)
    op.create_table(
        "outbound_mail",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("to", sa.String(length=320), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.Enum("queued", "sent", "failed", name="mailstatus", native_enum=False, length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_mail")),
    )
    op.create_index(op.f("ix_outbound_mail_status"), "outbound_mail", ["status"], unique=False)
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
        "request_rate_hits",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_rate_hits")),
    )
    op.create_index(op.f("ix_request_rate_hits_key"), "request_rate_hits", ["key"], unique=False)
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=True),
        sa.Column("policy_hash", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("warn_cutoff", sa.DateTime(timezone=True), nullable=True),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("cursor", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("pending", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("anonymised", sa.Integer(), nullable=False),
        sa.Column("cascaded", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("noticed", sa.Integer(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("phase IN ('notice', 'expire')", name=op.f("ck_retention_runs_phase")),
        sa.CheckConstraint("status IN ('running', 'done', 'failed', 'stopped')", name=op.f("ck_retention_runs_status")),
        sa.CheckConstraint("trigger IN ('cli', 'schedule', 'api')", name=op.f("ck_retention_runs_trigger")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_runs")),
    )
    op.create_index("ix_retention_runs_rule_status", "retention_runs", ["rule", "status"], unique=False)
    op.create_table(
        "subject_requests",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("reference", sa.String(length=36), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "access",
                "portability",
                "rectification",
                "erasure",
                "restriction",
                "objection",
                "consent_withdrawal",
                "post_mortem",
                name="requesttype",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "received",
                "verifying",
                "verified",
                "awaiting_approval",
                "approved",
                "executing",
                "waiting_manual",
                "completed",
                "rejected",
                "cancelled",
                "failed",
                name="requeststatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "channel",
            sa.Enum("web", "app", "letter", "phone", "email", "opendsr", name="channel", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("identity_key", sa.String(length=64), nullable=False),
        sa.Column("status_token_hash", sa.String(length=64), nullable=False),
        sa.Column("verification_method", sa.String(length=20), nullable=False),
        sa.Column("approval_required", sa.Boolean(), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("original_due_on", sa.Date(), nullable=False),
        sa.Column("extended_months", sa.Integer(), nullable=False),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_requests")),
        sa.UniqueConstraint("reference", name=op.f("uq_subject_requests_reference")),
    )
    op.create_index(op.f("ix_subject_requests_due_on"), "subject_requests", ["due_on"], unique=False)
    op.create_index(op.f("ix_subject_requests_status"), "subject_requests", ["status"], unique=False)
    op.create_index(
        "uq_subject_requests_open_per_identities",
        "subject_requests",
        ["type", "identity_key"],
        unique=True,
        postgresql_where=sa.text(
            "status IN ('received', 'verifying', 'verified', 'awaiting_approval', 'approved', 'executing', 'waiting_manual')"
        ),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("last_failed_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('owner', 'dpo', 'analyst', 'auditor')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.ARRAY(sa.String(length=50)), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_api_tokens_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_owner_id"), "api_tokens", ["owner_id"], unique=False)
    op.create_table(
        "consent_records",
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("pii_principal_id", sa.String(length=300), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("notice_version", sa.String(length=64), nullable=False),
        sa.Column("policy_version_number", sa.Integer(), nullable=False),
        sa.Column("notice_hash", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=True),
        sa.Column("collection_method", sa.String(length=20), nullable=False),
        sa.Column("surface", sa.String(length=30), nullable=True),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entity_id", sa.String(length=200), nullable=False),
        sa.Column("page_url", sa.String(length=2000), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.Column("gpc", sa.Boolean(), nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("source_method", sa.String(length=50), nullable=True),
        sa.CheckConstraint(
            "collection_method IN ('accept_all', 'reject_all', 'custom', 'gpc', 'api', 'import')",
            name=op.f("ck_consent_records_collection_method"),
        ),
        sa.CheckConstraint("surface IN ('banner', 'preference_centre', 'app', 'email')", name=op.f("ck_consent_records_surface")),
        sa.ForeignKeyConstraint(["person_id"], ["consent_persons.id"], name=op.f("fk_consent_records_person_id_consent_persons")),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_consent_records")),
    )
    op.create_index(op.f("ix_consent_records_event_time"), "consent_records", ["event_time"], unique=False)
    op.create_index(op.f("ix_consent_records_person_id"), "consent_records", ["person_id"], unique=False)
    op.create_index(op.f("ix_consent_records_pii_principal_id"), "consent_records", ["pii_principal_id"], unique=False)
    op.create_table(
        "consent_restrictions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("subject_key", sa.String(length=300), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=200), nullable=True),
        sa.CheckConstraint("reason IN ('restriction', 'objection')", name=op.f("ck_consent_restrictions_reason")),
        sa.ForeignKeyConstraint(["person_id"], ["consent_persons.id"], name=op.f("fk_consent_restrictions_person_id_consent_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_restrictions")),
    )
    op.create_index(
        "ix_consent_restrictions_active", "consent_restrictions", ["person_id"], unique=False, postgresql_where="lifted_at IS NULL"
    )
    op.create_table(
        "consent_subjects",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["consent_persons.id"], name=op.f("fk_consent_subjects_person_id_consent_persons")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_consent_subjects")),
    )
    op.create_index(op.f("ix_consent_subjects_person_id"), "consent_subjects", ["person_id"], unique=False)
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
    op.create_table(
        "request_executions",
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outline", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"], ["subject_requests.id"], name=op.f("fk_request_executions_request_id_subject_requests"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_request_executions")),
    )
    op.create_table(
        "request_exports",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivery_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"], ["subject_requests.id"], name=op.f("fk_request_exports_request_id_subject_requests"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_exports")),
        sa.UniqueConstraint("request_id", name=op.f("uq_request_exports_request_id")),
    )
    op.create_index(op.f("ix_request_exports_expires_at"), "request_exports", ["expires_at"], unique=False)
    op.create_table(
        "request_reminders",
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("days_before", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["subject_requests.id"], name=op.f("fk_request_reminders_request_id_subject_requests"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("request_id", "days_before", "due_on", name=op.f("pk_request_reminders")),
    )
    op.create_table(
        "request_steps",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=300), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=True),
        sa.Column("collection", sa.String(length=64), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("task_id", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'running', 'waiting', 'done')", name=op.f("ck_request_steps_status")),
        sa.ForeignKeyConstraint(
            ["request_id"], ["subject_requests.id"], name=op.f("fk_request_steps_request_id_subject_requests"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_steps")),
        sa.UniqueConstraint("request_id", "step_id", name=op.f("uq_request_steps_request_id")),
        sa.UniqueConstraint("task_id", name=op.f("uq_request_steps_task_id")),
    )
    op.create_index("ix_request_steps_request_position", "request_steps", ["request_id", "position"], unique=False)
    op.create_table(
        "request_verification_codes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["subject_requests.id"],
            name=op.f("fk_request_verification_codes_request_id_subject_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_verification_codes")),
    )
    op.create_index(op.f("ix_request_verification_codes_request_id"), "request_verification_codes", ["request_id"], unique=False)
    op.create_table(
        "retention_notices",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("person_hash", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delete_not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mailed", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("kept_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["retention_runs.id"], name=op.f("fk_retention_notices_run_id_retention_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_notices")),
    )
    op.create_index("ix_retention_notices_rule_person", "retention_notices", ["rule", "person_hash"], unique=False)
    op.create_table(
        "subject_directives",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("identity_hashes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("trusted_contact", sa.String(length=500), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["subject_requests.id"], name=op.f("fk_subject_directives_request_id_subject_requests"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_directives")),
        sa.UniqueConstraint("request_id", name=op.f("uq_subject_directives_request_id")),
    )
    op.create_table(
        "subject_request_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "received",
                "verifying",
                "verified",
                "awaiting_approval",
                "approved",
                "executing",
                "waiting_manual",
                "completed",
                "rejected",
                "cancelled",
                "failed",
                name="requeststatus",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "received",
                "verifying",
                "verified",
                "awaiting_approval",
                "approved",
                "executing",
                "waiting_manual",
                "completed",
                "rejected",
                "cancelled",
                "failed",
                name="requeststatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"], ["subject_requests.id"], name=op.f("fk_subject_request_events_request_id_subject_requests"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_request_events")),
    )
    op.create_index(op.f("ix_subject_request_events_request_id"), "subject_request_events", ["request_id"], unique=False)
    op.create_table(
        "subject_request_identities",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("value_hash", sa.String(length=64), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["subject_requests.id"],
            name=op.f("fk_subject_request_identities_request_id_subject_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_request_identities")),
    )
    op.create_index(op.f("ix_subject_request_identities_request_id"), "subject_request_identities", ["request_id"], unique=False)
    op.create_index(op.f("ix_subject_request_identities_value_hash"), "subject_request_identities", ["value_hash"], unique=False)
    op.create_table(
        "user_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_user_sessions")),
    )
    op.create_index(op.f("ix_user_sessions_expires_at"), "user_sessions", ["expires_at"], unique=False)
    op.create_index(op.f("ix_user_sessions_user_id"), "user_sessions", ["user_id"], unique=False)
    op.create_table(
        "consent_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("event_state", sa.String(length=16), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "event_state IN ('given', 'refused', 'withdrawn', 'expired', 'updated')", name=op.f("ck_consent_events_event_state")
        ),
        sa.ForeignKeyConstraint(["record_id"], ["consent_records.record_id"], name=op.f("fk_consent_events_record_id_consent_records")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
    )
    op.create_index(op.f("ix_consent_events_record_id"), "consent_events", ["record_id"], unique=False)
    op.create_table(
        "consent_record_audits",
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["record_id"], ["consent_records.record_id"], name=op.f("fk_consent_record_audits_record_id_consent_records")
        ),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_consent_record_audits")),
    )
    op.create_index(op.f("ix_consent_record_audits_audit_seq"), "consent_record_audits", ["audit_seq"], unique=False)
    op.create_index(
        "ix_consent_record_audits_pending", "consent_record_audits", ["record_id"], unique=False, postgresql_where="audit_seq IS NULL"
    )
    op.create_table(
        "consent_states",
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("policy_version_number", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('given', 'refused', 'withdrawn', 'expired')", name=op.f("ck_consent_states_state")),
        sa.ForeignKeyConstraint(["person_id"], ["consent_persons.id"], name=op.f("fk_consent_states_person_id_consent_persons")),
        sa.ForeignKeyConstraint(["record_id"], ["consent_records.record_id"], name=op.f("fk_consent_states_record_id_consent_records")),
        sa.PrimaryKeyConstraint("person_id", "purpose", name=op.f("pk_consent_states")),
    )
    op.create_index(op.f("ix_consent_states_expires_at"), "consent_states", ["expires_at"], unique=False)
    op.create_table(
        "opendsr_submissions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("client_token_id", sa.BigInteger(), nullable=False),
        sa.Column("subject_request_id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("callback_urls", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("submitted_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["client_token_id"], ["api_tokens.id"], name=op.f("fk_opendsr_submissions_client_token_id_api_tokens")),
        sa.ForeignKeyConstraint(
            ["request_id"], ["subject_requests.id"], name=op.f("fk_opendsr_submissions_request_id_subject_requests"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opendsr_submissions")),
        sa.UniqueConstraint("client_token_id", "subject_request_id", name=op.f("uq_opendsr_submissions_client_token_id")),
    )
    op.create_index(op.f("ix_opendsr_submissions_client_token_id"), "opendsr_submissions", ["client_token_id"], unique=False)
    op.create_index(op.f("ix_opendsr_submissions_request_id"), "opendsr_submissions", ["request_id"], unique=False)
    op.create_table(
        "opendsr_callbacks",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("submission_id", sa.BigInteger(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["opendsr_submissions.id"],
            name=op.f("fk_opendsr_callbacks_submission_id_opendsr_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opendsr_callbacks")),
    )
    op.create_index(op.f("ix_opendsr_callbacks_status"), "opendsr_callbacks", ["status"], unique=False)
    op.create_index(op.f("ix_opendsr_callbacks_submission_id"), "opendsr_callbacks", ["submission_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_opendsr_callbacks_submission_id"), table_name="opendsr_callbacks")
    op.drop_index(op.f("ix_opendsr_callbacks_status"), table_name="opendsr_callbacks")
    op.drop_table("opendsr_callbacks")
    op.drop_index(op.f("ix_opendsr_submissions_request_id"), table_name="opendsr_submissions")
    op.drop_index(op.f("ix_opendsr_submissions_client_token_id"), table_name="opendsr_submissions")
    op.drop_table("opendsr_submissions")
    op.drop_index(op.f("ix_consent_states_expires_at"), table_name="consent_states")
    op.drop_table("consent_states")
    op.drop_index("ix_consent_record_audits_pending", table_name="consent_record_audits", postgresql_where="audit_seq IS NULL")
    op.drop_index(op.f("ix_consent_record_audits_audit_seq"), table_name="consent_record_audits")
    op.drop_table("consent_record_audits")
    op.drop_index(op.f("ix_consent_events_record_id"), table_name="consent_events")
    op.drop_table("consent_events")
    op.drop_index(op.f("ix_user_sessions_user_id"), table_name="user_sessions")
    op.drop_index(op.f("ix_user_sessions_expires_at"), table_name="user_sessions")
    op.drop_table("user_sessions")
    op.drop_index(op.f("ix_subject_request_identities_value_hash"), table_name="subject_request_identities")
    op.drop_index(op.f("ix_subject_request_identities_request_id"), table_name="subject_request_identities")
    op.drop_table("subject_request_identities")
    op.drop_index(op.f("ix_subject_request_events_request_id"), table_name="subject_request_events")
    op.drop_table("subject_request_events")
    op.drop_table("subject_directives")
    op.drop_index("ix_retention_notices_rule_person", table_name="retention_notices")
    op.drop_table("retention_notices")
    op.drop_index(op.f("ix_request_verification_codes_request_id"), table_name="request_verification_codes")
    op.drop_table("request_verification_codes")
    op.drop_index("ix_request_steps_request_position", table_name="request_steps")
    op.drop_table("request_steps")
    op.drop_table("request_reminders")
    op.drop_index(op.f("ix_request_exports_expires_at"), table_name="request_exports")
    op.drop_table("request_exports")
    op.drop_table("request_executions")
    op.drop_index(op.f("ix_policy_events_version_id"), table_name="policy_events")
    op.drop_index(op.f("ix_policy_events_kind"), table_name="policy_events")
    op.drop_table("policy_events")
    op.drop_index(op.f("ix_consent_subjects_person_id"), table_name="consent_subjects")
    op.drop_table("consent_subjects")
    op.drop_index("ix_consent_restrictions_active", table_name="consent_restrictions", postgresql_where="lifted_at IS NULL")
    op.drop_table("consent_restrictions")
    op.drop_index(op.f("ix_consent_records_pii_principal_id"), table_name="consent_records")
    op.drop_index(op.f("ix_consent_records_person_id"), table_name="consent_records")
    op.drop_index(op.f("ix_consent_records_event_time"), table_name="consent_records")
    op.drop_table("consent_records")
    op.drop_index(op.f("ix_api_tokens_owner_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_index(
        "uq_subject_requests_open_per_identities",
        table_name="subject_requests",
        postgresql_where=sa.text(
            "status IN ('received', 'verifying', 'verified', 'awaiting_approval', 'approved', 'executing', 'waiting_manual')"
        ),
    )
    op.drop_index(op.f("ix_subject_requests_status"), table_name="subject_requests")
    op.drop_index(op.f("ix_subject_requests_due_on"), table_name="subject_requests")
    op.drop_table("subject_requests")
    op.drop_index("ix_retention_runs_rule_status", table_name="retention_runs")
    op.drop_table("retention_runs")
    op.drop_index(op.f("ix_request_rate_hits_key"), table_name="request_rate_hits")
    op.drop_table("request_rate_hits")
    op.drop_index(op.f("ix_policy_versions_hash"), table_name="policy_versions")
    op.drop_table("policy_versions")
    op.drop_index(op.f("ix_outbound_mail_status"), table_name="outbound_mail")
    op.drop_table("outbound_mail")
    op.drop_index("ix_newsletter_subscriptions_purpose_status", table_name="newsletter_subscriptions")
    op.drop_table("newsletter_subscriptions")
    op.drop_index(op.f("ix_login_throttles_last_failed_login_at"), table_name="login_throttles")
    op.drop_table("login_throttles")
    op.drop_table("legal_holds")
    op.drop_table("consent_revisions")
    op.drop_table("consent_policy_sync")
    op.drop_table("consent_persons")
    op.drop_index(op.f("ix_audit_entries_action"), table_name="audit_entries")
    op.drop_table("audit_entries")
