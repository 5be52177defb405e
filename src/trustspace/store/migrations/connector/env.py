"""Alembic environment for the connector database."""

from trustspace.store.migrations._env import run_migrations
from trustspace.store.schema import CONNECTOR_METADATA

run_migrations(CONNECTOR_METADATA)
