"""Dataspace Protocol 2025-1: messages, schemas and the negotiation and transfer state machines (pure)."""
