"""Platform state in PostgreSQL: the declarative base, engine and sessions, the embedded server, migrations."""
