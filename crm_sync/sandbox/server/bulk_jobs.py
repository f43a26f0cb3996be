"""Bulk API 2.0 jobs: query jobs written to CSV result files, and ingest jobs run row by row.

Query jobs run at once in a worker thread: the SOQL runs on one reader snapshot and the CSV is
written in one pass (see bulk_csv), recording the byte offset of every row, so a results page
(`locator` + `maxRecords`) is a byte range of the file, streamed. Ingest jobs keep the uploaded CSV
in a file; `UploadComplete` hands it to a worker (bulk_ingest) that writes each row through the same path as a
single API write (in transactions of 200 rows, a failed row undoing only itself) and records
successful, failed and unprocessed rows as Salesforce reports them. Files live under DATA_DIR/bulk
and go when the job is deleted, two hours after it finished, or when the server restarts.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import shutil
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crm_sync.sandbox import ids, timefmt
from crm_sync.sandbox.errors import SalesforceError
from crm_sync.sandbox.server.bulk_csv import csv_line, write_results
from crm_sync.sandbox.server.bulk_ingest import IngestRun
from crm_sync.sandbox.soql import compile_soql

if TYPE_CHECKING:
    from crm_sync.sandbox.org import Org

log = logging.getLogger("crm_sync.sandbox.bulk")

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
COMPOUND_IN_BULK_MESSAGE = "Selecting compound data not supported in Bulk Query"
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
QUERY_OPERATIONS = ("query", "queryAll")
MAX_UPLOAD_BYTES = 150 * 1024 * 1024
JOB_PREFIX = "750"
JOB_RETENTION_SECONDS = 2 * 3600  # finished jobs and their files go after this (Salesforce keeps 7 days)


def compound_in_bulk_query() -> SalesforceError:
    """Salesforce's refusal of a compound field (BillingAddress) in a Bulk API query."""
    return SalesforceError(400, "FUNCTIONALITY_NOT_ENABLED", COMPOUND_IN_BULK_MESSAGE)


def invalid_job(message: str) -> SalesforceError:
    return SalesforceError(400, "INVALIDJOB", message)


def job_not_found() -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")


def invalid_state(message: str) -> SalesforceError:
    return SalesforceError(400, "INVALIDJOBSTATE", message)


def encode_locator(row: int) -> str:
    return base64.b64encode(str(row).encode()).decode().rstrip("=")


def decode_locator(locator: str) -> int:
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode()
        row = int(text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise SalesforceError(400, "INVALID_LOCATOR", f"Invalid locator: {locator}") from None
    if row < 0:
        raise SalesforceError(400, "INVALID_LOCATOR", f"Invalid locator: {locator}")
    return row


@dataclass
class _JobBase:
    id: str
    operation: str
    object: str
    created_by: str
    created_date: str
    api_version: str
    column_delimiter: str = "COMMA"
    line_ending: str = "LF"
    state: str = "Open"
    modstamp: str = ""
    error_message: str | None = None
    finished_at: float | None = None  # time.monotonic() when it reached a final state
    processing_ms: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def delimiter(self) -> str:
        return DELIMITERS[self.column_delimiter]

    @property
    def terminator(self) -> str:
        return LINE_ENDINGS[self.line_ending]

    def base_info(self) -> dict:
        return {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": self.created_date,
            "systemModstamp": self.modstamp or self.created_date,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version.lstrip("v")),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }


@dataclass
class QueryJob(_JobBase):
    query: str = ""
    path: Path | None = None
    header: bytes = b""
    offsets: array = field(default_factory=lambda: array("q"))  # start of each row, then the end of file
    records: int = 0

    def info(self, full: bool = True) -> dict:
        body = self.base_info()
        if full:
            body.update({
                "jobType": "V2Query",
                "numberRecordsProcessed": self.records,
                "retries": 0,
                "totalProcessingTime": self.processing_ms,
                "isPkChunkingSupported": True,
            })
            if self.error_message:
                body["errorMessage"] = self.error_message
        return body


