"""Protocol errors, split as h11 splits them.

``LocalProtocolError``: we (or our owner through the management API) asked for something the protocol does
not allow. ``RemoteProtocolError``: the counter-party sent something the protocol does not allow. At the DSP
HTTP boundary both become 400 with the error body the binding prescribes; ``code`` is the short machine code
that goes in that body.
"""

from __future__ import annotations

from trustspace.core.errors import CallerError, NotFound


class ProtocolError(CallerError):
    slug = "protocol-error"
    status = 400
    title = "Dataspace Protocol error"
    code = "protocol-error"


class LocalProtocolError(ProtocolError):
    """Our side tried an illegal move (wrong role, wrong state)."""

    slug = "illegal-transition"
    code = "illegal-transition"


class RemoteProtocolError(ProtocolError):
    """The counter-party sent a message that is illegal in the current state or for its role."""

    slug = "illegal-transition"
    code = "illegal-transition"


class InvalidMessage(ProtocolError):
    """A message failed its JSON Schema or our model; ``field`` names the JSON path."""

    slug = "invalid-message"
    code = "invalid-message"


class MalformedMessage(InvalidMessage):
    """The body is not JSON at all, so not even the pids it meant to name can be read."""

    slug = "malformed-json"
    code = "malformed-json"


class UnknownProcess(NotFound):
    """No such negotiation or transfer process, or it is not the caller's (both answer 404 by the binding)."""

    slug = "unknown-process"
    title = "Unknown process"
