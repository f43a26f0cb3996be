"""sObject Collections (up to 200 records a call) and the `/composite` resource (up to 25 sub-requests).

Collections are always sent with allOrNone=false: each record succeeds or fails on its own, and a
failure carries Salesforce's [{statusCode, message, fields}].
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from urllib.parse import quote as url_quote

from crm_sync.salesforce.errors import SalesforceApiError
from crm_sync.salesforce.results import RecordResult

COLLECTION_SIZE = 200
COMPOSITE_MAX_SUBREQUESTS = 25
OPERATIONS = ("create", "update", "upsert", "delete")


def chunks(records: Sequence, size: int = COLLECTION_SIZE) -> Iterator[Sequence]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(records), size):
        yield records[start : start + size]


def collection_request(
    operation: str, obj: str, records: Sequence[dict], external_id_field: str | None = None
) -> tuple[str, str, dict | None, dict | None]:
    """(method, path, params, json body) of one sObject Collections call for `records`."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown collections operation {operation!r}; one of {OPERATIONS}")
    if len(records) > COLLECTION_SIZE:
        raise ValueError(f"at most {COLLECTION_SIZE} records a collections call")
    if operation == "delete":
        ids = [r["Id"] if isinstance(r, dict) else str(r) for r in records]
        return "DELETE", "composite/sobjects", {"ids": ",".join(ids), "allOrNone": "false"}, None
    body = {"allOrNone": False,
            "records": [{"attributes": {"type": obj}, **{k: v for k, v in r.items() if k != "attributes"}}
                        for r in records]}
    if operation == "create":
        return "POST", "composite/sobjects", None, body
    if operation == "update":
        return "PATCH", "composite/sobjects", None, body
    if not external_id_field:
        raise ValueError("upsert needs external_id_field")
    return "PATCH", f"composite/sobjects/{url_quote(obj)}/{url_quote(external_id_field)}", None, body


def parse_collection_results(operation: str, answer: list[dict], records: Sequence) -> list[RecordResult]:
    """RecordResults in input order from a collections answer."""
    results = []
    for item, record in zip(answer, records, strict=False):
        success = bool(item.get("success"))
        created = bool(item["created"]) if "created" in item else success and operation == "create"
        errors = [{"statusCode": e.get("statusCode") or e.get("errorCode", ""), "message": e.get("message", ""),
                   "fields": list(e.get("fields") or [])} for e in item.get("errors") or []]
        sent = record if isinstance(record, dict) else {"Id": record}
        results.append(RecordResult(id=item.get("id") or sent.get("Id"), success=success, created=created,
                                    errors=errors, input=sent))
    return results


def subrequest(method: str, url: str, reference_id: str, body: dict | None = None) -> dict:
    """One `/composite` sub-request; `url` must start with /services/data/vXX.X/."""
    request = {"method": method, "url": url, "referenceId": reference_id}
    if body is not None:
        request["body"] = body
    return request


def answer_body(answer: dict) -> dict:
    """The body of one `/composite` sub-answer; SalesforceApiError (with the sub-answer's error) when it failed."""
    status = int(answer.get("httpStatusCode", 0))
    body = answer.get("body")
    if status >= 400 or not isinstance(body, dict):
        error = body[0] if isinstance(body, list) and body else {}
        raise SalesforceApiError(status, error.get("errorCode", "UNKNOWN"), error.get("message", str(body)),
                                 error.get("fields", ()), purpose="composite")
    return body
