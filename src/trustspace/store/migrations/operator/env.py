"""Alembic environment for the operator database."""

from trustspace.store.migrations._env import run_migrations
from trustspace.store.schema import OPERATOR_METADATA

run_migrations(OPERATOR_METADATA)
