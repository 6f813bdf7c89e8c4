"""Imports every domain's models so the metadata knows all tables (for Alembic)."""

from privacydesk.audit import models as audit_models
from privacydesk.auth import models as auth_models
from privacydesk.consent import models as consent_models
from privacydesk.db.base import Base
from privacydesk.fulfilment import models as fulfilment_models
from privacydesk.mail import models as mail_models
from privacydesk.newsletter import models as newsletter_models
from privacydesk.requests import models as requests_models
from privacydesk.retention import models as retention_models
from privacydesk.versions import models as versions_models

metadata = Base.metadata

__all__ = [
    "audit_models",
    "auth_models",
    "consent_models",
    "fulfilment_models",
    "mail_models",
    "metadata",
    "newsletter_models",
    "requests_models",
    "retention_models",
    "versions_models",
]
