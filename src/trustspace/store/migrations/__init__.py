"""Alembic revisions, one script folder per database (operator, connector). Run them with ``db.migrate``."""
