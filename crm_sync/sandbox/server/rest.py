"""REST resources: versions, resources, limits, query/queryAll, describe, sObject rows, updated/deleted."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from crm_sync.sandbox import ids, timefmt
from crm_sync.sandbox.catalog import SObject, describe_object
from crm_sync.sandbox.errors import SalesforceError
from crm_sync.sandbox.server.cursors import batch_size_from_header
from crm_sync.sandbox.server.dispatch import ApiRequest, ApiResult, ApiRouter
from crm_sync.sandbox.server.responses import not_found
from crm_sync.sandbox.server.versions import FIRST_VERSION, LAST_VERSION
from crm_sync.sandbox.soql import compile_soql

if TYPE_CHECKING:
    from crm_sync.sandbox.org import Org

router = ApiRouter()

# Salesforce REST resources the sandbox knows of but does not offer: answered with NOT_SUPPORTED_BY_SANDBOX.
UNSUPPORTED_RESOURCES = frozenset({
    "search", "parameterizedSearch", "tooling", "recent", "analytics", "actions", "process", "ui-api",
    "connect", "chatter", "quickActions", "support", "appMenu", "licensing", "scheduling", "consent",
    "localizedvalue", "event", "theme", "tabs", "compactLayouts", "async-queries", "knowledgeManagement",
    "wave", "smartdatadiscovery", "graphql", "commerce", "apps", "eclair", "payments", "jsonxform",
})
UNSUPPORTED_SOBJECT_RESOURCES = frozenset({
    "listviews", "quickActions", "describe/layouts", "describe/compactLayouts", "describe/approvalLayouts",
    "relationships", "richTextImageFields", "eventSchema", "platformaction",
})

REPLICATION_DAYS = 30
RECYCLE_BIN_DAYS = 15
_SEASONS = ("Winter", "Spring", "Summer")


def api_versions(first: int = FIRST_VERSION, last: int = LAST_VERSION) -> list[dict]:
    """GET /services/data/: the API versions the sandbox answers (others: see dispatch.version_error)."""
    versions = []
    for number in range(first, last + 1):
        offset = number - 59  # v59.0 is Winter '24; three releases a year
        label = f"{_SEASONS[offset % 3]} '{24 + offset // 3}"
        versions.append({"label": label, "url": f"/services/data/v{number}.0", "version": f"{number}.0"})
    return versions


def sobject_or_404(org: Org, name: str) -> SObject:
    sobject = org.catalog.get(name)
    if sobject is None:
        raise not_found()
    return sobject


def record_url(base_url: str, sobject: SObject, record_id: str) -> str:
    return f"{base_url}/sobjects/{sobject.name}/{record_id}"


def with_attributes(sobject: SObject, record: dict, base_url: str) -> dict:
    """A record in REST form: `attributes` first, then the fields."""
    attributes = {"type": sobject.name}
    if record.get("Id"):
        attributes["url"] = record_url(base_url, sobject, record["Id"])
    return {"attributes": attributes, **record}


def key_value(body: dict, name: str) -> Any:
    """The value under `name` in a JSON object, the key matched case-insensitively as Salesforce does."""
    wanted = name.lower()
    return next((value for key, value in body.items() if isinstance(key, str) and key.lower() == wanted), None)


def record_values(body: object, *, without: str = "") -> dict:
    """A request body's field values (without `attributes`, nor the field `without`), or JSON_PARSER_ERROR.

    Keys are matched case-insensitively: `"id"`, `"ATTRIBUTES"` and `"Id"` mean the same.
    """
    if not isinstance(body, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "Expected a JSON object of field values")
    dropped = {"attributes", without.lower()}
    return {key: value for key, value in body.items() if not (isinstance(key, str) and key.lower() in dropped)}


def checked_id(sobject: SObject, value: str) -> str:
    """The 18-character Id of a record of this object named in a URL, or Salesforce's error."""
    record_id = ids.normalize_id(value)
    if record_id is None:
        raise SalesforceError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {value}")
    if ids.key_prefix(record_id) != sobject.key_prefix:
        raise SalesforceError(400, "MALFORMED_ID", f"{sobject.label} ID: id value of incorrect type: {value}")
    return record_id


def write_success(record_id: str, created: bool | None = None) -> dict:
    body: dict = {"id": record_id, "success": True, "errors": []}
    if created is not None:
        body["created"] = created
    return body


# ----- resources, limits --------------------------------------------------------------------------

