"""Bulk results CSV to Arrow as the bytes arrive: a results response is parsed while it downloads, in
tables of a bounded number of rows, so one API call can carry a million records with memory staying flat.

Guarantees:
- the tables together hold exactly the CSV's rows, in order, in `schema` order with schema names and types
  (header names are matched to the schema's paths case-insensitively; an unselected or missing column is a
  SalesforceSchemaError naming it); empty fields are null;
- NUL bytes are dropped before parsing (no database text type holds one);
- at most one table of `page_rows` rows plus pyarrow's read-ahead blocks are in memory at a time.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.csv as pacsv

from crm_sync.salesforce.errors import SalesforceSchemaError

BLOCK_BYTES = 8 << 20  # pyarrow parses the stream in blocks of this size; one record must fit in one
_TRUE = ["true", "True", "TRUE"]
_FALSE = ["false", "False", "FALSE"]


class ChunkStream(io.RawIOBase):
    """A readable binary stream over an iterable of byte chunks (a response body), without NUL bytes."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> bytes:
        for chunk in self._chunks:
            if chunk:
                return chunk.replace(b"\x00", b"") if b"\x00" in chunk else chunk
        return b""

    def peek_line(self) -> bytes:
        """The first line (without consuming it); less than a line when the stream ends before a newline."""
        while b"\n" not in self._buffer:
            chunk = self._next_chunk()
            if not chunk:
                break
            self._buffer += chunk
        return self._buffer.split(b"\n", 1)[0]

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fill `target` whole unless the stream ends first (pyarrow takes a short read for a short block)."""
        filled = 0
        while filled < len(target):
            if not self._buffer:
                self._buffer = self._next_chunk()
                if not self._buffer:
                    break
            size = min(len(target) - filled, len(self._buffer))
            target[filled:filled + size] = self._buffer[:size]
            self._buffer = self._buffer[size:]
            filled += size
        return filled


def column_types(header: list[str], schema: pa.Schema) -> dict[str, pa.DataType]:
    """The type pyarrow reads each header column as (timestamps as text, cast afterwards)."""
    by_lower = {f.name.lower(): f for f in schema}
    types: dict[str, pa.DataType] = {}
    for column in header:
        field = by_lower.get(column.lower())
        if field is None:
            raise SalesforceSchemaError(f"Bulk result column {column!r} was not selected")
        # Timestamps are read as text and cast, so every Salesforce datetime form (Z, +0000) is accepted.
        types[column] = pa.string() if pa.types.is_timestamp(field.type) else field.type
    return types


def to_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A parsed table's columns in schema order, named and typed as the schema says."""
    columns = {name.lower(): table.column(name) for name in table.column_names}
    arrays = []
    for field in schema:
        column = columns.get(field.name.lower())
        if column is None:
            raise SalesforceSchemaError(f"Bulk result lacks column {field.name!r}")
        arrays.append(column.cast(field.type) if column.type != field.type else column)
    return pa.Table.from_arrays(arrays, schema=schema)


def parse_header(line: bytes) -> list[str]:
    return next(csv.reader([line.decode("utf-8-sig").rstrip("\r")]))


def options(types: dict[str, pa.DataType], *, block_bytes: int = BLOCK_BYTES
            ) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
    return (pacsv.ReadOptions(use_threads=True, block_size=block_bytes),
            pacsv.ParseOptions(newlines_in_values=True),
            pacsv.ConvertOptions(column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=True,
                                 null_values=[""], true_values=_TRUE, false_values=_FALSE))


def iter_tables(chunks: Iterable[bytes], schema: pa.Schema, *, page_rows: int,
                block_bytes: int = BLOCK_BYTES) -> Iterator[pa.Table]:
    """Tables of at most `page_rows` rows (the last may be smaller) from a CSV body given in chunks.

    A body without rows (empty, or a header only) gives no table.
    """
    stream = ChunkStream(chunks)
    header_line = stream.peek_line()
    if not header_line.strip():
        return
    types = column_types(parse_header(header_line), schema)
    read, parse, convert = options(types, block_bytes=block_bytes)
    try:
        reader = pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return
        raise
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in reader:
        while batch.num_rows:
            take = min(batch.num_rows, page_rows - rows)
            pending.append(batch.slice(0, take))
            rows += take
            batch = batch.slice(take)
            if rows == page_rows:
                yield to_schema(pa.Table.from_batches(pending), schema)
                pending, rows = [], 0
    if rows:
        yield to_schema(pa.Table.from_batches(pending), schema)
