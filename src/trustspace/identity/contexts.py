"""JSON-LD contexts shipped with TrustSpace, so nothing fetches a context from the network at run time.

A context fetched at verification time would let whoever serves it change what a signed credential means,
and would make every verification depend on a third-party server. The files live in the ``contexts/`` data
folder beside this module (see the README there for their origin and licence).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

from trustspace.identity.errors import InvalidCredential

VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
TRUSTSPACE_CONTEXT = "https://trustspace.example/ns/membership/v1"

_FILES = {
    VC_V2_CONTEXT: "credentials-v2.jsonld",
    TRUSTSPACE_CONTEXT: "trustspace-membership-v1.jsonld",
}

KNOWN_CONTEXTS: tuple[str, ...] = tuple(_FILES)


@cache
def _read(url: str) -> dict[str, Any]:
    folder = resources.files("trustspace.identity").joinpath("contexts")
    text = folder.joinpath(_FILES[url]).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def load_context(url: str) -> dict[str, Any]:
    """The shipped JSON-LD document for a context URL (a fresh copy each call); never fetches."""
    if url not in _FILES:
        raise InvalidCredential(
            f"JSON-LD context {url!r} is not one TrustSpace ships, and contexts are never fetched from the "
            f"network; use one of {', '.join(KNOWN_CONTEXTS)}",
            field="@context",
        )
    return copy.deepcopy(_read(url))