@router.route("GET", "")
def resources(org: Org, req: ApiRequest) -> ApiResult:
    return ApiResult(body={name: f"{req.base_url}/{name}"
                           for name in ("sobjects", "query", "queryAll", "composite", "limits")})


@router.route("GET", "limits")
def limits(org: Org, req: ApiRequest) -> ApiResult:
    return ApiResult(body=org.usage.limits_resource())


# ----- query --------------------------------------------------------------------------------------

def run_query(org: Org, req: ApiRequest, text: str | None, endpoint: str) -> dict:
    """The first page of a SOQL query (query or queryAll), opening a cursor for the rest."""
    if not text or not text.strip():
        raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
    include_deleted = endpoint == "queryAll"
    compiled = compile_soql(text, org.catalog, include_deleted=include_deleted, now=org.now())
    if compiled.is_count:
        with org.store.reader() as conn:
            total = conn.execute(compiled.sql, compiled.params).fetchone()[0]
        return {"totalSize": total, "done": True, "records": []}
    batch_size = batch_size_from_header(req.headers.get("sforce-query-options"))
    return org.cursors.first_page(compiled, batch_size, req.base_url, endpoint)


def more_results(org: Org, req: ApiRequest, locator: str) -> dict:
    cursor_id, sep, position = locator.rpartition("-")
    if not sep or not position.isdigit():
        raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    header = req.headers.get("sforce-query-options")
    batch_size = batch_size_from_header(header) if header else None
    return org.cursors.next_page(cursor_id, int(position), req.base_url, batch_size)


@router.route("GET", "query")
def query(org: Org, req: ApiRequest) -> ApiResult:
    return ApiResult(body=run_query(org, req, req.param("q"), "query"))


@router.route("GET", "queryAll")
def query_all(org: Org, req: ApiRequest) -> ApiResult:
    return ApiResult(body=run_query(org, req, req.param("q"), "queryAll"))


@router.route("GET", "query/{locator}")
def query_more(org: Org, req: ApiRequest, locator: str) -> ApiResult:
    return ApiResult(body=more_results(org, req, locator))


@router.route("GET", "queryAll/{locator}")
def query_all_more(org: Org, req: ApiRequest, locator: str) -> ApiResult:
    return ApiResult(body=more_results(org, req, locator))


# ----- describe -----------------------------------------------------------------------------------

@router.route("GET", "sobjects")
def describe_global(org: Org, req: ApiRequest) -> ApiResult:
    return ApiResult(body={
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [describe_object(o, req.base_url, fields=False) for o in org.catalog.objects],
    })


@router.route("GET", "sobjects/{obj}")
def sobject_basic_info(org: Org, req: ApiRequest, obj: str) -> ApiResult:
    sobject = sobject_or_404(org, obj)
    return ApiResult(body={"objectDescribe": describe_object(sobject, req.base_url, fields=False),
                           "recentItems": []})


@router.route("GET", "sobjects/{obj}/describe")
def sobject_describe(org: Org, req: ApiRequest, obj: str) -> ApiResult:
    return ApiResult(body=describe_object(sobject_or_404(org, obj), req.base_url))


# ----- updated / deleted --------------------------------------------------------------------------

def _replication_window(org: Org, req: ApiRequest, max_days: int) -> tuple[datetime, datetime]:
    """The [start, end] window of getUpdated/getDeleted: whole minutes, end no later than now."""
    bounds = []
    for name in ("start", "end"):
        text = req.param(name)
        if not text:
            raise SalesforceError(400, "MISSING_ARGUMENT", f"{name} must be specified")
        try:
            value = timefmt.parse_datetime(text)
        except ValueError:
            raise SalesforceError(400, "INVALID_REPLICATION_DATE",
                                  f"{name} is not a valid dateTime: {text}") from None
        bounds.append(value.replace(second=0, microsecond=0))
    start, end = bounds
    now = org.now().replace(second=0, microsecond=0)
    end = min(end, now)
    if end < start:
        raise SalesforceError(400, "INVALID_REPLICATION_DATE", "end date cannot be before start date")
    if start < now - timedelta(days=max_days):
        raise SalesforceError(400, "INVALID_REPLICATION_DATE",
                              f"startDate cannot be more than {max_days} days ago")
    return start, end


@router.route("GET", "sobjects/{obj}/updated")
def sobject_updated(org: Org, req: ApiRequest, obj: str) -> ApiResult:
    sobject = sobject_or_404(org, obj)
    start, end = _replication_window(org, req, REPLICATION_DAYS)
    found = org.store.updated(sobject.name, start, end)
    return ApiResult(body={"ids": found, "latestDateCovered": timefmt.format_datetime(end)})


