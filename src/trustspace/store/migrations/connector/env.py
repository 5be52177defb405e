"""Alembic environment for the connector database."""

from trustspace.store.migrations._env import run_migrations
from trustspace.store.models import ConnectorBase

run_migrations(ConnectorBase.metadata)
