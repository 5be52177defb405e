"""Alembic scripts for the operator database."""
