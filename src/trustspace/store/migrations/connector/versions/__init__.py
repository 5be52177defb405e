"""Connector revisions."""
