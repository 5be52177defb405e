"""Alembic environment for the operator database."""

from trustspace.store.migrations._env import run_migrations
from trustspace.store.models import OperatorBase

run_migrations(OperatorBase.metadata)
