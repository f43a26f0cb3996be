"""Bulk API 1.0 query jobs: jobs hold batches, a query batch runs on a worker and writes result files.

A job is created Open (query or queryAll, contentType JSON, XML or CSV), takes query batches, and is
Closed or Aborted by the client; each batch runs its SOQL on one reader snapshot (Queued -> InProgress
-> Completed, or Failed with Salesforce's stateMessage) into result files: JSON and XML files hold at
most RESULT_FILE_RECORDS records each, a CSV result is one file. With PK chunking (`Sforce-Enable-PKChunking`
on job creation) the batch the client adds stays NotProcessed and the sandbox adds one batch per
range of `chunkSize` Ids of the object's table, as Salesforce does; each holds the matching records.
Ingest operations are refused (FeatureNotEnabled): Bulk API 2.0 serves them. Jobs live in memory,
their files under DATA_DIR/bulk1; both go on reset, two hours after the job closed, or at restart.
"""

from __future__ import annotations

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
from typing import TYPE_CHECKING, Any, BinaryIO

from crm_sync.sandbox import ids, timefmt
from crm_sync.sandbox.errors import SalesforceError
from crm_sync.sandbox.server import bulk1_wire as wire
from crm_sync.sandbox.server.bulk1_wire import Bulk1Error
from crm_sync.sandbox.server.bulk_csv import csv_line, write_results
from crm_sync.sandbox.server.bulk_jobs import COMPOUND_IN_BULK_MESSAGE
from crm_sync.sandbox.soql import compile_soql
from crm_sync.sandbox.soql.shaping import json_converter

if TYPE_CHECKING:
    from crm_sync.sandbox.org import Org

log = logging.getLogger("crm_sync.sandbox.bulk1")

QUERY_OPERATIONS = ("query", "queryAll")
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
CONTENT_TYPES = ("JSON", "XML", "CSV")
DEFAULT_CHUNK_SIZE = 100_000
MAX_CHUNK_SIZE = 250_000
RETENTION_SECONDS = 2 * 3600
RESULT_FILE_RECORDS = 100_000  # records per result file (Salesforce splits by size; clients read a list)
JOB_PREFIX, BATCH_PREFIX, RESULT_PREFIX = "750", "751", "752"


def ingest_refused(operation: str) -> Bulk1Error:
    """What a Bulk 1.0 ingest job gets: Salesforce's "Async API not enabled" error, naming the gap."""
    return Bulk1Error(400, "FeatureNotEnabled",
                      f"Bulk API 1.0 {operation} jobs are not supported by the crm_sync sandbox "
                      "(Async API ingest not enabled): use Bulk API 2.0 ingest jobs under /services/data/vXX.X/jobs/ingest")


def parse_pk_chunking(header: str | None) -> int | None:
    """The chunk size asked by `Sforce-Enable-PKChunking` (None: off), or InvalidJob as Salesforce answers."""
    if header is None or header.strip().lower() in ("", "false"):
        return None
    size = DEFAULT_CHUNK_SIZE
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "true" and not value:
            continue
        if key.lower() == "chunksize" and value.strip().isdigit():
            size = int(value)
        elif key.lower() == "parent" or key.lower() == "startrow":
            raise Bulk1Error(400, "InvalidJob", f"PK chunking option {key} is not supported by the crm_sync sandbox")
        else:
            raise Bulk1Error(400, "InvalidJob", f"Unsupported PK chunking option: {part.strip()}")
    if not 1 <= size <= MAX_CHUNK_SIZE:
        raise Bulk1Error(400, "InvalidJob", f"Invalid chunkSize {size}: the maximum chunk size is {MAX_CHUNK_SIZE}")
    return size


@dataclass
class Batch:
    id: str
    job_id: str
    query: str
    created_date: str
    state: str = "Queued"
    state_message: str | None = None
    records: int = 0
    processing_ms: int = 0
    modstamp: str = ""
    result_ids: list[str] = field(default_factory=list)
    id_range: tuple[str | None, str | None] | None = None  # PK chunk: [first, next chunk's first)

    def info(self) -> dict:
        return {
            "apexProcessingTime": 0, "apiActiveProcessingTime": self.processing_ms,
            "createdDate": wire.iso_z(self.created_date), "id": self.id, "jobId": self.job_id,
            "numberRecordsFailed": 0, "numberRecordsProcessed": self.records, "state": self.state,
            "stateMessage": self.state_message, "systemModstamp": wire.iso_z(self.modstamp or self.created_date),
            "totalProcessingTime": self.processing_ms,
        }


