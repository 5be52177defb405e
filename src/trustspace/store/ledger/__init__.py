"""Storage of ledger."""
