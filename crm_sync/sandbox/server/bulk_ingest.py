"""Bulk API 2.0 ingest: one job's uploaded CSV written row by row, with Salesforce's result files.

Each row is one API write through the org's RecordWrites (so lock faults and commit lag apply),
in transactions of 200 rows as Salesforce runs them: a failed row undoes only itself. Empty cells
leave a field alone, `#N/A` sets it to null. Results: successfulResults (sf__Id, sf__Created),
failedResults (sf__Id, sf__Error as `CODE:message:fields --`) and unprocessedrecords, each with the
original columns.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from crm_sync.sandbox import ids
from crm_sync.sandbox.errors import SalesforceError

if TYPE_CHECKING:
    from crm_sync.sandbox.org import Org
    from crm_sync.sandbox.server.bulk_jobs import IngestJob

NULL_MARKER = "#N/A"
CHUNK_ROWS = 200


def _chunks(rows: Iterator[list[str]], size: int) -> Iterator[list[list[str]]]:
    """Non-empty CSV rows in lists of `size`."""
    chunk: list[list[str]] = []
    for row in rows:
        if row:
            chunk.append(row)
            if len(chunk) == size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk



class IngestRun:
    """One ingest job's processing: each CSV row is one API write; results go to three CSV files."""

    def __init__(self, org: Org, job: IngestJob) -> None:
        self.org = org
        self.job = job
        self.sobject = org.catalog.get(job.object)

    def _rows(self) -> tuple[list[str], Iterator[list[str]]]:
        assert self.job.upload_path is not None
        text = self.job.upload_path.read_bytes().decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=self.job.delimiter)
        header = next(reader, None)
        if not header:
            raise ValueError("InvalidBatch : the uploaded CSV has no header row")
        return header, reader

    def _columns(self, header: list[str]) -> list[str]:
        assert self.sobject is not None
        columns = []
        for name in header:
            field_def = self.sobject.field(name.strip())
            if field_def is None:
                raise ValueError(f"InvalidBatch : Field name not found : {name.strip()}")
            columns.append(field_def.name)
        if self.job.operation in ("update", "delete", "hardDelete") and "Id" not in columns:
            raise ValueError(f"InvalidBatch : Field name not found : Id (needed by {self.job.operation})")
        if self.job.operation == "upsert" and self.job.external_id_field not in columns:
            raise ValueError(f"InvalidBatch : Field name not found : {self.job.external_id_field}")
        return columns

    def run(self) -> None:
        job = self.job
        header, rows = self._rows()
        columns = self._columns(header)
        directory = job.upload_path.parent  # type: ignore[union-attr]
        delimiter, terminator = job.delimiter, job.terminator
        with open(directory / "successfulResults.csv", "w", newline="", encoding="utf-8") as ok_file, \
                open(directory / "failedResults.csv", "w", newline="", encoding="utf-8") as failed_file, \
                open(directory / "unprocessedrecords.csv", "w", newline="", encoding="utf-8") as rest_file:
            options = {"delimiter": delimiter, "lineterminator": terminator, "quoting": csv.QUOTE_ALL}
            ok_writer = csv.writer(ok_file, **options)
            failed_writer = csv.writer(failed_file, **options)
            rest_writer = csv.writer(rest_file, **options)
            ok_writer.writerow(["sf__Id", "sf__Created", *header])
            failed_writer.writerow(["sf__Id", "sf__Error", *header])
            rest_writer.writerow(header)
            for chunk in _chunks(rows, CHUNK_ROWS):
                if job.state == "Aborted":
                    rest_writer.writerows(chunk)
                    continue
                # one transaction per chunk of 200, as Salesforce runs bulk rows: a failed row undoes
                # only itself, the others commit together
                with self.org.store.transaction():
                    self._look_up_unique(columns, chunk)
                    outcomes = [self._write(columns, row) for row in chunk]
                for row, (record_id, created, error) in zip(chunk, outcomes, strict=True):
                    if error is None:
                        ok_writer.writerow([record_id, "true" if created else "false", *row])
                    else:
                        failed_writer.writerow([record_id or "", error, *row])
                        job.failed += 1
                    job.processed += 1
        with job.lock:
            job.result_dir = directory
            if job.state != "Aborted":
                job.state = "JobComplete"

    def _look_up_unique(self, columns: list[str], chunk: list[list[str]]) -> None:
        """One look-up per unique column for the chunk's values, so its rows skip their own (see
        Store.look_up_unique)."""
        assert self.sobject is not None
        unique = {field.name for field in self.sobject.unique_fields}
        wanted = {index: name for index, name in enumerate(columns) if name in unique}
        if wanted:
            self.org.store.look_up_unique(self.job.object, {
                name: [row[index] for row in chunk if index < len(row)] for index, name in wanted.items()})

    def _write(self, columns: list[str], row: list[str]) -> tuple[str | None, bool, str | None]:
        """(record Id, created, error text or None) of one CSV row."""
        job, writes, user = self.job, self.org.writes, self.job.created_by
        if len(row) != len(columns):
            return None, False, (f"INVALID_FIELD:Number of fields ({len(row)}) does not match the header "
                                 f"({len(columns)}):-- ")
        values: dict[str, Any] = {}
        for name, cell in zip(columns, row, strict=True):
            if cell == NULL_MARKER:
                values[name] = None
            elif cell != "":
                values[name] = cell
        record_id = values.pop("Id", None) if job.operation != "upsert" or job.external_id_field != "Id" else None
        try:
            if job.operation == "insert":
                if record_id:
                    values["Id"] = record_id
                return writes.create(job.object, values, user_id=user), True, None
            if job.operation in ("update", "delete", "hardDelete") and not record_id:
                return None, False, "MISSING_ARGUMENT:Id not specified in an update call:Id --"
            if job.operation == "update":
                writes.update(job.object, record_id, values, user_id=user)
                return ids.to_18(record_id) if ids.is_valid_id(record_id) else record_id, False, None
            if job.operation in ("delete", "hardDelete"):
                delete = writes.delete if job.operation == "delete" else writes.hard_delete
                delete(job.object, record_id, user_id=user)
                return ids.to_18(record_id) if ids.is_valid_id(record_id) else record_id, False, None
            external_field = job.external_id_field or "Id"
            external_value = values.get(external_field)
            if external_field == "Id":
                external_value = values.pop("Id", None)
                if not external_value:
                    return writes.create(job.object, values, user_id=user), True, None
            if external_value in (None, ""):
                return None, False, (f"MISSING_ARGUMENT:{external_field} not specified:{external_field} --")
            new_id, created = writes.upsert(job.object, external_field, str(external_value), values, user_id=user)
            return new_id, created, None
        except SalesforceError as error:
            fields = ",".join(error.fields)
            return (record_id if isinstance(record_id, str) else None), False, \
                f"{error.error_code}:{error.message}:{fields} --"

