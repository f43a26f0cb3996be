"""The Starlette app of the sandbox: login endpoints, the REST/Bulk API, Bulk API 1.0 queries, the admin surface.

Every API request (/services/data/vXX.X/...) goes through one pipeline: bearer session check
(401 INVALID_SESSION_ID), the daily limit (403 REQUEST_LIMIT_EXCEEDED, else one call counted),
injected latency and faults, then the handler in a worker thread. Each API answer carries
`Sforce-Limit-Info`. Errors are Salesforce's JSON shapes; an unexpected exception answers 500
UNKNOWN_EXCEPTION and its traceback goes to the server log only.

Login URLs built by simple-salesforce from a `domain` (https://{domain}.salesforce.com/services/...)
also work: with domain="127.0.0.1:PORT/login" the request arrives as
/login.salesforce.com/services/oauth2/token and the first segment is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from crm_sync.sandbox.errors import SalesforceError, not_supported
from crm_sync.sandbox.server.admin import admin_routes
from crm_sync.sandbox.server.api import API_ROUTER
from crm_sync.sandbox.server.auth import authenticate, instance_url, oauth_token, soap_login
from crm_sync.sandbox.server.bulk1 import bulk1_routes
from crm_sync.sandbox.server.dispatch import ApiRequest, ApiResult, parse_query_string
from crm_sync.sandbox.server.faults import LOST_ANSWER_SECONDS, server_unavailable, unknown_exception
from crm_sync.sandbox.server.header_case import SalesforceHeaderCase
from crm_sync.sandbox.server.responses import (
    dump_json,
    empty_response,
    error_response,
    json_response,
    not_found,
    soap_fault,
)
from crm_sync.sandbox.server.rest import api_versions
from crm_sync.sandbox.server.versions import version_error

if TYPE_CHECKING:
    from crm_sync.sandbox.org import Org

log = logging.getLogger("crm_sync.sandbox.server")
_LOGIN_ALIAS_RE = re.compile(r"^/[^/]+\.salesforce\.com(/services/(?:oauth2|Soap)/.*)$")


class LoginAliasMiddleware:
    """Route https://HOST/{domain}.salesforce.com/services/(oauth2|Soap)/... to /services/...."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            match = _LOGIN_ALIAS_RE.match(scope["path"])
            if match:
                scope = dict(scope, path=match.group(1), raw_path=match.group(1).encode())
        await self.app(scope, receive, send)


def _wants_xml(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    content_type = request.headers.get("content-type", "").lower()
    asks_xml = "xml" in accept and "json" not in accept and "*/*" not in accept and "csv" not in accept
    return asks_xml or "xml" in content_type or request.url.path.endswith(".xml")


def _to_response(result: ApiResult | Response) -> Response:
    if isinstance(result, Response):
        return result
    if result.body is None:
        return empty_response(result.status, result.headers)
    return json_response(result.body, result.status, result.headers)


async def api_entry(request: Request) -> Response:
    """Every /services/data/vXX.X/... request."""
    org: Org = request.app.state.org
    version = request.path_params["version"]
    try:
        unserved = version_error(version)
        if unserved is not None:
            raise unserved
        session = authenticate(org, request)
        org.usage.spend()
        target = request.url.path + ("?" + request.url.query if request.url.query else "")
        fault = org.faults.before_request(request.method, target)
        latency = org.faults.latency_s()
        if latency:
            await asyncio.sleep(latency)
        if fault is not None:
            raise fault
        answer_fault = org.faults.answer_fault(request.method, target)
        if _wants_xml(request):
            raise not_supported("XML (ask for application/json)")
        body = await request.body()
        api_request = ApiRequest(
            method=request.method, path=request.path_params.get("rest", ""), version=version,
            query=parse_query_string(request.url.query), body=body, session=session,
            instance_url=instance_url(request), headers=request.headers,
        )
        response = _to_response(await run_in_threadpool(API_ROUTER.dispatch, org, api_request))
        if answer_fault == "lost":  # carried out, but the caller never hears so
            await asyncio.sleep(LOST_ANSWER_SECONDS)
            raise server_unavailable()
        if answer_fault == "cut":
            response = _cut_half_way(response)
    except SalesforceError as error:
        response = error_response(error)
    except Exception:
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        response = error_response(unknown_exception())
    response.headers["Sforce-Limit-Info"] = org.usage.header()
    return response


def _cut_half_way(response: Response) -> Response:
    """The same answer, whose body stops half way through its Content-Length (the connection then closes)."""
    if isinstance(response, StreamingResponse):
        chunks = response.body_iterator
    else:
        body = bytes(response.body)

        async def whole() -> AsyncIterator[bytes]:
            yield body

        chunks = whole()
    limit = int(response.headers.get("content-length") or 0) // 2

    async def cut() -> AsyncIterator[bytes]:
        sent = 0
        async for chunk in chunks:
            chunk = bytes(chunk)
            if sent + len(chunk) >= limit:
                yield chunk[:max(0, limit - sent)]
                raise ConnectionAbortedError("fault `cut`: the body breaks off")
            sent += len(chunk)
            yield chunk

    headers = {k: v for k, v in response.headers.items()}
    return StreamingResponse(cut(), status_code=response.status_code, headers=headers)


async def unsupported_service(request: Request) -> Response:
    """Salesforce services outside the sandbox: Apex REST, other SOAP and OAuth endpoints."""
    service = "/".join(request.url.path.strip("/").split("/")[:3])
    if service.startswith("services/Soap"):
        return soap_fault("UNSUPPORTED_API_METHOD", f"/{service} is not supported by the crm_sync sandbox")
    return error_response(not_supported(f"/{service}"))


async def versions(request: Request) -> Response:
    return json_response(api_versions())


async def not_found_handler(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return error_response(SalesforceError(405, "METHOD_NOT_ALLOWED",
                                              f"HTTP Method '{request.method}' not allowed"))
    return error_response(not_found())


async def server_error_handler(request: Request, exc: Exception) -> Response:
    log.error("unexpected error answering %s %s", request.method, request.url.path, exc_info=exc)
    return Response(dump_json(unknown_exception().body()), status_code=500, media_type="application/json")


def build_app(org: Org) -> ASGIApp:
    """The ASGI app serving one org; every answer's header names in Salesforce's casing (even a 500)."""
    methods = ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"]
    routes = [
        Route("/services/Soap/u/{version}", soap_login, methods=["POST"]),
        Route("/services/oauth2/token", oauth_token, methods=["POST"]),
        Route("/services/oauth2/{rest:path}", unsupported_service, methods=methods),
        *bulk1_routes(),
        Route("/services/apexrest/{rest:path}", unsupported_service, methods=methods),
        Route("/services/Soap/{kind}/{rest:path}", unsupported_service, methods=methods),
        Route("/services/data", versions, methods=["GET"]),
        Route("/services/data/", versions, methods=["GET"]),
        Route("/services/data/{version}", api_entry, methods=methods),
        Route("/services/data/{version}/{rest:path}", api_entry, methods=methods),
        *admin_routes(),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={404: not_found_handler, 405: not_found_handler, 500: server_error_handler,
                            Exception: server_error_handler},
    )
    app.add_middleware(LoginAliasMiddleware)
    app.state.org = org
    app.router.redirect_slashes = False
    return SalesforceHeaderCase(app)
