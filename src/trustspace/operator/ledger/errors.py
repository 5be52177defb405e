"""Errors of the ledger service; each ``slug`` is the RFC 9457 problem type at the HTTP boundary."""

from __future__ import annotations

from trustspace.core.errors import Forbidden, NotFound, ValidationFailed


class NotIntegrated(NotFound):
    """The entry is not in the log (yet): unknown, or receipted and waiting for the sequencer."""

    slug = "ledger-entry-not-found"
    title = "Ledger entry not found"


class UnknownCheckpoint(NotFound):
    slug = "ledger-checkpoint-not-found"
    title = "Ledger checkpoint not found"


class NotYourStatement(Forbidden):
    """A member may only submit statements it signed itself, naming itself as submitter."""

    slug = "statement-not-yours"
    title = "Statement names another submitter"


class NotYourWitnessKey(Forbidden):
    """A cosignature made with a key, or under a name, that is not the caller's own."""

    slug = "witness-key-not-yours"
    title = "Witness key is not the caller's"


class InvalidCosignature(ValidationFailed):
    """A cosignature line that is malformed, names another key, or does not verify over the checkpoint."""

    slug = "invalid-cosignature"
    title = "Cosignature is invalid"


class NotAWitness(Forbidden):
    """The operator is configured with a witness list and the caller is not on it."""

    slug = "not-a-witness"
    title = "Caller is not a configured witness"
