"""Bulk API 2.0: query jobs (CSV result pages -> Arrow) and ingest jobs (CSV upload -> RecordResults).

Query: create the job, poll with growing intervals until JobComplete (a job may already be complete
when created), then page through `results` with `maxRecords` and the `Sforce-Locator` header; each
page is parsed by pyarrow.csv with explicit column types. Ingest: create, upload CSV, mark
UploadComplete, poll, then read successfulResults, failedResults and unprocessedrecords.
Failed or Aborted jobs raise `BulkJobFailed` with the job's errorMessage.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.csv as pacsv
import requests
import urllib3

from crm_sync.salesforce import csv_stream
from crm_sync.salesforce.errors import BulkJobFailed, BulkJobTimeout, SalesforceConnectionError
from crm_sync.salesforce.results import RecordResult
from crm_sync.salesforce.transport import Transport

DONE_STATES = {"JobComplete", "Failed", "Aborted"}
INGEST_OPERATIONS = {"insert", "update", "upsert", "delete", "hardDelete"}
MAX_UPLOAD_BYTES = 90 * 1024 * 1024  # Salesforce accepts up to 100 MB of CSV per ingest job
NULL_VALUE = "#N/A"  # Bulk API's way to set a field to null

log = logging.getLogger(__name__)


# --- polling ------------------------------------------------------------------------------------


# The rate a new client expects a query job to prepare its results at, until it has seen one: a first poll
# that comes too early costs a call. The sandbox prepares about 65k-100k records/s on 2 cores (fewer under
# load); Salesforce is slower. Every Dagster step is a new process, so most jobs are a new client's first.
BULK_RECORDS_PER_SECOND = 60_000
LEARN_MIN_RECORDS = 10_000  # a smaller job says little about the rate (its time is mostly latency)
# A conservative rate at which an ingest job writes rows: its first poll waits for that many seconds.
INGEST_RECORDS_PER_SECOND = 20_000
ESTIMATED_WAIT_MAX = 60.0  # the longest wait for an ingest job's rest, estimated from its progress
# A wait estimated from progress is stretched by this much (plus one poll interval), so the next poll comes
# after the job's end rather than just before it: a poll that lands short costs one more call.
ESTIMATE_MARGIN = 1.25


def wait_for_job(
    transport: Transport,
    kind: str,
    job: dict,
    *,
    obj: str | None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    first_wait: float = 0.0,
    expected_records: int | None = None,
) -> dict:
    """Poll `jobs/{kind}/{id}` until the job is done; the final job info, or BulkJobFailed/BulkJobTimeout.

    `first_wait` (seconds) delays the first poll when the caller knows the job needs that long: each poll
    is an API call, so a large job is not asked about before it can be done. With `expected_records` (an
    ingest job's rows), a poll that shows progress waits for the rest at the rate seen so far (at most
    ESTIMATED_WAIT_MAX seconds, stretched by ESTIMATE_MARGIN) instead of the growing interval: a job seen
    nearly done is asked again soon, not after the interval has grown.
    """
    config = transport.config
    first_wait = min(max(first_wait, 0.0), config.bulk_poll_max_interval)
    # after a long first wait the job is nearly done: later polls are spaced in proportion, not from scratch
    interval = max(config.bulk_poll_interval, first_wait / 2)
    began = clock()
    if first_wait > 0 and job.get("state") not in DONE_STATES:
        sleep(first_wait)
    started = clock()
    info = job
    while info.get("state") not in DONE_STATES:
        if clock() - started > config.bulk_timeout_seconds:
            raise BulkJobTimeout(job["id"], str(info.get("state")), config.bulk_timeout_seconds)
        info = transport.request("GET", f"jobs/{kind}/{job['id']}", purpose=f"bulk_{kind}_poll",
                                 obj=obj).json()
        if info.get("state") in DONE_STATES:
            break
        estimate = _remaining_seconds(info, expected_records, clock() - began)
        sleep(_next_wait(estimate, interval, config.bulk_poll_interval))
        interval = min(interval * 1.5, config.bulk_poll_max_interval)
    if info["state"] != "JobComplete":
        raise BulkJobFailed(job["id"], info["state"], info.get("errorMessage"))
    return info


def _next_wait(estimate: float | None, interval: float, poll_interval: float) -> float:
    """Seconds before the next poll: the estimated rest of the job stretched by ESTIMATE_MARGIN, plus one
    poll interval, when its progress gave an estimate; else the growing interval."""
    return estimate * ESTIMATE_MARGIN + poll_interval if estimate is not None else interval


def _remaining_seconds(info: dict, expected: int | None, elapsed: float) -> float | None:
    """Seconds an ingest job needs for its remaining rows at the rate it showed so far (None: no rate yet)."""
    processed = info.get("numberRecordsProcessed")
    if not expected or not isinstance(processed, int) or processed <= 0 or elapsed <= 0:
        return None
    return min(ESTIMATED_WAIT_MAX, max(0, expected - processed) / (processed / elapsed))


# --- query --------------------------------------------------------------------------------------


def create_query_job(transport: Transport, soql: str, *, include_deleted: bool, obj: str | None) -> dict:
    """Create a Bulk API 2.0 query (or queryAll) job; its job info."""
    payload = {"operation": "queryAll" if include_deleted else "query", "query": soql,
               "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF"}
    # A second query job is harmless: creating one may be repeated after a lost answer.
    return transport.request("POST", "jobs/query", json=payload, purpose="bulk_query", obj=obj,
                             idempotent=True).json()


def iter_result_pages(transport: Transport, job_id: str, *, max_records: int, obj: str | None) -> Iterator[bytes]:
    """The CSV bytes of each results page of a completed query job (one API call per page)."""
    locator: str | None = None
    while True:
        params: dict[str, object] = {"maxRecords": max_records}
        if locator:
            params["locator"] = locator
        response = transport.request("GET", f"jobs/query/{job_id}/results", params=params,
                                     headers={"Accept": "text/csv"}, purpose="bulk_query_results", obj=obj)
        yield response.content.replace(b"\x00", b"")
        locator = response.headers.get("Sforce-Locator")
        if not locator or locator == "null":
            return


def iter_result_tables(transport: Transport, job_id: str, schema: pa.Schema, *, max_records: int,
                       page_rows: int, obj: str | None) -> Iterator[pa.Table]:
    """The rows of a completed query job as tables of at most `page_rows` rows, each results request
    (up to `max_records` records, one API call) parsed while it streams in (see csv_stream).

    A body that breaks off is asked for again (another API call, at most `transport.config.max_attempts`
    times in all) and resumed after the tables already handed out: the same locator gives the same rows
    in the same order, so the tables fall on the same rows. No row is handed out twice or left out.
    """
    locator: str | None = None
    while True:
        params: dict[str, object] = {"maxRecords": max_records}
        if locator:
            params["locator"] = locator
        handed_out = 0
        for attempt in itertools.count(1):
            response = transport.request("GET", f"jobs/query/{job_id}/results", params=params,
                                         headers={"Accept": "text/csv"}, purpose="bulk_query_results", obj=obj,
                                         stream=True)
            broken: list[BaseException] = []
            try:
                tables = csv_stream.iter_tables(_body_chunks(response, broken), schema, page_rows=page_rows)
                for number, table in enumerate(tables):
                    if number >= handed_out:
                        handed_out += 1
                        yield table
                break
            except Exception as exc:
                if not broken:
                    raise
                if attempt >= transport.config.max_attempts:
                    raise SalesforceConnectionError(
                        f"Bulk results of job {job_id} broke off {attempt} times: {broken[0]}") from exc
                log.info("Bulk results of job %s broke off after %d page(s) (%s); asking again",
                         job_id, handed_out, broken[0])
            finally:
                response.close()
        locator = response.headers.get("Sforce-Locator")
        if not locator or locator == "null":
            return


def _body_chunks(response: requests.Response, broken: list[BaseException]) -> Iterator[bytes]:
    """The response body in chunks; a connection that breaks off mid-body is noted in `broken`, then raised."""
    try:
        yield from response.iter_content(chunk_size=1 << 20)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        broken.append(exc)
        raise


def csv_to_table(data: bytes, schema: pa.Schema) -> pa.Table:
    """A results page (CSV with a header row of select-list paths) as a table of `schema`.

    Header names are matched to the schema's paths case-insensitively; the columns come out in schema
    order with schema names. Empty fields are null.
    """
    if not data.strip():
        return schema.empty_table()
    types = csv_stream.column_types(csv_stream.parse_header(data.split(b"\n", 1)[0]), schema)
    read, parse, convert = csv_stream.options(types)
    table = pacsv.read_csv(io.BytesIO(data), read_options=read, parse_options=parse, convert_options=convert)
    return csv_stream.to_schema(table, schema)


# --- ingest -------------------------------------------------------------------------------------


def format_value(value: object) -> str:
    """A CSV cell for Bulk API 2.0: null as #N/A, booleans true/false, datetimes in UTC with Z.

    An empty string is null too, as sObject Collections store it (Salesforce keeps no empty text). The
    text `#N/A` itself cannot be written through a CSV (it would be null): see `csv_can_carry`.
    """
    if value is None or value == "":
        return NULL_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in ingest data")
        value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value) if value != int(value) or abs(value) >= 1e15 else str(int(value))
    return str(value)


def csv_can_carry(row: dict) -> bool:
    """False when a value would mean something else in an ingest CSV (the text #N/A): send it by REST."""
    return not any(isinstance(v, str) and v.strip() == NULL_VALUE for v in row.values())


def rows_to_csv_chunks(rows: Iterable[dict], max_bytes: int = MAX_UPLOAD_BYTES) -> Iterator[tuple[bytes, int]]:
    """CSV uploads (header + rows) of at most `max_bytes` each, with their row counts.

    Columns are the union of the rows' keys; a key missing from a row is an empty cell (field left
    unchanged), a None value is #N/A (field set to null).
    """
    rows = list(rows)
    columns = list(dict.fromkeys(key for row in rows for key in row if key != "attributes"))
    if not columns:
        return
    header = _csv_line(columns)
    chunk: list[str] = []
    size = len(header)
    for row in rows:
        line = _csv_line(["" if c not in row else format_value(row[c]) for c in columns])
        if chunk and size + len(line) > max_bytes:
            yield (header + "".join(chunk)).encode("utf-8"), len(chunk)
            chunk, size = [], len(header)
        chunk.append(line)
        size += len(line.encode("utf-8"))
    if chunk:
        yield (header + "".join(chunk)).encode("utf-8"), len(chunk)


def _csv_line(cells: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


def run_ingest_job(
    transport: Transport,
    operation: str,
    obj: str,
    data: bytes,
    *,
    external_id_field: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rows: int | None = None,
) -> list[RecordResult]:
    """One ingest job over `data` (CSV): create, upload, close, wait, read the result sets.

    With `rows` (the data's record count) the first poll waits for what the job needs at
    INGEST_RECORDS_PER_SECOND, and only the result sets the job's counts say are not empty are read.
    """
    if operation not in INGEST_OPERATIONS:
        raise ValueError(f"unknown Bulk API 2.0 operation {operation!r}")
    payload: dict[str, object] = {"object": obj, "operation": operation, "contentType": "CSV",
                                  "columnDelimiter": "COMMA", "lineEnding": "LF"}
    if operation == "upsert":
        if not external_id_field:
            raise ValueError("upsert needs external_id_field")
        payload["externalIdFieldName"] = external_id_field
    # An ingest job does nothing until its data is uploaded and closed: creating one may be repeated.
    job = transport.request("POST", "jobs/ingest", json=payload, purpose="bulk_ingest", obj=obj,
                            idempotent=True).json()
    upload_path = job.get("contentUrl") or f"jobs/ingest/{job['id']}/batches"
    if upload_path.startswith("services/"):
        upload_path = "/" + upload_path
    transport.request("PUT", upload_path, data=data, headers={"Content-Type": "text/csv"},
                      purpose="bulk_ingest", obj=obj)
    closed = transport.request("PATCH", f"jobs/ingest/{job['id']}", json={"state": "UploadComplete"},
                               purpose="bulk_ingest", obj=obj).json()
    first_wait = rows / INGEST_RECORDS_PER_SECOND if rows else 0.0
    info = wait_for_job(transport, "ingest", closed, obj=obj, sleep=sleep, first_wait=first_wait,
                        expected_records=rows)
    results: list[RecordResult] = []
    for kind in _result_sets(info, rows):
        text = transport.request("GET", f"jobs/ingest/{job['id']}/{kind}", headers={"Accept": "text/csv"},
                                 purpose="bulk_ingest_results", obj=obj).content.decode("utf-8-sig")
        results.extend(_parse_ingest_results(kind, text, created_default=operation == "insert"))
    return results


def _result_sets(info: dict, rows: int | None) -> list[str]:
    """The result sets worth a call: failed ones only if the job counted failures, unprocessed ones only if
    it processed fewer rows than were uploaded (every set when the counts are missing)."""
    kinds = ["successfulResults"]
    failed, processed = info.get("numberRecordsFailed"), info.get("numberRecordsProcessed")
    if not isinstance(failed, int) or failed > 0:
        kinds.append("failedResults")
    if rows is None or not isinstance(processed, int) or processed < rows:
        kinds.append("unprocessedrecords")
    return kinds


def _parse_ingest_results(kind: str, text: str, *, created_default: bool) -> Iterator[RecordResult]:
    for row in csv.DictReader(io.StringIO(text)):
        echoed = {k: v for k, v in row.items() if k is not None and not k.startswith("sf__")}
        if kind == "successfulResults":
            created = row.get("sf__Created")
            yield RecordResult(id=row.get("sf__Id") or None, success=True,
                               created=created.lower() == "true" if created else created_default, input=echoed)
        elif kind == "failedResults":
            yield RecordResult(id=row.get("sf__Id") or None, success=False,
                               errors=[parse_bulk_error(row.get("sf__Error") or "")], input=echoed)
        else:
            yield RecordResult(id=None, success=False, input=echoed, errors=[{
                "statusCode": "UNPROCESSED", "message": "the job ended before this record was processed",
                "fields": []}])


def parse_bulk_error(text: str) -> dict:
    """`REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --` -> {statusCode, message, fields}.

    With the trailing ` --`, the part after the last colon is the (possibly empty) field list.
    """
    text = text.strip()
    has_fields = text.endswith("--")
    if has_fields:
        text = text[:-2].rstrip()
    code, _, rest = text.partition(":")
    if has_fields and ":" in rest:
        message, _, field_text = rest.rpartition(":")
        fields = [f.strip() for f in field_text.split(",") if f.strip()]
        return {"statusCode": code, "message": message.strip(), "fields": fields}
    return {"statusCode": code or "UNKNOWN", "message": rest.strip(), "fields": []}