@router.route("GET", "sobjects/{obj}/deleted")
def sobject_deleted(org: Org, req: ApiRequest, obj: str) -> ApiResult:
    sobject = sobject_or_404(org, obj)
    start, end = _replication_window(org, req, REPLICATION_DAYS)
    found = org.store.deleted(sobject.name, start, end)
    earliest = (org.now() - timedelta(days=RECYCLE_BIN_DAYS)).replace(second=0, microsecond=0)
    return ApiResult(body={
        "deletedRecords": found,
        "earliestDateAvailable": timefmt.format_datetime(earliest),
        "latestDateCovered": timefmt.format_datetime(end),
    })


# ----- sObject rows -------------------------------------------------------------------------------

@router.route("POST", "sobjects/{obj}")
def create_record(org: Org, req: ApiRequest, obj: str) -> ApiResult:
    sobject = sobject_or_404(org, obj)
    values = record_values(req.json())
    record_id = org.writes.create(sobject.name, values, user_id=req.user_id)
    return ApiResult(201, write_success(record_id))


@router.route("GET", "sobjects/{obj}/{record_id}")
def get_record(org: Org, req: ApiRequest, obj: str, record_id: str) -> ApiResult:
    sobject = sobject_or_404(org, obj)
    wanted = req.param("fields")
    fields = [f.strip() for f in wanted.split(",") if f.strip()] if wanted else None
    record = org.store.get(sobject.name, checked_id(sobject, record_id), fields)
    return ApiResult(body=with_attributes(sobject, record, req.base_url))


@router.route("PATCH", "sobjects/{obj}/{record_id}")
def update_record(org: Org, req: ApiRequest, obj: str, record_id: str) -> ApiResult:
    sobject = sobject_or_404(org, obj)
    record_id = checked_id(sobject, record_id)
    org.writes.update(sobject.name, record_id, record_values(req.json()), user_id=req.user_id)
    return ApiResult(204)


@router.route("DELETE", "sobjects/{obj}/{record_id}")
def delete_record(org: Org, req: ApiRequest, obj: str, record_id: str) -> ApiResult:
    sobject = sobject_or_404(org, obj)
    org.writes.delete(sobject.name, checked_id(sobject, record_id), user_id=req.user_id)
    return ApiResult(204)


def _external_field(sobject: SObject, name: str) -> str:
    field = sobject.field(name)
    if field is None or not (field.external_id or field.name == "Id"):
        raise SalesforceError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}")
    return field.name


def _find_external(org: Org, sobject: SObject, field: str, value: str) -> str:
    record_id = org.store.find_by_external(sobject.name, field, value)
    if record_id is None:
        raise not_found()
    return record_id


@router.route("GET", "sobjects/{obj}/{field}/{value}")
def get_by_external_id(org: Org, req: ApiRequest, obj: str, field: str, value: str) -> ApiResult:
    sobject = sobject_or_404(org, obj)
    record_id = _find_external(org, sobject, _external_field(sobject, field), value)
    wanted = req.param("fields")
    fields = [f.strip() for f in wanted.split(",") if f.strip()] if wanted else None
    return ApiResult(body=with_attributes(sobject, org.store.get(sobject.name, record_id, fields), req.base_url))


@router.route("PATCH", "sobjects/{obj}/{field}/{value}")
def upsert_record(org: Org, req: ApiRequest, obj: str, field: str, value: str) -> ApiResult:
    """Upsert by external Id: 201 + created=true for a new record, 200 + created=false for an update."""
    sobject = sobject_or_404(org, obj)
    field_name = _external_field(sobject, field)
    values = record_values(req.json())
    if req.param("updateOnly", "false").lower() == "true":
        record_id = _find_external(org, sobject, field_name, value)
        org.writes.update(sobject.name, record_id, values, user_id=req.user_id)
        return ApiResult(200, write_success(record_id, created=False))
    record_id, created = org.writes.upsert(sobject.name, field_name, value, values, user_id=req.user_id)
    return ApiResult(201 if created else 200, write_success(record_id, created=created))


@router.route("DELETE", "sobjects/{obj}/{field}/{value}")
def delete_by_external_id(org: Org, req: ApiRequest, obj: str, field: str, value: str) -> ApiResult:
    sobject = sobject_or_404(org, obj)
    record_id = _find_external(org, sobject, _external_field(sobject, field), value)
    org.writes.delete(sobject.name, record_id, user_id=req.user_id)
    return ApiResult(204)
