"""Writing a SELECT's rows as Parquet, batch by batch (``pyarrow``). Imported only when a product is served
as Parquet."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from trustspace.connector.dataplane.errors import InvalidDataAddress
from trustspace.connector.dataplane.values import csv_text


def write_parquet(names: list[str], batches: Iterator[Sequence[Any]], target: Path) -> None:
    writer: Any = None
    schema: Any = None
    try:
        for batch in batches:
            columns: list[Sequence[Any]] = list(zip(*batch, strict=True))
            if writer is None:
                schema = _infer_schema(names, columns)
                writer = pq.ParquetWriter(target, schema)
            writer.write_batch(_record_batch(schema, columns))
        if writer is None:
            # No rows: nothing to infer types from, so the columns are written as strings.
            writer = pq.ParquetWriter(target, pa.schema([(name, pa.string()) for name in names]))
    finally:
        if writer is not None:
            writer.close()


def _infer_schema(names: list[str], columns: list[Sequence[Any]]) -> Any:
    """Types from the first batch. A column that is all NULL there becomes string: later values are
    written as their text. A ``CAST`` in the query pins any type the provider cares about."""
    fields = []
    for name, values in zip(names, columns, strict=True):
        try:
            kind = pa.array(values).type
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidDataAddress(f"column {name!r} mixes types: {exc}", field="query",
                                     hint=f"CAST {name} to one type in the query") from exc
        fields.append(pa.field(name, pa.string() if pa.types.is_null(kind) else kind))
    return pa.schema(fields)


def _record_batch(schema: Any, columns: list[Sequence[Any]]) -> Any:
    arrays = [_column(field, values) for field, values in zip(schema, columns, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _column(field: Any, values: Sequence[Any]) -> Any:
    try:
        return pa.array(values, type=field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        if pa.types.is_string(field.type):
            return pa.array([None if v is None else str(csv_text(v)) for v in values], type=pa.string())
        raise InvalidDataAddress(f"column {field.name!r} changed type after the first rows ({field.type}): {exc}",
                                 field="query", hint=f"CAST {field.name} to one type in the query") from exc
