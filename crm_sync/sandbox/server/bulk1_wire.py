"""Bulk API 1.0 on the wire: jobInfo / batchInfo / error bodies in XML or JSON, and query result files.

A request's answer is JSON when it sends or asks for JSON (`Content-Type` / `Accept`), or the job is a
JSON job; XML otherwise, as Salesforce answers. Result files follow the job's contentType: JSON (an
array of records, datetimes and dates as epoch milliseconds, written by SQLite: `json_record_sql`), XML (`queryResult`) or CSV (as Bulk
API 2.0 writes it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from starlette.responses import Response

from crm_sync.sandbox.catalog import Field
from crm_sync.sandbox.soql.shaping import ObjectShape, java_double

NAMESPACE = "http://www.force.com/2009/06/asyncapi/dataload"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
JSON_TYPE = "application/json;charset=UTF-8"
XML_TYPE = "application/xml;charset=UTF-8"
CSV_TYPE = "text/csv;charset=UTF-8"


class Bulk1Error(Exception):
    """An error in Bulk API 1.0's shape: {"exceptionCode", "exceptionMessage"} (or <error> in XML)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def wants_json(content_type: str, accept: str, job_format: str | None = None) -> bool:
    """Whether to answer in JSON: the request sends or asks for JSON, or (no hint) the job is JSON."""
    if "json" in content_type.lower():
        return True
    if "xml" in content_type.lower():
        return False
    if "json" in accept.lower():
        return True
    return job_format == "JSON" and "xml" not in accept.lower()


def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    return escape(str(value))


def _xml_element(name: str, body: dict) -> str:
    parts = []
    for key, value in body.items():
        if value is None:
            continue
        parts.append(f"<{key}>{_xml_text(value)}</{key}>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><{name} xmlns="{NAMESPACE}">' + "".join(parts)
            + f"</{name}>")


def info_response(name: str, body: dict, as_json: bool, status: int = 200) -> Response:
    """A jobInfo / batchInfo answer."""
    if as_json:
        return Response(json.dumps(body).encode(), status_code=status, media_type=JSON_TYPE)
    return Response(_xml_element(name, body).encode("utf-8"), status_code=status, media_type=XML_TYPE)


def batch_list_response(batches: list[dict], as_json: bool) -> Response:
    if as_json:
        return Response(json.dumps({"batchInfo": batches}).encode(), media_type=JSON_TYPE)
    inner = "".join(_xml_element("batchInfo", b).split("?>", 1)[1].replace(f' xmlns="{NAMESPACE}"', "")
                    for b in batches)
    body = f'<?xml version="1.0" encoding="UTF-8"?><batchInfoList xmlns="{NAMESPACE}">{inner}</batchInfoList>'
    return Response(body.encode("utf-8"), media_type=XML_TYPE)


def result_list_response(result_ids: list[str], as_json: bool) -> Response:
    if as_json:
        return Response(json.dumps(result_ids).encode(), media_type=JSON_TYPE)
    inner = "".join(f"<result>{rid}</result>" for rid in result_ids)
    body = f'<?xml version="1.0" encoding="UTF-8"?><result-list xmlns="{NAMESPACE}">{inner}</result-list>'
    return Response(body.encode("utf-8"), media_type=XML_TYPE)


def error_response(error: Bulk1Error, as_json: bool) -> Response:
    body = {"exceptionCode": error.code, "exceptionMessage": error.message}
    return info_response("error", body, as_json, error.status)


def parse_job_request(body: bytes, as_json: bool) -> dict[str, str]:
    """The fields of a jobInfo request body (JSON object or XML <jobInfo>), or InvalidJob."""
    if as_json:
        try:
            data = json.loads(body or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise Bulk1Error(400, "InvalidJob", "Unable to parse the job: the body is not JSON") from None
        if not isinstance(data, dict):
            raise Bulk1Error(400, "InvalidJob", "Unable to parse the job: expected a JSON object")
        return {str(k): v for k, v in data.items()}
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise Bulk1Error(400, "InvalidJob", "Unable to parse the job: the body is not XML") from None
    return {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in root}


def iso_z(stored: str) -> str:
    """A stored datetime (…+0000) as Bulk API 1.0 writes it in jobInfo and XML (…Z)."""
    return stored[:-5] + "Z" if stored.endswith("+0000") else stored


# ----- result values -------------------------------------------------------------------------------

def xml_convert_for(rest_converter: Callable[[Field], Callable[[object], object] | None]
                    ) -> Callable[[Field], Callable[[object], object] | None]:
    """Bulk API 1.0 XML values: datetimes end in Z, the rest as REST has them."""
    def choose(field: Field) -> Callable[[object], object] | None:
        if field.type == "datetime":
            return lambda value: None if value is None else iso_z(str(value))
        return rest_converter(field)
    return choose


def _xml_record(record: dict, tag: str) -> str:
    parts = [f'<{tag} xsi:type="sObject"><type>{escape(record["attributes"]["type"])}</type>']
    for key, value in record.items():
        if key == "attributes":
            continue
        if value is None:
            parts.append(f'<{key} xsi:nil="true"/>')
        elif isinstance(value, dict):
            parts.append(_xml_record(value, key))
        else:
            parts.append(f"<{key}>{_xml_text(value)}</{key}>")
    parts.append(f"</{tag}>")
    return "".join(parts)


def xml_results(records: Iterable[dict]) -> Iterable[str]:
    """A query result file in XML, piece by piece."""
    yield f'<?xml version="1.0" encoding="UTF-8"?><queryResult xmlns="{NAMESPACE}" xmlns:xsi="{XSI}">'
    for record in records:
        yield _xml_record(record, "records")
    yield "</queryResult>"


def _json_value_sql(field: Field, column: str) -> str:
    """SQL giving a stored value as Bulk API 1.0 JSON writes it (the same values `json_convert_for` gives)."""
    if field.type == "boolean":
        return f"json(CASE WHEN {column} IS NULL THEN NULL WHEN {column} THEN 'true' ELSE 'false' END)"
    if field.type == "datetime":  # fixed-width UTC text: julianday reads its first 23 characters
        return f"CAST(round((julianday(substr({column}, 1, 23)) - 2440587.5) * 86400000.0) AS INTEGER)"
    if field.type == "date":
        return f"CAST(round((julianday({column}) - 2440587.5) * 86400000.0) AS INTEGER)"
    if field.type in ("double", "currency", "percent"):
        return f"CAST({column} AS REAL)"
    return column


def json_record_sql(shape: ObjectShape, base_url: str) -> str:
    """SQL over the columns c0..cN of a compiled query's rows giving each record's Bulk 1.0 JSON text
    (attributes first, fields in select order, a missing parent as null), as `json_convert_for` builds it."""
    url = f"'{base_url}/sobjects/{shape.type_name}/' || c{shape.id_index}"
    parts = [f"'attributes', json_object('type', '{shape.type_name}', 'url', {url})"]
    for entry in shape.entries:
        if isinstance(entry[1], ObjectShape):
            parent = entry[1]
            nested = json_record_sql(parent, base_url)
            parts.append(f"'{entry[0]}', json(CASE WHEN c{parent.id_index} IS NULL THEN NULL ELSE {nested} END)")
        else:
            parts.append(f"'{entry[0]}', {_json_value_sql(entry[3], f'c{entry[1]}')}")
    return "json_object(" + ", ".join(parts) + ")"
