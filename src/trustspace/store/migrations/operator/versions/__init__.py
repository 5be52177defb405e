"""Operator revisions."""