@dataclass
class IngestJob(_JobBase):
    external_id_field: str | None = None
    upload_path: Path | None = None
    processed: int = 0
    failed: int = 0
    result_dir: Path | None = None

    def info(self, full: bool = True) -> dict:
        body = self.base_info()
        if self.external_id_field:
            body["externalIdFieldName"] = self.external_id_field
        body["contentUrl"] = f"services/data/{self.api_version}/jobs/ingest/{self.id}/batches"
        if full:
            body.update({
                "jobType": "V2Ingest",
                "numberRecordsProcessed": self.processed,
                "numberRecordsFailed": self.failed,
                "retries": 0,
                "totalProcessingTime": self.processing_ms,
                "apiActiveProcessingTime": self.processing_ms,
                "apexProcessingTime": 0,
            })
            if self.error_message:
                body["errorMessage"] = self.error_message
        return body


class BulkJobs:
    """The org's Bulk API 2.0 jobs (thread-safe); work runs on two worker threads."""

    def __init__(self, org: Org, directory: Path, clock: Callable[[], datetime] = timefmt.now) -> None:
        self._org = org
        self._dir = directory
        shutil.rmtree(directory, ignore_errors=True)  # jobs live in memory: old files are orphans
        directory.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self.retention_seconds = JOB_RETENTION_SECONDS
        self._lock = threading.Lock()
        self._jobs: dict[str, QueryJob | IngestJob] = {}
        self._query_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bulk-query")
        self._ingest_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-ingest")

    def close(self) -> None:
        self._query_pool.shutdown(wait=True, cancel_futures=True)
        self._ingest_pool.shutdown(wait=True, cancel_futures=True)

    def clear(self) -> None:
        """Forget every job and its files (admin reset)."""
        with self._lock:
            jobs = list(self._jobs.values())
            self._jobs.clear()
        for job in jobs:
            self._remove_files(job)

    def _now_text(self) -> str:
        return timefmt.format_datetime(self._clock())

    def _new_id(self) -> str:
        """A new job Id; first the jobs finished longer than the retention time ago go, with their files."""
        cutoff = time.monotonic() - self.retention_seconds
        with self._lock:
            expired = [job for job in self._jobs.values() if job.finished_at is not None and job.finished_at < cutoff]
            for job in expired:
                del self._jobs[job.id]
        for job in expired:
            self._remove_files(job)
        return self._org.new_id(JOB_PREFIX)

    def get(self, job_id: str, kind: type) -> Any:
        record_id = ids.normalize_id(job_id)
        with self._lock:
            job = self._jobs.get(record_id or "")
        if not isinstance(job, kind):
            raise job_not_found()
        return job

    def list(self, kind: type) -> list:
        with self._lock:
            return [job for job in self._jobs.values() if isinstance(job, kind)]

    def delete(self, job_id: str, kind: type) -> None:
        job = self.get(job_id, kind)
        with job.lock:
            if job.state in ("UploadComplete", "InProgress"):
                raise invalid_state(f"Job {job.id} is {job.state}: abort it or wait before deleting it")
        with self._lock:
            self._jobs.pop(job.id, None)
        self._remove_files(job)

    def _remove_files(self, job: QueryJob | IngestJob) -> None:
        shutil.rmtree(self._dir / job.id, ignore_errors=True)

    @staticmethod
    def _format_options(body: dict) -> tuple[str, str]:
        delimiter = str(body.get("columnDelimiter") or "COMMA")
        ending = str(body.get("lineEnding") or "LF")
        if delimiter not in DELIMITERS:
            raise invalid_job(f"Invalid columnDelimiter: {delimiter}; use one of {', '.join(DELIMITERS)}")
        if ending not in LINE_ENDINGS:
            raise invalid_job(f"Invalid lineEnding: {ending}; use LF or CRLF")
        content_type = str(body.get("contentType") or "CSV")
        if content_type != "CSV":
            raise invalid_job(f"Invalid contentType: {content_type}; Bulk API 2.0 takes CSV only")
        return delimiter, ending

    # ----- query jobs --------------------------------------------------------------------------------

    def create_query_job(self, body: dict, *, user_id: str, api_version: str) -> QueryJob:
        operation = body.get("operation")
        if operation not in QUERY_OPERATIONS:
            raise invalid_job(f"Invalid operation: {operation}; a query job takes query or queryAll")
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            raise invalid_job("A query job needs a query")
        delimiter, ending = self._format_options(body)
        compiled = compile_soql(text, self._org.catalog, include_deleted=operation == "queryAll",
                                now=self._org.now())
        if compiled.is_count:
            raise SalesforceError(400, "INVALIDJOB", "COUNT() queries are not supported by Bulk API 2.0")
        if compiled.compound_fields:
            raise compound_in_bulk_query()
        now = self._now_text()
        job = QueryJob(id=self._new_id(), operation=operation, object=compiled.sobject.name, created_by=user_id,
                       created_date=now, modstamp=now, api_version=api_version, column_delimiter=delimiter,
                       line_ending=ending, state="UploadComplete", query=text)
        with self._lock:
            self._jobs[job.id] = job
        self._org.usage.count("bulk_query_jobs")
        self._query_pool.submit(self._run_query, job, compiled)
        return job

    @contextlib.contextmanager
    def _job_outcome(self, job: QueryJob | IngestJob, kind: str, started: float) -> Iterator[None]:
        """Run a job's work: an exception fails the job (the server goes on); timing is kept either way."""
        try:
            yield
        except Exception as exc:
            log.exception("bulk %s job %s failed", kind, job.id)
            with job.lock:
                job.state = "Failed"
                job.error_message = str(exc)
        finally:
            job.processing_ms = int((time.monotonic() - started) * 1000)
            job.modstamp = self._now_text()
            job.finished_at = time.monotonic()

    def _run_query(self, job: QueryJob, compiled: Any) -> None:
        started = time.monotonic()
        with job.lock:
            if job.state != "UploadComplete":
                return
            job.state = "InProgress"
        directory = self._dir / job.id
        with self._job_outcome(job, "query", started):
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / "results.csv"
            header = csv_line(compiled.csv_header(), job.delimiter, job.terminator)
            offsets = array("q")
            with self._org.store.reader() as conn, open(path, "wb", buffering=1 << 20) as out:
                out.write(header)
                end = write_results(compiled, self._org.catalog, conn, out, job.delimiter, job.terminator,
                                    offsets, len(header), stop=lambda: job.state == "Aborted")
                offsets.append(end)
            with job.lock:
                if job.state == "Aborted":
                    return
                job.path, job.header, job.offsets = path, header, offsets
                job.records = len(offsets) - 1
                job.state = "JobComplete"
        self._org.usage.count("bulk_query_mb", max(1, job.offsets[-1] // (1 << 20)) if job.offsets else 0)

    def results_page(self, job: QueryJob, locator: str | None, max_records: str | None
                     ) -> tuple[Iterator[bytes], int, int, str]:
        """(body chunks, body length, number of records, next locator or "null") of a results page."""
        with job.lock:
            if job.state != "JobComplete" or job.path is None:
                raise invalid_state(f"Job {job.id} is not complete (state {job.state})")
            path, header, offsets, total = job.path, job.header, job.offsets, job.records
        start = decode_locator(locator) if locator else 0
        if start > total:
            raise SalesforceError(400, "INVALID_LOCATOR", f"Invalid locator: {locator}")
        if max_records is None or max_records == "":
            count = total - start
        else:
            try:
                count = int(max_records)
            except ValueError:
                raise SalesforceError(400, "INVALIDPARAMETER", f"Invalid maxRecords: {max_records}") from None
            if count <= 0:
                raise SalesforceError(400, "INVALIDPARAMETER", f"maxRecords must be > 0: {max_records}")
        end = min(start + count, total)
        begin_byte = 0 if start == 0 else offsets[start]
        end_byte = offsets[end]
        prefix = b"" if start == 0 else header
        length = len(prefix) + end_byte - begin_byte
        next_locator = encode_locator(end) if end < total else "null"
        return _file_chunks(path, prefix, begin_byte, end_byte), length, end - start, next_locator

    # ----- ingest jobs -------------------------------------------------------------------------------

    def create_ingest_job(self, body: dict, *, user_id: str, api_version: str) -> IngestJob:
        operation = body.get("operation")
        if operation not in INGEST_OPERATIONS:
            raise invalid_job(f"Invalid operation: {operation}; use one of {', '.join(INGEST_OPERATIONS)}")
        name = body.get("object")
        sobject = self._org.catalog.get(str(name or ""))
        if sobject is None:
            raise invalid_job(f"Object type '{name}' is not supported")
        external = body.get("externalIdFieldName")
        if operation == "upsert":
            if not external:
                raise invalid_job(f"External ID was blank for {sobject.name}. An External ID must be specified "
                                  "for upsert.")
            field_def = sobject.field(str(external))
            if field_def is None or not (field_def.external_id or field_def.name == "Id"):
                raise invalid_job(f"Field {external} is not an external id field of {sobject.name}")
            external = field_def.name
        delimiter, ending = self._format_options(body)
        now = self._now_text()
        job = IngestJob(id=self._new_id(), operation=operation, object=sobject.name, created_by=user_id,
                        created_date=now, modstamp=now, api_version=api_version, column_delimiter=delimiter,
                        line_ending=ending, external_id_field=external if operation == "upsert" else None)
        with self._lock:
            self._jobs[job.id] = job
        return job

    def upload(self, job: IngestJob, data: bytes) -> None:
        with job.lock:
            if job.state != "Open":
                raise invalid_state(f"Job {job.id} is {job.state}: data can only be uploaded to an Open job")
            if job.upload_path is not None:
                raise SalesforceError(400, "BULK_API_ERROR",
                                      f"Found multiple contents for job: <{job.id}>, please 'Close' / 'Abort' / "
                                      "'Delete' the current Job then create a new Job and make sure you only do "
                                      "'PUT' once on a given Job.")
            if len(data) > MAX_UPLOAD_BYTES:
                raise SalesforceError(400, "BULK_API_ERROR", "The uploaded data exceeds 150 MB")
            directory = self._dir / job.id
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / "upload.csv"
            path.write_bytes(data)
            job.upload_path = path
            job.modstamp = self._now_text()
        self._org.usage.count("bulk_batches")

    def change_state(self, job: QueryJob | IngestJob, state: str) -> None:
        with job.lock:
            if state == "Aborted":
                if job.state in ("JobComplete", "Failed", "Aborted"):
                    raise invalid_state(f"Job {job.id} is {job.state} and can no longer be aborted")
                job.state = "Aborted"
                job.finished_at = time.monotonic()
            elif state == "UploadComplete" and isinstance(job, IngestJob):
                if job.state != "Open":
                    raise invalid_state(f"Job {job.id} is {job.state}, not Open")
                if job.upload_path is None:
                    job.state = "Failed"
                    job.error_message = "InvalidBatch : No data was uploaded to the job"
                    job.finished_at = time.monotonic()
                else:
                    job.state = "UploadComplete"
                    self._ingest_pool.submit(self._run_ingest, job)
            else:
                raise SalesforceError(400, "INVALIDJOBSTATE", f"Invalid state change to {state} for job {job.id}")
            job.modstamp = self._now_text()

    def _run_ingest(self, job: IngestJob) -> None:
        started = time.monotonic()
        with job.lock:
            if job.state != "UploadComplete" or job.upload_path is None:
                return
            job.state = "InProgress"
        with self._job_outcome(job, "ingest", started):
            IngestRun(self._org, job).run()

    def ingest_results(self, job: IngestJob, kind: str) -> bytes:
        """The successfulResults / failedResults / unprocessedrecords CSV of an ingest job."""
        with job.lock:
            if job.state in ("Open", "UploadComplete", "InProgress") and kind != "unprocessedrecords":
                raise invalid_state(f"Job {job.id} is {job.state}: results are ready once it is complete")
            directory = job.result_dir
        if directory is None:
            upload = job.upload_path
            if kind == "unprocessedrecords" and upload is not None:
                return upload.read_bytes()
            return b""
        path = directory / f"{kind}.csv"
        return path.read_bytes() if path.exists() else b""


def _file_chunks(path: Path, prefix: bytes, begin: int, end: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    if prefix:
        yield prefix
    with open(path, "rb") as handle:
        handle.seek(begin)
        remaining = end - begin
        while remaining > 0:
            data = handle.read(min(chunk, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
