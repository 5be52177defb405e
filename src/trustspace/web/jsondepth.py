"""How deep a JSON document nests, counted while its bytes stream in, without parsing it.

Parsers and the code that walks parsed values (copying, encoding, validation) recurse once per level: a
document nested a few hundred levels deep, well inside any size limit, exhausts the interpreter's stack there.
Only brackets outside strings count; a backslash in a string escapes the next byte, in whichever chunk it is.
"""

from __future__ import annotations

import re

MAX_JSON_DEPTH = 32
_STRUCTURE = re.compile(rb'[\[\]{}"\\]')


class DepthScanner:
    def __init__(self, limit: int = MAX_JSON_DEPTH) -> None:
        self.limit = limit
        self.depth = 0
        self._in_string = False
        self._escaped_at = -1
        self._offset = 0

    def feed(self, chunk: bytes) -> bool:
        """Scan the next piece of the body; False once the nesting has gone deeper than the limit."""
        for match in _STRUCTURE.finditer(chunk):
            at = self._offset + match.start()
            if at == self._escaped_at:
                continue
            char = match.group()
            if self._in_string:
                if char == b"\\":
                    self._escaped_at = at + 1
                elif char == b'"':
                    self._in_string = False
            elif char == b'"':
                self._in_string = True
            elif char in (b"{", b"["):
                self.depth += 1
                if self.depth > self.limit:
                    return False
            elif char in (b"}", b"]"):
                self.depth -= 1
        self._offset += len(chunk)
        return True
