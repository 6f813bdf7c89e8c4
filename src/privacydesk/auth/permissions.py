"""Permissions, roles and the table granting each role its permissions."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    """One thing a caller may do; API tokens carry a subset of these as scopes."""

    POLICY_READ = "policy:read"
    POLICY_PUBLISH = "policy:publish"
    AUDIT_READ = "audit:read"
    AUDIT_EXPORT = "audit:export"
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    TOKENS_MANAGE = "tokens:manage"
    METRICS_READ = "metrics:read"
    CONSENT_READ = "consent:read"
    CONSENT_WRITE = "consent:write"
    REQUESTS_READ = "requests:read"
    REQUESTS_MANAGE = "requests:manage"
    REQUESTS_APPROVE = "requests:approve"
    REQUESTS_SUBMIT_VERIFIED = "requests:submit_verified"
    OPENDSR_SUBMIT = "opendsr:submit"
    RETENTION_READ = "retention:read"
    RETENTION_RUN = "retention:run"
    RETENTION_HOLDS = "retention:holds"


class Role(StrEnum):
    """The role of an admin user."""

    OWNER = "owner"
    DPO = "dpo"
    ANALYST = "analyst"
    AUDITOR = "auditor"


_P = Permission

# Listed permission by permission, so a new permission grants nothing until a role is given it here.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(
        {
            _P.POLICY_READ,
            _P.POLICY_PUBLISH,
            _P.AUDIT_READ,
            _P.AUDIT_EXPORT,
            _P.USERS_READ,
            _P.USERS_MANAGE,
            _P.TOKENS_MANAGE,
            _P.METRICS_READ,
            _P.CONSENT_READ,
            _P.CONSENT_WRITE,
            _P.REQUESTS_READ,
            _P.REQUESTS_MANAGE,
            _P.REQUESTS_APPROVE,
            _P.REQUESTS_SUBMIT_VERIFIED,
            _P.OPENDSR_SUBMIT,
            _P.RETENTION_READ,
            _P.RETENTION_RUN,
            _P.RETENTION_HOLDS,
        }
    ),
    Role.DPO: frozenset(
        {
            _P.POLICY_READ,
            _P.POLICY_PUBLISH,
            _P.AUDIT_READ,
            _P.AUDIT_EXPORT,
            _P.USERS_READ,
            _P.TOKENS_MANAGE,
            _P.METRICS_READ,
            _P.CONSENT_READ,
            _P.CONSENT_WRITE,
            _P.REQUESTS_READ,
            _P.REQUESTS_MANAGE,
            _P.REQUESTS_APPROVE,
            _P.REQUESTS_SUBMIT_VERIFIED,
            _P.OPENDSR_SUBMIT,
            _P.RETENTION_READ,
            _P.RETENTION_RUN,
            _P.RETENTION_HOLDS,
        }
    ),
    # Read-only: sees the policy and the operational figures, changes nothing.
    Role.ANALYST: frozenset({_P.POLICY_READ, _P.METRICS_READ}),
    # Read-only as well, but with the audit log and its export, for inspections.
    Role.AUDITOR: frozenset(
        {_P.POLICY_READ, _P.AUDIT_READ, _P.AUDIT_EXPORT, _P.USERS_READ, _P.CONSENT_READ, _P.REQUESTS_READ, _P.RETENTION_READ}
    ),
}


def permissions_of(role: Role) -> frozenset[Permission]:
    """The permissions a role grants."""
    return ROLE_PERMISSIONS[role]
