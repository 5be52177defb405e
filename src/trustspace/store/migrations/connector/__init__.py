"""Alembic scripts for a connector database."""
