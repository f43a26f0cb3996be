"""SalesforceClient: the typed face of one org (real Salesforce or the sandbox, same code path).

Plain Python (no Dagster): build it from a `SalesforceConfig` (or `from_env()`). Every HTTP call goes
through its `Transport` (counting, retries, re-login, limit stop); `client.api_calls` holds the counts.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote as url_quote

import pyarrow as pa
import requests

from crm_sync.salesforce import bulk, composite, pages, soql
from crm_sync.salesforce.accounting import ApiCallCounter
from crm_sync.salesforce.config import SalesforceConfig
from crm_sync.salesforce.describe import DescribeCache, arrow_schema
from crm_sync.salesforce.errors import SalesforceApiError, SalesforceError
from crm_sync.salesforce.limits import daily_api_usage
from crm_sync.salesforce.results import RecordResult
from crm_sync.salesforce.transport import Transport

WriteOperation = Literal["create", "update", "upsert", "delete"]
IngestOperation = Literal["insert", "create", "update", "upsert", "delete", "hardDelete"]
# A /composite call may hold five collections or query subrequests: two collections, each with its read-back.
READ_BACK_COLLECTIONS_PER_CALL = 2
COLLECTION_SIZE = composite.COLLECTION_SIZE


def _window_param(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("start/end must be timezone-aware datetimes")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


@dataclasses.dataclass(frozen=True)
class Survey:
    """A window's record count (deleted ones included when asked) and its object's (first, last) Id."""

    count: int
    id_bounds: tuple[str, str] | None


def _describe_answer(answer: dict) -> dict | None:
    """A describe's body from its composite sub-answer; None when the object does not exist."""
    if int(answer.get("httpStatusCode", 0)) == 404:
        return None
    return composite.answer_body(answer)