@dataclass
class Job:
    id: str
    operation: str
    object: str
    content_type: str
    created_by: str
    created_date: str
    api_version: str
    concurrency: str = "Parallel"
    chunk_size: int | None = None
    state: str = "Open"
    modstamp: str = ""
    closed_at: float | None = None
    batches: list[Batch] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def info(self) -> dict:
        with self.lock:
            states = [b.state for b in self.batches]
            processed = sum(b.records for b in self.batches)
        return {
            "apexProcessingTime": 0, "apiActiveProcessingTime": 0, "apiVersion": float(self.api_version),
            "assignmentRuleId": None, "concurrencyMode": self.concurrency, "contentType": self.content_type,
            "createdById": self.created_by, "createdDate": wire.iso_z(self.created_date),
            "externalIdFieldName": None, "fastPathEnabled": False, "id": self.id,
            "numberBatchesCompleted": states.count("Completed"), "numberBatchesFailed": states.count("Failed"),
            "numberBatchesInProgress": states.count("InProgress"), "numberBatchesQueued": states.count("Queued"),
            "numberBatchesTotal": len(states), "numberRecordsFailed": 0, "numberRecordsProcessed": processed,
            "numberRetries": 0, "object": self.object, "operation": self.operation, "state": self.state,
            "systemModstamp": wire.iso_z(self.modstamp or self.created_date), "totalProcessingTime": 0,
        }


