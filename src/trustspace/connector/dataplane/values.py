"""How a database value is written in the files the data plane serves (CSV cells, Parquet's text fallback)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any


def csv_text(value: Any) -> Any:
    """CSV spelling of a value: NULL empty, bytes as hex, times in ISO 8601, booleans lower-case."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
