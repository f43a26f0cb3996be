"""Salesforce's answer shapes: JSON error lists, OAuth errors, SOAP faults, and JSON bodies."""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape

from starlette.responses import Response

from crm_sync.sandbox.errors import SalesforceError

JSON_TYPE = "application/json;charset=UTF-8"
XML_TYPE = "text/xml;charset=UTF-8"

NOT_FOUND_MESSAGE = "The requested resource does not exist"


def dump_json(data: Any) -> bytes:
    """Compact UTF-8 JSON, as Salesforce sends it."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dump_json(data), status_code=status, headers=headers, media_type=JSON_TYPE)


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    return Response(b"", status_code=status, headers=headers)


def error_response(error: SalesforceError, headers: dict[str, str] | None = None) -> Response:
    """Salesforce's REST error: the status and [{"message", "errorCode", ("fields")}]."""
    return json_response(error.body(), error.status, headers)


def not_found() -> SalesforceError:
    """The error Salesforce answers for an unknown resource or object."""
    return SalesforceError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)


def json_parser_error(detail: str) -> SalesforceError:
    return SalesforceError(400, "JSON_PARSER_ERROR", detail)


def parse_json_body(body: bytes) -> Any:
    """The decoded JSON request body, or Salesforce's JSON_PARSER_ERROR."""
    if not body.strip():
        raise json_parser_error("No content to map due to end-of-input")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise json_parser_error(f"Unexpected character in JSON at {exc}") from None


def record_error(error: SalesforceError) -> dict:
    """One error entry of a per-record result (sObject Collections, composite)."""
    return {"statusCode": error.error_code, "message": error.message, "fields": list(error.fields)}


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    """The OAuth token endpoint's error shape."""
    return json_response({"error": error, "error_description": description}, status)


def soap_fault(code: str, message: str, status: int = 500) -> Response:
    """A SOAP partner API fault (the login endpoint's error answer)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:sf="urn:fault.partner.soap.sforce.com"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><soapenv:Fault>"
        f"<faultcode>sf:{escape(code)}</faultcode>"
        f"<faultstring>{escape(code)}: {escape(message)}</faultstring>"
        '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
        f"<sf:exceptionCode>{escape(code)}</sf:exceptionCode>"
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        "</sf:LoginFault></detail>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(body.encode("utf-8"), status_code=status, media_type=XML_TYPE)
