"""Bulk API 1.0 on the wire: jobInfo / batchInfo / error bodies in XML or JSON, and query result files.

A request's answer is JSON when it sends or asks for JSON (`Content-Type` / `Accept`), or the job is a
JSON job; XML otherwise, as Salesforce answers. Result files follow the job's contentType: JSON (an
array of records, datetimes and dates as epoch milliseconds), XML (`queryResult`) or CSV (as Bulk
API 2.0 writes it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from starlette.responses import Response

from crm_sync.sandbox.catalog import Field
from crm_sync.sandbox.soql.shaping import java_double

NAMESPACE = "http://www.force.com/2009/06/asyncapi/dataload"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
JSON_TYPE = "application/json;charset=UTF-8"
XML_TYPE = "application/xml;charset=UTF-8"
CSV_TYPE = "text/csv;charset=UTF-8"
_EPOCH_DAY = date(1970, 1, 1).toordinal()


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

def _epoch_ms_of_datetime(stored: object) -> object:
    """`2024-05-01T12:30:00.000+0000` -> 1714566600000 (the stored form is fixed-width UTC)."""
    if stored is None:
        return None
    text = str(stored)
    days = date(int(text[0:4]), int(text[5:7]), int(text[8:10])).toordinal() - _EPOCH_DAY
    seconds = int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])
    return (days * 86400 + seconds) * 1000 + int(text[20:23])


def _epoch_ms_of_date(stored: object) -> object:
    if stored is None:
        return None
    text = str(stored)
    return (date(int(text[0:4]), int(text[5:7]), int(text[8:10])).toordinal() - _EPOCH_DAY) * 86_400_000


def json_convert_for(rest_converter: Callable[[Field], Callable[[object], object] | None]
                     ) -> Callable[[Field], Callable[[object], object] | None]:
    """Bulk API 1.0 JSON values: datetimes and dates in epoch milliseconds, the rest as REST has them."""
    def choose(field: Field) -> Callable[[object], object] | None:
        if field.type == "datetime":
            return _epoch_ms_of_datetime
        if field.type == "date":
            return _epoch_ms_of_date
        return rest_converter(field)
    return choose


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


def json_results(records: Iterable[dict]) -> Iterable[str]:
    """A query result file in JSON (an array of records), piece by piece."""
    yield "["
    first = True
    for record in records:
        yield json.dumps(record, ensure_ascii=False, separators=(",", ":")) if first else \
            "," + json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        first = False
    yield "]"