class Bulk1Jobs:
    """The org's Bulk API 1.0 query jobs (thread-safe); batches run on two worker threads."""

    def __init__(self, org: Org, directory: Path, clock: Callable[[], datetime] = timefmt.now) -> None:
        self._org = org
        self._dir = directory
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bulk1-query")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def clear(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
            self._jobs.clear()
        for job in jobs:
            shutil.rmtree(self._dir / job.id, ignore_errors=True)

    def _now(self) -> str:
        return timefmt.format_datetime(self._clock())

    def _expire(self) -> None:
        cutoff = time.monotonic() - RETENTION_SECONDS
        with self._lock:
            old = [job for job in self._jobs.values() if job.closed_at is not None and job.closed_at < cutoff]
            for job in old:
                del self._jobs[job.id]
        for job in old:
            shutil.rmtree(self._dir / job.id, ignore_errors=True)

    # ----- jobs --------------------------------------------------------------------------------------

    def create_job(self, body: dict, *, user_id: str, api_version: str, pk_chunking: str | None) -> Job:
        operation = str(body.get("operation") or "")
        if operation in INGEST_OPERATIONS:
            raise ingest_refused(operation)
        if operation not in QUERY_OPERATIONS:
            raise Bulk1Error(400, "InvalidJob", f"Invalid operation: {operation or '(none)'}")
        sobject = self._org.catalog.get(str(body.get("object") or ""))
        if sobject is None:
            raise Bulk1Error(400, "InvalidJob", f"Unable to find object: {body.get('object')}")
        content_type = str(body.get("contentType") or "XML").upper()
        if content_type not in CONTENT_TYPES:
            raise Bulk1Error(400, "InvalidJob", f"contentType {content_type} is not supported by the crm_sync "
                                                "sandbox: use JSON, XML or CSV")
        concurrency = {"0": "Parallel", "1": "Serial"}.get(str(body.get("concurrencyMode")),
                                                           str(body.get("concurrencyMode") or "Parallel"))
        if concurrency not in ("Parallel", "Serial"):
            raise Bulk1Error(400, "InvalidJob", f"Invalid concurrencyMode: {concurrency}")
        chunk_size = parse_pk_chunking(pk_chunking)
        self._expire()
        now = self._now()
        job = Job(id=self._org.new_id(JOB_PREFIX), operation=operation, object=sobject.name,
                  content_type=content_type, created_by=user_id, created_date=now, api_version=api_version,
                  concurrency=concurrency, chunk_size=chunk_size)
        with self._lock:
            self._jobs[job.id] = job
        return job

    def get_job(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(ids.normalize_id(job_id) or "")
        if job is None:
            raise Bulk1Error(400, "InvalidJob", f"Unable to find job: {job_id}")
        return job

    def change_state(self, job: Job, state: str) -> None:
        if state not in ("Closed", "Aborted"):
            raise Bulk1Error(400, "InvalidJobState", f"Invalid state change to {state}: use Closed or Aborted")
        with job.lock:
            if job.state != "Open":
                raise Bulk1Error(400, "InvalidJobState", f"Job {job.id} is {job.state}, not Open")
            job.state = state
            job.modstamp = self._now()
            job.closed_at = time.monotonic()
            if state == "Aborted":
                for batch in job.batches:
                    if batch.state in ("Queued", "InProgress"):
                        batch.state, batch.state_message = "NotProcessed", "Job aborted"

    # ----- batches -----------------------------------------------------------------------------------

    def add_batch(self, job: Job, soql: str) -> Batch:
        """Add a query batch; it runs on a worker (with PK chunking: NotProcessed, plus one batch a chunk)."""
        with job.lock:
            if job.state != "Open":
                raise Bulk1Error(400, "InvalidJobState", f"Unable to add a batch: job {job.id} is {job.state}")
        if not soql.strip():
            raise Bulk1Error(400, "InvalidBatch", "A query batch needs a SOQL query")
        now = self._now()
        batch = Batch(id=self._org.new_id(BATCH_PREFIX), job_id=job.id, query=soql, created_date=now)
        chunks = self._chunk_ranges(job) if job.chunk_size else None
        with job.lock:
            job.batches.append(batch)
            if chunks is not None:
                batch.state = "NotProcessed"
                batch.state_message = "Original batch for PK chunking: its records are in the other batches"
                for id_range in chunks:
                    job.batches.append(Batch(id=self._org.new_id(BATCH_PREFIX), job_id=job.id, query=soql,
                                             created_date=now, id_range=id_range))
            runnable = [b for b in job.batches if b.state == "Queued" and (b is batch or b.id_range is not None)]
        for each in runnable:
            self._org.usage.count("bulk_batches")
            self._pool.submit(self._run, job, each)
        return batch

    def _chunk_ranges(self, job: Job) -> list[tuple[str | None, str | None]]:
        """[first Id, next chunk's first Id) ranges of `chunk_size` rows of the object's table, by Id."""
        size = job.chunk_size
        assert size is not None
        with self._org.store.reader() as conn:
            starts = [row[0] for row in conn.execute(
                f'SELECT Id FROM (SELECT Id, row_number() OVER (ORDER BY Id) AS n FROM "{job.object}") '
                f"WHERE (n - 1) % {size} = 0 ORDER BY Id")]
        if not starts:
            return [(None, None)]
        return [(start, starts[i + 1] if i + 1 < len(starts) else None) for i, start in enumerate(starts)]

    def get_batch(self, job: Job, batch_id: str) -> Batch:
        wanted = ids.normalize_id(batch_id)
        with job.lock:
            found = next((b for b in job.batches if b.id == wanted), None)
        if found is None:
            raise Bulk1Error(400, "InvalidBatch", f"Unable to find batch: {batch_id}")
        return found

    def batches(self, job: Job) -> list[Batch]:
        with job.lock:
            return list(job.batches)

    def result_ids(self, job: Job, batch: Batch) -> list[str]:
        if batch.state != "Completed":
            raise Bulk1Error(400, "InvalidBatch", f"Batch {batch.id} is {batch.state}: it has no results")
        return list(batch.result_ids)

    def result_path(self, job: Job, batch: Batch, result_id: str) -> Path:
        if batch.state != "Completed" or ids.normalize_id(result_id) not in batch.result_ids:
            raise Bulk1Error(400, "InvalidBatch", f"Unable to find result {result_id} of batch {batch.id}")
        return self._file(job, ids.normalize_id(result_id) or result_id)

    def _run(self, job: Job, batch: Batch) -> None:
        started = time.monotonic()
        with job.lock:
            if batch.state != "Queued":
                return
            batch.state = "InProgress"
        state, message, records, result_ids = "Completed", None, 0, []
        try:
            records, result_ids = self._write_results(job, batch)
        except SalesforceError as error:
            state, message = "Failed", f"InvalidBatch : Failed to process query: {error}"
        except Exception as exc:  # the server goes on; the batch says why it failed
            log.exception("bulk 1.0 batch %s failed", batch.id)
            state, message = "Failed", f"InvalidBatch : {exc}"
        with job.lock:
            if batch.state != "InProgress":
                return  # aborted meanwhile
            batch.state, batch.state_message, batch.records = state, message, records
            batch.processing_ms = int((time.monotonic() - started) * 1000)
            batch.modstamp = self._now()
            batch.result_ids = result_ids

    def _write_results(self, job: Job, batch: Batch) -> tuple[int, list[str]]:
        """Run the batch's query into its result files; (records, result Ids)."""
        compiled = compile_soql(batch.query, self._org.catalog, include_deleted=job.operation == "queryAll",
                                now=self._org.now())
        if compiled.sobject.name != job.object:
            raise SalesforceError(400, "INVALID_TYPE",
                                  f"the query is on {compiled.sobject.name}, the job on {job.object}")
        if compiled.is_count or compiled.is_aggregate:
            raise SalesforceError(400, "INVALID_FIELD", "Aggregate queries are not supported by Bulk API")
        if compiled.compound_fields:
            raise SalesforceError(400, "FUNCTIONALITY_NOT_ENABLED", COMPOUND_IN_BULK_MESSAGE)
        (self._dir / job.id).mkdir(parents=True, exist_ok=True)
        with self._org.store.reader() as conn:
            if job.content_type == "CSV" and batch.id_range is None:  # one file, SQLite writes the lines
                result_id = self._org.new_id(RESULT_PREFIX)
                with open(self._file(job, result_id), "wb", buffering=1 << 20) as out:
                    header = csv_line(compiled.csv_header(), ",", "\n")
                    out.write(header)
                    offsets = array("q")
                    write_results(compiled, self._org.catalog, conn, out, ",", "\n", offsets, len(header))
                return len(offsets), [result_id]
            if job.content_type == "JSON":
                return self._write_json_files(job, compiled, conn, batch.id_range)
            return self._write_files(job, compiled, self._rows(conn, compiled, batch.id_range))

    def _file(self, job: Job, result_id: str) -> Path:
        return self._dir / job.id / f"{result_id}.{job.content_type.lower()}"

    @staticmethod
    def _rows(conn: Any, compiled: Any, id_range: tuple[str | None, str | None] | None) -> Iterator[tuple]:
        cursor = conn.execute(compiled.sql, compiled.params)
        while chunk := cursor.fetchmany(5000):
            if id_range is None:
                yield from chunk
                continue
            low, high = id_range
            for row in chunk:
                record_id = compiled.root_id(row)
                if (low is None or record_id >= low) and (high is None or record_id < high):
                    yield row

    def _write_json_files(self, job: Job, compiled: Any, conn: Any,
                          id_range: tuple[str | None, str | None] | None) -> tuple[int, list[str]]:
        """JSON result files with SQLite writing each record's JSON (wire.json_record_sql)."""
        width = len(conn.execute(f"SELECT * FROM ({compiled.sql}) LIMIT 0", compiled.params).description)
        names = ", ".join(f"c{i}" for i in range(width))
        record = wire.json_record_sql(compiled.shape, f"/services/data/v{job.api_version}")
        sql, params = f"WITH r({names}) AS ({compiled.sql}) SELECT {record} FROM r", list(compiled.params)
        if id_range is not None:
            low, high = id_range
            id_column = f"c{compiled.shape.id_index}"
            conditions = ([f"{id_column} >= ?"] if low else []) + ([f"{id_column} < ?"] if high else [])
            if conditions:
                sql += " WHERE " + " AND ".join(conditions)
                params += [value for value in (low, high) if value]
        cursor = conn.execute(sql, params)

        def write(out: BinaryIO) -> int:
            taken = 0
            out.write(b"[")
            while taken < RESULT_FILE_RECORDS:
                rows = cursor.fetchmany(min(5000, RESULT_FILE_RECORDS - taken))
                if not rows:
                    break
                out.write((b"," if taken else b"") + ",".join(row[0] for row in rows).encode("utf-8"))
                taken += len(rows)
            out.write(b"]")
            return taken

        return self._into_files(job, write)

    def _into_files(self, job: Job, write: Callable[[BinaryIO], int]) -> tuple[int, list[str]]:
        """Result files of at most RESULT_FILE_RECORDS records: `write` fills one and says how many it took;
        at least one file, never an empty one after the first."""
        total, result_ids = 0, []
        while True:
            result_id = self._org.new_id(RESULT_PREFIX)
            with open(self._file(job, result_id), "wb", buffering=1 << 20) as out:
                taken = write(out)
            if taken == 0 and result_ids:
                self._file(job, result_id).unlink()
                break
            result_ids.append(result_id)
            total += taken
            if taken < RESULT_FILE_RECORDS:
                break
        return total, result_ids

    def _write_files(self, job: Job, compiled: Any, rows: Iterator[tuple]) -> tuple[int, list[str]]:
        """XML or CSV rows into result files of at most RESULT_FILE_RECORDS records each (at least one file)."""
        base_url = f"/services/data/v{job.api_version}"
        pieces: Callable[[Iterator[Any]], Any]
        if job.content_type == "XML":
            build = compiled.record_builder(base_url, wire.xml_convert_for(json_converter))
            pieces = wire.xml_results
        else:
            build = compiled.csv_values
            header = csv_line(compiled.csv_header(), ",", "\n").decode("utf-8")

            def pieces(values: Iterator[Any]) -> Iterator[str]:
                yield header
                for cells in values:
                    yield csv_line(cells, ",", "\n").decode("utf-8")

        def write(out: BinaryIO) -> int:
            taken = 0

            def records() -> Iterator[Any]:
                nonlocal taken
                for row in rows:
                    taken += 1
                    yield build(row)
                    if taken >= RESULT_FILE_RECORDS:
                        return

            buffer: list[str] = []
            for piece in pieces(records()):
                buffer.append(piece)
                if len(buffer) >= 2000:
                    out.write("".join(buffer).encode("utf-8"))
                    buffer.clear()
            out.write("".join(buffer).encode("utf-8"))
            return taken

        return self._into_files(job, write)
