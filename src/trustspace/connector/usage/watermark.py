"""Export watermarks: every exported CSV row carries a mark naming the agreement and the reader.

The mark is an added column, ``trustspace_mark``, one cell per row::

    tsw1.<agreement, base64url>.<reader, base64url>.<export id>.<row number>.<tag>

``tag`` is the first 12 bytes of HMAC-SHA256 under the connector's watermark key (derived from its key,
``crypto.py``) over ``tsw1\\n agreement \\n reader \\n export id \\n row`` (base64url). The mark depends on
nothing else in the row, so re-saving the CSV (other quoting, line ends, number formats, sorted or filtered
rows, moved or renamed columns) keeps every mark valid; ``trace`` finds marks in any column. Agreement and
reader are readable without a key, so whoever finds a file can name its source; only the exporting connector
can tell a genuine mark from a forged one (``verify``). Removing the column removes the mark: a watermark
makes a leak traceable, it cannot stop a reader who deletes it (docs/usage-consumer.md).
"""

from __future__ import annotations

import base64
import codecs
import csv
import hashlib
import hmac
import io
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustspace.core.errors import ValidationFailed

COLUMN = "trustspace_mark"
VERSION = "tsw1"
_TAG_BYTES = 12
_MARK = re.compile(r"^tsw1\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]+)\.([0-9]+)\.([A-Za-z0-9_-]{16})$")
_FLUSH = 64 * 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")


def _tag(key: bytes, agreement: str, reader: str, export_id: str, row: int) -> str:
    message = "\n".join((VERSION, agreement, reader, export_id, str(row))).encode()
    return _b64(hmac.new(key, message, hashlib.sha256).digest()[:_TAG_BYTES])


def mark(key: bytes, agreement: str, reader: str, export_id: str, row: int) -> str:
    return ".".join((VERSION, _b64(agreement.encode()), _b64(reader.encode()), export_id, str(row),
                     _tag(key, agreement, reader, export_id, row)))


@dataclass(frozen=True)
class Mark:
    agreement: str
    reader: str
    export_id: str
    row: int
    tag: str
    text: str

    def genuine(self, key: bytes) -> bool:
        return hmac.compare_digest(self.tag, _tag(key, self.agreement, self.reader, self.export_id, self.row))


def parse_mark(text: str) -> Mark | None:
    found = _MARK.match(text.strip())
    if found is None:
        return None
    try:
        agreement, reader = _unb64(found.group(1)), _unb64(found.group(2))
    except (ValueError, UnicodeDecodeError):
        return None
    return Mark(agreement, reader, found.group(3), int(found.group(4)), found.group(5), text.strip())


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Text lines (with their ends) of UTF-8 ``chunks``; a byte that is not UTF-8 refuses the export."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = ""
    try:
        for chunk in chunks:
            pending += decoder.decode(chunk)
            *complete, pending = pending.split("\n")
            yield from (line + "\n" for line in complete)
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ValidationFailed("only UTF-8 CSV data can be exported with a watermark", field="format") from None
    if pending:
        yield pending


def watermark_csv(chunks: Iterable[bytes], key: bytes, agreement: str, reader: str, export_id: str
                  ) -> Iterator[bytes]:
    """The CSV of ``chunks`` with the mark column added to the header and every row, as UTF-8 bytes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    rows = csv.reader(_lines(chunks))
    header = next(rows, None)
    if header is None:
        raise ValidationFailed("the data is empty: there are no rows to export", field="agreementId")
    writer.writerow([*header, COLUMN])
    try:
        for number, row in enumerate(rows, start=1):
            writer.writerow([*row, mark(key, agreement, reader, export_id, number)])
            if out.tell() >= _FLUSH:
                yield out.getvalue().encode()
                out.seek(0)
                out.truncate()
    except csv.Error as exc:
        raise ValidationFailed(f"the data is not CSV: {exc}", field="format") from None
    yield out.getvalue().encode()


# A Parquet export is built in memory (a Parquet file is written whole, its footer last).
MAX_PARQUET_EXPORT = 512 * 1024 * 1024


def as_parquet(marked_csv: Iterable[bytes]) -> bytes:
    """The watermarked CSV as one Parquet file, every column text so that no value (or mark) is re-typed."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.csv as pcsv  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    data = bytearray()
    for chunk in marked_csv:
        data += chunk
        if len(data) > MAX_PARQUET_EXPORT:
            raise ValidationFailed(f"a Parquet export holds at most {MAX_PARQUET_EXPORT} bytes: export as CSV",
                                   field="format")
    header = next(csv.reader(io.StringIO(bytes(data[:65536]).decode("utf-8", "replace"))), [])
    table = pcsv.read_csv(pa.BufferReader(bytes(data)), convert_options=pcsv.ConvertOptions(
        column_types={name: pa.string() for name in header}))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


@dataclass(frozen=True)
class Trace:
    """Who a file came from: the agreement and reader most of its marks name, and how many rows carry one."""

    agreement: str | None
    reader: str | None
    export_id: str | None
    marked_rows: int
    rows: int
    sources: dict[str, int]
    marks: tuple[Mark, ...]

    def as_json(self) -> dict[str, Any]:
        return {"agreementId": self.agreement, "reader": self.reader, "exportId": self.export_id,
                "markedRows": self.marked_rows, "rows": self.rows, "sources": self.sources}


def _cells(path: Path) -> Iterator[list[str]]:
    with path.open("rb") as handle:
        parquet = handle.read(4) == b"PAR1"
    if parquet:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        for record in table.to_pylist():
            yield [str(value) for value in record.values() if value is not None]
        return
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)  # the header
        yield from reader


def trace(path: Path) -> Trace:
    """The marks of an exported file (CSV, or Parquet made from one), found in whichever column holds them."""
    found: list[Mark] = []
    rows = 0
    try:
        for cells in _cells(path):
            rows += 1
            for cell in cells:
                parsed = parse_mark(cell) if cell.startswith(VERSION + ".") else None
                if parsed is not None:
                    found.append(parsed)
                    break
    except (csv.Error, OSError) as exc:
        raise ValidationFailed(f"cannot read {path} as CSV or Parquet: {exc}", field="file") from None
    sources = Counter(f"{m.agreement} {m.reader} {m.export_id}" for m in found)
    top = max(found, key=lambda m: sources[f"{m.agreement} {m.reader} {m.export_id}"]) if found else None
    return Trace(top.agreement if top else None, top.reader if top else None, top.export_id if top else None,
                 len(found), rows, dict(sources), tuple(found))
