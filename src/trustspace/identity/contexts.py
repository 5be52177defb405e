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


# ---------------------------------------------------------------- term expansion
#
# A small, honest subset of JSON-LD 1.1 context processing: enough to say whether a ``type`` value maps to
# a URL and whether a later context redefines a protected term. Contexts are only the shipped files and
# inline objects; nothing is fetched. See docs/decisions/0013-vc-data-model-rules.md.

_ABSOLUTE_SCHEMES = frozenset({"urn", "did", "data", "mailto", "tag"})


def _normal(definition: Any) -> Any:
    """A term definition in expanded form, without ``@protected``, so that two spellings of the same
    definition compare equal (JSON-LD allows an identical redefinition of a protected term)."""
    if isinstance(definition, str):
        return {"@id": definition}
    if isinstance(definition, dict):
        return {key: value for key, value in definition.items() if key != "@protected"}
    return definition


class ActiveContext:
    """Term definitions in force, the protected ones, and the vocabulary mapping."""

    def __init__(self) -> None:
        self.terms: dict[str, Any] = {}
        self.protected: set[str] = set()
        self.vocab: str | None = None

    def copy(self) -> ActiveContext:
        clone = ActiveContext()
        clone.terms, clone.protected, clone.vocab = dict(self.terms), set(self.protected), self.vocab
        return clone

    def apply(self, context: Any, field: str = "@context") -> ActiveContext:
        """A new active context with ``context`` (URL, object, or list of them) processed on top."""
        result = self.copy()
        for entry in context if isinstance(context, list) else [context]:
            if isinstance(entry, str):
                entry = load_context(entry)["@context"]
            if not isinstance(entry, dict):
                raise InvalidCredential("every @context entry must be a URL or a context object", field=field)
            result._define_all(entry, field)
        return result

    def _define_all(self, definitions: dict[str, Any], field: str) -> None:
        protect_all = definitions.get("@protected") is True
        if "@vocab" in definitions:
            vocab = definitions["@vocab"]
            self.vocab = self.expand(vocab, field) if isinstance(vocab, str) else None
        for term, definition in definitions.items():
            if term.startswith("@"):
                continue
            if term in self.protected and _normal(definition) != _normal(self.terms.get(term)):
                raise InvalidCredential(
                    f"@context redefines the protected term {term!r}; JSON-LD 1.1 forbids changing a "
                    "protected term, so use a different term name",
                    field=field,
                )
            self.terms[term] = definition
            if protect_all or (isinstance(definition, dict) and definition.get("@protected") is True):
                self.protected.add(term)

    def scoped(self, term: str) -> Any:
        """The type-scoped (or property-scoped) context a term carries, if any."""
        definition = self.terms.get(term)
        return definition.get("@context") if isinstance(definition, dict) else None

    def expand(self, value: str, field: str, *, vocab: bool = True, depth: int = 0) -> str | None:
        """The absolute URL ``value`` expands to, or None when it maps to nothing, null or a keyword."""
        if depth > 8 or value.startswith("@"):
            return None
        if value in self.terms:
            definition = self.terms[value]
            target = definition.get("@id", value) if isinstance(definition, dict) else definition
            if not isinstance(target, str):
                return None
            if target != value:
                return self.expand(target, field, vocab=False, depth=depth + 1)
        prefix, colon, suffix = value.partition(":")
        if colon:
            if suffix.startswith("//") or prefix.lower() in _ABSOLUTE_SCHEMES:
                return value
            if prefix == "_" or prefix not in self.terms:
                return None
            base = self.expand(prefix, field, vocab=False, depth=depth + 1)
            return base + suffix if base else None
        if vocab and self.vocab:
            return self.vocab + value
        return None