class SalesforceClient:
    """One logged-in connection to an org: describe, queries (REST and Bulk 2.0), writes, limits."""

    def __init__(
        self,
        config: SalesforceConfig,
        *,
        counter: ApiCallCounter | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.transport = Transport(config, counter=counter, session=session, sleep=sleep)
        self._sleep = sleep
        self._describes = DescribeCache(self._fetch_describe)
        self._describe_global: dict | None = None
        self._bulk_rate = float(bulk.BULK_RECORDS_PER_SECOND)  # records/s a query job is prepared at (learned)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> SalesforceClient:
        """A client configured from SALESFORCE_* environment variables."""
        return cls(SalesforceConfig.from_env(environ, **overrides))

    def __repr__(self) -> str:
        return f"SalesforceClient(host={self.config.host!r}, api_calls={self.api_calls.total})"

    @property
    def api_calls(self) -> ApiCallCounter:
        """Counts of the API calls this client made (total, per purpose, per object)."""
        return self.transport.counter

    def login(self) -> None:
        """Log in now (otherwise the first call does); raises SalesforceAuthError / SalesforceConnectionError."""
        self.transport.login()

    def close(self) -> None:
        self.transport.session.close()

    # --- describe -------------------------------------------------------------------------------

    def _fetch_describe(self, obj: str) -> dict | None:
        try:
            return self.transport.request("GET", f"sobjects/{soql.name(obj)}/describe/",
                                          purpose="describe", obj=obj).json()
        except SalesforceApiError as exc:
            if exc.status == 404 or exc.error_code == "NOT_FOUND":
                return None
            raise

    def describe(self, obj: str) -> dict | None:
        """The object's describe (cached for this client); None when the object does not exist."""
        return self._describes.get(obj)

    def describe_global(self) -> dict:
        """The describe-global answer (`sobjects` list), cached for this client."""
        if self._describe_global is None:
            self._describe_global = self.transport.request("GET", "sobjects/", purpose="describe").json()
        return self._describe_global

    def clear_describe_cache(self) -> None:
        self._describes.clear()
        self._describe_global = None

    def arrow_schema(self, obj: str, paths: Sequence[str]) -> pa.Schema:
        """The Arrow schema of `obj` records with these field paths (types from describe)."""
        return arrow_schema(self.describe, obj, paths)

    def schema_for(self, query: str) -> pa.Schema:
        """The Arrow schema of a plain SELECT's pages."""
        obj, paths = soql.parse_select(query)
        return self.arrow_schema(obj, paths)

    # --- limits -------------------------------------------------------------------------------

    def limits(self) -> dict:
        """The org's `limits` resource (DailyApiRequests, DailyBulkV2QueryJobs, ...)."""
        return self.transport.request("GET", "limits/", purpose="limits").json()

    def api_usage(self) -> tuple[int, int]:
        """(used, max) daily API requests from the last Sforce-Limit-Info header (asks `limits` if none yet)."""
        if self.transport.last_usage is None:
            answer = self.limits()
            if self.transport.last_usage is None:
                usage = daily_api_usage(answer)
                if usage is None:
                    raise SalesforceError("Salesforce reported neither Sforce-Limit-Info nor DailyApiRequests")
                self.transport.last_usage = usage
        usage = self.transport.last_usage
        return usage.used, usage.max

    # --- queries ------------------------------------------------------------------------------

    def count(self, obj: str, where: str | None = None, include_deleted: bool = False) -> int:
        """`SELECT COUNT() FROM obj [WHERE where]` (queryAll with include_deleted): one API call."""
        endpoint = "queryAll/" if include_deleted else "query/"
        body = self.transport.request("GET", endpoint, params={"q": soql.count(obj, where)},
                                      purpose="count", obj=obj).json()
        return int(body["totalSize"])

    def survey(self, obj: str, where: str | None = None, *, include_deleted: bool = False,
               also_describe: Sequence[str] = ()) -> Survey:
        """What a receive asks before it fetches, in ONE composite call: `SELECT COUNT() FROM obj [WHERE
        where]` (queryAll with include_deleted), the smallest and largest Id of the whole object (for Id
        ranges; from the Id index, whatever `where`), and the describe of `obj` and of `also_describe` (e.g.
        the parents its fields name) that this client has not kept yet, as many as the call holds. Three
        query sub-requests: within Salesforce's five a call."""
        subrequests = [self.query_subrequest("count", soql.count(obj, where), include_deleted=include_deleted)]
        subrequests += [self.query_subrequest(reference, soql.select(obj, ["Id"], None, order_by=order, limit=1),
                                              include_deleted=include_deleted)
                        for reference, order in (("first", "Id ASC"), ("last", "Id DESC"))]
        unknown = list(dict.fromkeys(o for o in (obj, *also_describe) if not self._describes.known(o)))
        described = unknown[:composite.COMPOSITE_MAX_SUBREQUESTS - len(subrequests)]
        subrequests += [composite.subrequest("GET", f"{self.transport.data_path}/sobjects/{soql.name(o)}/describe/",
                                             f"describe{n}") for n, o in enumerate(described)]
        answers = self.composite(subrequests)
        for name, answer in zip(described, answers[3:], strict=True):
            try:
                self._describes.put(name, _describe_answer(answer))
            except SalesforceApiError:
                if name == obj:
                    raise
                # another object's failed describe is this receive's business only once it needs it:
                # not kept, so describe() asks again then and raises there
        count = int(composite.answer_body(answers[0])["totalSize"])
        first, last = ((composite.answer_body(a).get("records") or [{}])[0].get("Id") for a in answers[1:3])
        return Survey(count, (first, last) if first and last else None)

    def query_pages(self, query: str, *, include_deleted: bool = False, batch_size: int = 2000
                    ) -> Iterator[pa.Table]:
        """Each REST query page as a table: columns are the select-list paths, typed from describe."""
        obj, _ = soql.parse_select(query)
        schema = self.schema_for(query)
        for body in pages.iter_query_bodies(self.transport, query, include_deleted=include_deleted,
                                            batch_size=batch_size, obj=obj):
            yield pages.records_to_table(body.get("records", []), schema)

    def query_records(self, query: str, *, include_deleted: bool = False) -> Iterator[dict]:
        """The raw REST records of a query (any SOQL), across pages, without `attributes`."""
        try:
            obj: str | None = soql.parse_select(query)[0]
        except ValueError:  # aggregates, subqueries: counted without an object
            obj = None
        for body in pages.iter_query_bodies(self.transport, query, include_deleted=include_deleted, obj=obj):
            for record in body.get("records", []):
                yield {k: v for k, v in record.items() if k != "attributes"}

    def bulk_query(self, query: str, *, include_deleted: bool = False, max_records: int = 1_000_000,
                   page_rows: int = 50_000, expected_records: int = 0) -> Iterator[pa.Table]:
        """A Bulk API 2.0 query job; its rows as tables of at most `page_rows` rows, with the same schema
        as query_pages (see bulk_query_parts)."""
        return self.bulk_query_parts([query], include_deleted=include_deleted, max_records=max_records,
                                     page_rows=page_rows, expected_records=expected_records)

    def bulk_query_parts(self, queries: Sequence[str], *, include_deleted: bool = False,
                         max_records: int = 1_000_000, page_rows: int = 50_000, expected_records: int = 0,
                         in_flight: int = 2) -> Iterator[pa.Table]:
        """One Bulk API 2.0 query job per query (parts of one query, e.g. Id ranges: same object, same
        select list); the rows of each job in turn, as tables of at most `page_rows` rows.

        Up to `in_flight` jobs exist at a time, so Salesforce prepares the next part while this one's rows
        are read. Each results request asks for up to `max_records` records (one API call) and is parsed
        while it streams in. `expected_records` (e.g. from a COUNT(), for all parts together) spaces the
        status polls: the first waits about as long as the job needs at the rate this client last saw a
        job prepared at (at first BULK_RECORDS_PER_SECOND), so a large job costs few poll calls.
        """
        if not queries:
            return
        if in_flight < 1:
            raise ValueError(f"in_flight must be at least 1, not {in_flight}")
        obj, _ = soql.parse_select(queries[0])
        schema = self.schema_for(queries[0])
        per_job = expected_records / len(queries)
        jobs: deque[tuple[dict, float]] = deque()
        waiting = iter(queries)
        for query in waiting:
            jobs.append((bulk.create_query_job(self.transport, query, include_deleted=include_deleted, obj=obj),
                         time.monotonic()))
            if len(jobs) >= in_flight:
                break
        while jobs:
            job, created = jobs.popleft()
            needed = per_job / self._bulk_rate - (time.monotonic() - created)
            info = bulk.wait_for_job(self.transport, "query", job, obj=obj, sleep=self._sleep, first_wait=needed)
            self._learn_bulk_rate(int(info.get("numberRecordsProcessed") or 0), time.monotonic() - created)
            for query in waiting:  # the next part starts before this one's rows are read
                jobs.append((bulk.create_query_job(self.transport, query, include_deleted=include_deleted,
                                                   obj=obj), time.monotonic()))
                break
            yield from bulk.iter_result_tables(self.transport, job["id"], schema, max_records=max_records,
                                               page_rows=page_rows, obj=obj)

    def _learn_bulk_rate(self, records: int, seconds: float) -> None:
        """Take the rate at which this org prepared a query job's results as the next first wait's guide:
        a bit above the one seen (that one includes the wait's overshoot), so the guess can rise again."""
        if records >= bulk.LEARN_MIN_RECORDS and seconds > 0:
            self._bulk_rate = 1.25 * records / seconds

    def updated(self, obj: str, start: datetime, end: datetime) -> list[str]:
        """Ids of `obj` records updated in [start, end] (the `updated` resource; minute resolution)."""
        body = self.transport.request(
            "GET", f"sobjects/{soql.name(obj)}/updated/",
            params={"start": _window_param(start), "end": _window_param(end)}, purpose="updated", obj=obj,
        ).json()
        return list(body.get("ids", []))

    def deleted(self, obj: str, start: datetime, end: datetime) -> list[tuple[str, datetime]]:
        """(Id, deletedDate) of `obj` records deleted in [start, end] (the `deleted` resource, 15 days back)."""
        body = self.transport.request(
            "GET", f"sobjects/{soql.name(obj)}/deleted/",
            params={"start": _window_param(start), "end": _window_param(end)}, purpose="deleted", obj=obj,
        ).json()
        return [(item["id"], datetime.fromisoformat(item["deletedDate"]).astimezone(UTC))
                for item in body.get("deletedRecords", [])]

    # --- composite ----------------------------------------------------------------------------

    def query_subrequest(self, reference_id: str, query: str, *, include_deleted: bool = False) -> dict:
        """A `/composite` sub-request running `query` (e.g. a COUNT() per object in one call)."""
        endpoint = "queryAll" if include_deleted else "query"
        url = f"{self.transport.data_path}/{endpoint}?q={url_quote(query, safe='')}"
        return composite.subrequest("GET", url, reference_id)

    def composite(self, subrequests: list[dict], all_or_none: bool = False) -> list[dict]:
        """Up to 25 sub-requests in one API call; their compositeResponse entries, in order."""
        if not subrequests:
            return []
        if len(subrequests) > composite.COMPOSITE_MAX_SUBREQUESTS:
            raise ValueError(f"a composite request holds at most {composite.COMPOSITE_MAX_SUBREQUESTS} sub-requests")
        reads_only = all(str(r.get("method", "GET")).upper() == "GET" for r in subrequests)
        body = self.transport.request("POST", "composite", json={"allOrNone": all_or_none,
                                                                 "compositeRequest": subrequests},
                                      purpose="composite", idempotent=reads_only).json()
        return list(body.get("compositeResponse", []))

    # --- writes -------------------------------------------------------------------------------

    def collections_write(
        self,
        operation: WriteOperation,
        obj: str,
        records: Sequence[dict] | Sequence[str],
        *,
        external_id_field: str | None = None,
        read_back: Sequence[str] = (),
        collections_per_call: int = 1,
        collection_size: int = COLLECTION_SIZE,
    ) -> list[RecordResult]:
        """Write records with sObject Collections, `collection_size` (at most 200) a collection, allOrNone=false;
        results in input order.

        Records that fail only with UNABLE_TO_LOCK_ROW are sent again (bounded, with backoff).
        For delete, `records` may be Ids or dicts with an Id.
        With `read_back` fields (update and upsert only), ONE `/composite` call holds up to
        `collections_per_call` collections (at most READ_BACK_COLLECTIONS_PER_CALL: Salesforce allows five
        collections or query subrequests a call) each followed by a query of those fields for its records (by
        Id, or by external Id for upsert); each successful result then carries them in `read_back`. A
        collection refused as a whole fails the call (SalesforceApiError).
        """
        if read_back and operation in ("update", "upsert"):
            fields = list(read_back)
            per_call = max(1, min(collections_per_call, READ_BACK_COLLECTIONS_PER_CALL))

            def send(batches: list[list]) -> list[list[RecordResult]]:
                return self._send_collections_and_read_back(operation, obj, batches, external_id_field, fields)
        else:
            per_call = 1

            def send(batches: list[list]) -> list[list[RecordResult]]:
                return [self._send_collection(operation, obj, batch, external_id_field) for batch in batches]
        results: list[RecordResult] = []
        policy = self.transport.policy
        chunks = list(composite.chunks(records, min(collection_size, COLLECTION_SIZE)))
        for start in range(0, len(chunks), per_call):
            group = chunks[start:start + per_call]
            answers: list[list[RecordResult | None]] = [[None] * len(chunk) for chunk in group]
            pending = [list(range(len(chunk))) for chunk in group]
            attempt = 0
            while any(pending):
                attempt += 1
                live = [(g, indexes) for g, indexes in enumerate(pending) if indexes]
                sent = send([[group[g][i] for i in indexes] for g, indexes in live])
                pending = [[] for _ in group]
                for (g, indexes), batch_results in zip(live, sent, strict=True):
                    for index, result in zip(indexes, batch_results, strict=True):
                        answers[g][index] = result
                        locked = result.error_codes and set(result.error_codes) == {"UNABLE_TO_LOCK_ROW"}
                        if locked and policy.can_retry(attempt):
                            pending[g].append(index)
                if any(pending):
                    self._sleep(policy.delay(attempt))
            for chunk_answers in answers:
                results.extend(r for r in chunk_answers if r is not None)
        return results

    def _send_collection(self, operation: WriteOperation, obj: str, batch: list,
                         external_id_field: str | None) -> list[RecordResult]:
        """One sObject Collections call."""
        method, path, params, body = composite.collection_request(operation, obj, batch, external_id_field)
        answer = self.transport.request(method, path, params=params, json=body,
                                        purpose=f"collections_{operation}", obj=obj).json()
        return composite.parse_collection_results(operation, answer, batch)

    def _send_collections_and_read_back(self, operation: WriteOperation, obj: str, batches: list[list[dict]],
                                        external_id_field: str | None, fields: list[str]
                                        ) -> list[list[RecordResult]]:
        """One `/composite` call: per batch, the collections write, then a query of `fields` for its records."""
        key = "Id" if operation == "update" else external_id_field
        if not key:
            raise ValueError("an upsert needs external_id_field")
        subrequests, methods = [], set()
        for n, batch in enumerate(batches):
            method, path, params, body = composite.collection_request(operation, obj, batch, external_id_field)
            methods.add(method)
            keys = [str(r[key]) for r in batch if r.get(key)]
            query = soql.select(obj, list(dict.fromkeys(["Id", key, *fields])),
                                f"{soql.path(key)} IN ({','.join(soql.quote(k) for k in keys)})")
            write_url = f"{self.transport.data_path}/{path}"
            if params:
                write_url += "?" + "&".join(f"{k}={url_quote(str(v), safe='')}" for k, v in params.items())
            subrequests += [
                composite.subrequest(method, write_url, f"write{n}", body),
                composite.subrequest("GET", f"{self.transport.data_path}/query?q={url_quote(query, safe='')}",
                                     f"read_back{n}"),
            ]
        answers = self.transport.request("POST", "composite", json={"allOrNone": False,
                                                                    "compositeRequest": subrequests},
                                         purpose=f"collections_{operation}", obj=obj,
                                         idempotent="POST" not in methods).json()["compositeResponse"]

        def normal(value: object) -> str:  # Ids match exactly; external Ids without regard to case
            return str(value) if key == "Id" else str(value).lower()

        out = []
        for n, batch in enumerate(batches):
            written, read = answers[2 * n], answers[2 * n + 1]
            if int(written.get("httpStatusCode", 0)) >= 400:
                error = (written.get("body") or [{}])[0]
                raise SalesforceApiError(int(written["httpStatusCode"]), error.get("errorCode", "UNKNOWN"),
                                         error.get("message", ""), error.get("fields", ()),
                                         purpose=f"collections_{operation}")
            rows = read["body"].get("records", []) if int(read.get("httpStatusCode", 0)) < 400 else []
            by_key = {normal(r.get(key)): r for r in rows}
            results = []
            for record, result in zip(batch, composite.parse_collection_results(operation, written["body"], batch),
                                      strict=True):
                found = by_key.get(normal(record.get(key) or ""))
                if result.success and found is not None:
                    result = dataclasses.replace(result, read_back={f: found.get(f) for f in fields})
                results.append(result)
            out.append(results)
        return out

    @property
    def user_id(self) -> str | None:
        """The Id of the user this client is logged in as (after the first call)."""
        return self.transport.user_id

    def bulk_ingest(
        self,
        operation: IngestOperation,
        obj: str,
        data: pa.Table | Iterable[dict],
        *,
        external_id_field: str | None = None,
    ) -> list[RecordResult]:
        """Write records with Bulk API 2.0 ingest jobs (split at ~90 MB of CSV); one RecordResult a record.

        Results are not in input order; each carries the echoed input row (`input`) to match it.
        A None value sets the field to null (#N/A); a key missing from a row leaves the field unchanged.
        """
        rows = data.to_pylist() if isinstance(data, pa.Table) else list(data)
        operation = "insert" if operation == "create" else operation
        results: list[RecordResult] = []
        for payload, count in bulk.rows_to_csv_chunks(rows):
            results.extend(bulk.run_ingest_job(self.transport, operation, obj, payload,
                                               external_id_field=external_id_field, sleep=self._sleep,
                                               rows=count))
        return results
