"""sObject Collections (/composite/sobjects) and the composite resource (/composite).

Collections write up to 200 records, each through the same path as a single REST write, and answer
one result per record; the records of one call commit together, and a failed record undoes only itself
(its checks come before its one statement; see OrgStore._write). The unique values of a call's records
are looked up once, in its transaction, before the first record (Store.look_up_unique). With
allOrNone=true every write runs in one Store transaction: one failed record undoes all, and the others
answer ALL_OR_NONE_OPERATION_ROLLED_BACK.
/composite runs up to 25 subrequests in order through the REST router (one API call in all), with
`@{referenceId.path}` substitution; with allOrNone=true a failed subrequest rolls everything back, and
the others answer PROCESSING_HALTED. Its allOrNone=true overrides a collection subrequest's own flag: the
collection runs all-or-none, and one failed record fails the composite (the collection still answers 200
with its per-record results). With allOrNone=false each collection keeps its own flag, and an all-or-none
one undoes only its own records (its transaction is a savepoint of the composite's, see
OrgStore.transaction). Inside an allOrNone group, reads see the group's own writes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.responses import Response

from crm_sync.sandbox import ids
from crm_sync.sandbox.errors import SalesforceError, not_supported
from crm_sync.sandbox.server.dispatch import (
    NO_BODY,
    ApiRequest,
    ApiResult,
    ApiRouter,
    parse_query_string,
)
from crm_sync.sandbox.server.responses import record_error
from crm_sync.sandbox.server.rest import (
    key_value,
    record_values,
    sobject_or_404,
    with_attributes,
    write_success,
)
from crm_sync.sandbox.server.versions import version_error

if TYPE_CHECKING:
    from crm_sync.sandbox.org import Org

router = ApiRouter()

MAX_COLLECTION_RECORDS = 200
MAX_SUBREQUESTS = 25
ROLLED_BACK = SalesforceError(
    400, "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)
HALTED_MESSAGE = "The transaction was rolled back since another operation in the same transaction failed."
_REFERENCE_RE = re.compile(r"@\{([^}]+)\}")


class _Rollback(Exception):
    """Raised inside an all-or-none group to undo its writes."""


def _failure(error: SalesforceError, record_id: str | None = None) -> dict:
    result: dict = {"success": False, "errors": [record_error(error)]}
    if record_id:
        result = {"id": record_id, **result}
    return result


def _records(body: dict) -> list:
    records = body.get("records")
    if not isinstance(records, list):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "The request needs a records array")
    _check_size(len(records))
    return records


def _check_size(count: int) -> None:
    if count > MAX_COLLECTION_RECORDS:
        raise SalesforceError(400, "EXCEEDED_ID_LIMIT",
                              f"record limit reached. cannot submit more than {MAX_COLLECTION_RECORDS} "
                              "records into this call")


def _all_or_none(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def run_collection(org: Org, items: list, write: Callable[[Any], dict], ids_of: Callable[[Any], str | None],
                   all_or_none: bool, prepare: Callable[[], None] | None = None) -> list[dict]:
    """One result per item; `write` raises SalesforceError for a failed item. `prepare` runs first, inside
    the transaction (look-ups made once for all the items)."""

    def attempt(item: Any) -> tuple[dict, bool]:
        try:
            return write(item), True
        except SalesforceError as error:
            return _failure(error, ids_of(item)), False

    if not all_or_none:
        # one transaction for the collection: a failed record undoes only itself, the others commit together
        # (one commit, not one per record)
        with org.store.transaction():
            if prepare is not None:
                prepare()
            return [attempt(item)[0] for item in items]
    outcomes: list[tuple[dict, bool]] = []
    try:
        with org.writes.all_or_none():
            if prepare is not None:
                prepare()
            outcomes = [attempt(item) for item in items]
            if not all(ok for _, ok in outcomes):
                raise _Rollback
    except _Rollback:
        return [result if not ok else _failure(ROLLED_BACK, ids_of(item))
                for item, (result, ok) in zip(items, outcomes, strict=True)]
    return [result for result, _ in outcomes]


def _record_type(org: Org, record: Any) -> str:
    if not isinstance(record, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
    attributes = key_value(record, "attributes")
    name = key_value(attributes, "type") if isinstance(attributes, dict) else None
    if not name:
        raise SalesforceError(400, "INVALID_TYPE", "No SObject Type defined in JSON")
    sobject = org.catalog.get(str(name))
    if sobject is None:
        raise SalesforceError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.")
    return sobject.name


def _look_up_unique(org: Org, records: list) -> None:
    """One look-up per object and unique field for the values the records give (see Store.look_up_unique);
    records it cannot read are left to their own write, which answers their error."""
    values: dict[str, dict[str, list]] = {}
    for record in records:
        attributes = key_value(record, "attributes") if isinstance(record, dict) else None
        name = key_value(attributes, "type") if isinstance(attributes, dict) else None
        sobject = org.catalog.get(name) if isinstance(name, str) else None
        if sobject is None or not sobject.unique_fields:
            continue
        wanted = {field.name.lower(): field.name for field in sobject.unique_fields}
        of_object = values.setdefault(sobject.name, {})
        for key, value in record.items():
            field = wanted.get(key.lower()) if isinstance(key, str) else None
            if field is not None:
                of_object.setdefault(field, []).append(value)
    for obj, by_field in values.items():
        org.store.look_up_unique(obj, by_field)


def _record_id_of(record: Any) -> str | None:
    record_id = key_value(record, "Id") if isinstance(record, dict) else None
    if isinstance(record_id, str):
        return ids.normalize_id(record_id) or record_id
    return None


@router.route("POST", "composite/sobjects")
def collection_create(org: Org, req: ApiRequest) -> ApiResult:
    body = req.json_object()
    records = _records(body)

    def create(record: Any) -> dict:
        obj = _record_type(org, record)
        return write_success(org.writes.create(obj, record_values(record), user_id=req.user_id))

    return ApiResult(body=run_collection(org, records, create, lambda _: None, _all_or_none(body.get("allOrNone")),
                                         prepare=lambda: _look_up_unique(org, records)))


@router.route("PATCH", "composite/sobjects")
def collection_update(org: Org, req: ApiRequest) -> ApiResult:
    body = req.json_object()
    records = _records(body)

    def update(record: Any) -> dict:
        obj = _record_type(org, record)
        record_id = key_value(record, "Id")
        if not record_id:
            raise SalesforceError(400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        if not isinstance(record_id, str) or not ids.is_valid_id(record_id):
            raise SalesforceError(400, "MALFORMED_ID", f"malformed id {record_id}", ["Id"])
        values = record_values(record, without="Id")
        org.writes.update(obj, ids.to_18(record_id), values, user_id=req.user_id)
        return write_success(ids.to_18(record_id))

    return ApiResult(body=run_collection(org, records, update, _record_id_of, _all_or_none(body.get("allOrNone")),
                                         prepare=lambda: _look_up_unique(org, records)))


@router.route("PATCH", "composite/sobjects/{obj}/{field}")
def collection_upsert(org: Org, req: ApiRequest, obj: str, field: str) -> ApiResult:
    sobject = sobject_or_404(org, obj)
    external = sobject.field(field)
    if external is None or not (external.external_id or external.name == "Id"):
        raise SalesforceError(400, "INVALID_FIELD",
                              f"Provided external ID field does not exist or is not accessible: {field}")
    body = req.json_object()
    records = _records(body)
    external_key = external.name.lower()

    def upsert(record: Any) -> dict:
        name = _record_type(org, record)
        if name != sobject.name:
            raise SalesforceError(400, "INVALID_TYPE",
                                  f"Record type {name} does not match the upsert object {sobject.name}")
        values = record_values(record)
        value = next((v for k, v in values.items() if k.lower() == external_key), None)
        if value in (None, ""):
            if external.name == "Id":
                return write_success(org.writes.create(sobject.name, values, user_id=req.user_id), created=True)
            raise SalesforceError(400, "MISSING_ARGUMENT", f"{external.name} not specified", [external.name])
        record_id, created = org.writes.upsert(sobject.name, external.name, str(value), values,
                                               user_id=req.user_id)
        return write_success(record_id, created=created)

    return ApiResult(body=run_collection(org, records, upsert, lambda _: None, _all_or_none(body.get("allOrNone")),
                                         prepare=lambda: _look_up_unique(org, records)))


@router.route("DELETE", "composite/sobjects")
def collection_delete(org: Org, req: ApiRequest) -> ApiResult:
    listed = [part for value in req.query.get("ids", []) for part in value.split(",") if part.strip()]
    if not listed:
        raise SalesforceError(400, "MISSING_ARGUMENT", "The ids parameter is required")
    _check_size(len(listed))

    def delete(value: str) -> dict:
        record_id = ids.normalize_id(value.strip())
        sobject = org.catalog.by_prefix(ids.key_prefix(record_id)) if record_id else None
        if record_id is None or sobject is None:
            raise SalesforceError(400, "MALFORMED_ID", f"malformed id {value.strip()}")
        org.writes.delete(sobject.name, record_id, user_id=req.user_id)
        return write_success(record_id)

    return ApiResult(body=run_collection(org, listed, delete, lambda v: ids.normalize_id(v.strip()) or v.strip(),
                                         _all_or_none(req.param("allOrNone"))))


@router.route("GET", "composite/sobjects/{obj}")
def collection_retrieve(org: Org, req: ApiRequest, obj: str) -> ApiResult:
    sobject = sobject_or_404(org, obj)
    listed = [part.strip() for value in req.query.get("ids", []) for part in value.split(",") if part.strip()]
    fields = [part.strip() for value in req.query.get("fields", []) for part in value.split(",") if part.strip()]
    if not listed or not fields:
        raise SalesforceError(400, "MISSING_ARGUMENT", "The ids and fields parameters are required")
    _check_size(len(listed))
    found: list = []
    for value in listed:
        try:
            found.append(with_attributes(sobject, org.store.get(sobject.name, value, fields), req.base_url))
        except SalesforceError as error:
            if error.status != 404:
                raise
            found.append(None)
    return ApiResult(body=found)


def _unsupported_composite(org: Org, req: ApiRequest, **_: str) -> ApiResult:
    raise not_supported(f"The /{req.path} resource")


for _template in ("composite/batch", "composite/tree/{obj}", "composite/graph"):
    router.add("POST", _template, _unsupported_composite)


# ----- /composite ---------------------------------------------------------------------------------

class _MissingReference(Exception):
    pass


def _resolve(expression: str, results: dict[str, Any]) -> Any:
    reference, _, path = expression.partition(".")
    if reference not in results:
        raise _MissingReference(expression)
    value = results[reference]
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        try:
            value = value[int(part[1:-1])] if part.startswith("[") else value[part]
        except (KeyError, IndexError, TypeError):
            raise _MissingReference(expression) from None
    return value


def _substitute(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _REFERENCE_RE.fullmatch(value)
        if whole:
            return _resolve(whole.group(1), results)
        return _REFERENCE_RE.sub(lambda m: str(_resolve(m.group(1), results)), value)
    if isinstance(value, dict):
        return {key: _substitute(item, results) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, results) for item in value]
    return value


def _subresponse(reference: str, status: int, body: Any, headers: dict | None = None) -> dict:
    return {"body": body, "httpHeaders": headers or {}, "httpStatusCode": status, "referenceId": reference}


def _halted(reference: str, message: str = HALTED_MESSAGE) -> dict:
    return _subresponse(reference, 400, [{"errorCode": "PROCESSING_HALTED", "message": message}])


def _run_subrequest(org: Org, req: ApiRequest, sub: dict, results: dict[str, Any], *,
                    substitute: bool = True, all_or_none: bool = False) -> tuple[int, Any, dict, bool]:
    """One subrequest through the REST router: status, body, headers and whether it succeeded.
    `substitute=False` when the request holds no `@{` at all (nothing to substitute, so its bodies are not
    walked). `all_or_none`: the composite's allOrNone=true, which a collection write takes as its own and
    which makes one failed record of it fail the subrequest."""
    from crm_sync.sandbox.server.api import API_ROUTER

    method = str(sub.get("method", "")).upper()
    url = _substitute(str(sub.get("url", "")), results)
    body = sub.get("body")
    if substitute and "body" in sub:
        body = _substitute(body, results)
    parts = urlsplit(url)
    segments = parts.path.strip("/").split("/")
    if segments[:2] != ["services", "data"] or len(segments) < 3 or version_error(segments[2]) is not None:
        raise SalesforceError(400, "INVALID_URL", f"The url {url} is not a REST API resource of this org")
    path = "/".join(segments[3:])
    if path.startswith(("composite", "jobs")) and not path.startswith("composite/sobjects"):
        raise not_supported(f"The resource /{path} inside a composite request")
    headers = {str(k).lower(): str(v) for k, v in (sub.get("httpHeaders") or {}).items()}
    query = parse_query_string(parts.query)
    collection_write = method != "GET" and path.startswith("composite/sobjects")
    if all_or_none and collection_write:
        if method == "DELETE":
            query["allOrNone"] = ["true"]
        elif isinstance(body, dict):
            body = {**body, "allOrNone": True}
    sub_request = ApiRequest(method=method, path=path, version=segments[2], query=query,
                             body=json.dumps(body).encode() if body is not None else b"", session=req.session,
                             instance_url=req.instance_url, headers=headers,
                             json_body=body if body is not None else NO_BODY)
    try:
        result = API_ROUTER.dispatch(org, sub_request)
    except SalesforceError as error:
        return error.status, error.body(), {}, False
    if isinstance(result, Response):
        raise not_supported(f"The resource /{path} inside a composite request")
    out_headers = dict(result.headers)
    if method == "POST" and result.status == 201 and isinstance(result.body, dict) and result.body.get("id"):
        out_headers["Location"] = f"{sub_request.base_url}/{path.rstrip('/')}/{result.body['id']}"
    ok = result.status < 400
    if collection_write and isinstance(result.body, list):
        ok = ok and all(isinstance(item, dict) and item.get("success") for item in result.body)
    return result.status, result.body, out_headers, ok


@router.route("POST", "composite")
def composite(org: Org, req: ApiRequest) -> ApiResult:
    body = req.json_object()
    subrequests = body.get("compositeRequest")
    if not isinstance(subrequests, list) or not subrequests:
        raise SalesforceError(400, "JSON_PARSER_ERROR", "The request needs a compositeRequest array")
    if len(subrequests) > MAX_SUBREQUESTS:
        raise SalesforceError(400, "LIMIT_EXCEEDED",
                              f"A composite request can have at most {MAX_SUBREQUESTS} subrequests")
    references = []
    for sub in subrequests:
        if not isinstance(sub, dict) or not sub.get("referenceId") or not sub.get("method") or not sub.get("url"):
            raise SalesforceError(400, "JSON_PARSER_ERROR",
                                  "Each subrequest needs method, url and referenceId")
        references.append(str(sub["referenceId"]))
    if len(set(references)) != len(references):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "Duplicate referenceId in the composite request")
    all_or_none = _all_or_none(body.get("allOrNone"))
    # raw bytes without "@{" (nor a \u escape that could spell one) hold no reference to substitute
    substitute = not req.body or b"@{" in req.body or b"\\u" in req.body

    def run_all() -> list[dict]:
        results: dict[str, Any] = {}
        responses: list[dict] = []
        for index, sub in enumerate(subrequests):
            reference = references[index]
            try:
                status, answer, headers, ok = _run_subrequest(org, req, sub, results, substitute=substitute,
                                                              all_or_none=all_or_none)
            except _MissingReference as missing:
                ok = False
                status, answer, headers = 400, [{
                    "errorCode": "PROCESSING_HALTED",
                    "message": f"Invalid reference specified. No value for {missing} found in a previous "
                               "successful subrequest.",
                }], {}
            except SalesforceError as error:
                ok = False
                status, answer, headers = error.status, error.body(), {}
            responses.append(_subresponse(reference, status, answer, headers))
            if status < 400:
                results[reference] = answer
            if all_or_none and not ok:
                raise _Failed(index, responses)
        return responses

    if not all_or_none:
        return ApiResult(body={"compositeResponse": run_all()})
    try:
        with org.writes.all_or_none():
            try:
                responses = run_all()
            except _Failed as failed:
                raise _Rollback(failed) from None
    except _Rollback as rollback:
        failed = rollback.args[0]
        responses = [failed.responses[i] if i == failed.index else _halted(references[i])
                     for i in range(len(subrequests))]
    return ApiResult(body={"compositeResponse": responses})


class _Failed(Exception):
    def __init__(self, index: int, responses: list[dict]) -> None:
        super().__init__(index)
        self.index = index
        self.responses = responses
