"""Evidence ledger (存证), pure core: RFC 9162 Merkle log, signed statements, C2SP checkpoints and witnesses.

``merkle``: hashing, proofs, verification. ``statements``: the signed entries. ``checkpoint``: signed notes
and tree heads. ``witness``: cosignatures, quorum, and the split-view-detecting witness state machine.
Nothing here does I/O: storage, HTTP and scheduling belong to the shell.
"""
