"""The operator's evidence ledger service: submissions and receipts, the sequencer, proofs, checkpoints and
witness cosignatures, on top of the pure core in ``trustspace.ledger``.

Kept free of imports so that ``receipts`` (pure) can be used without pulling in the service.
"""
