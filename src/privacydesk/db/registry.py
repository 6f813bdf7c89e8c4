"""Imports every domain's models so the metadata knows all tables (for Alembic)."""

from privacydesk.audit import models as audit_models
from privacydesk.auth import models as auth_models
from privacydesk.db.base import Base
from privacydesk.mail import models as mail_models
from privacydesk.versions import models as versions_models

metadata = Base.metadata

__all__ = ["audit_models", "auth_models", "mail_models", "metadata", "versions_models"]
