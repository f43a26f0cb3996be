"""The REST/Bulk API request as the handlers see it, and the router that picks the handler.

HTTP requests and /composite subrequests go through the same router, so a subrequest behaves
exactly like the request it stands for. Handlers are plain (blocking) functions run in a worker
thread; they return an `ApiResult` (JSON) or a ready Starlette `Response` (CSV downloads).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.responses import Response

from crm_sync.sandbox.errors import SalesforceError
from crm_sync.sandbox.server.auth import Session
from crm_sync.sandbox.server.responses import not_found, parse_json_body

if TYPE_CHECKING:
    from crm_sync.sandbox.org import Org

NO_BODY: Any = object()  # json_body not decoded yet


@dataclass
class ApiRequest:
    """One API request: method, path below /services/data/vXX.X/, query parameters and body."""

    method: str
    path: str
    version: str
    query: Mapping[str, list[str]]
    body: bytes
    session: Session
    instance_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    json_body: Any = NO_BODY

    @property
    def base_url(self) -> str:
        """The path prefix record URLs use, e.g. /services/data/v59.0."""
        return f"/services/data/{self.version}"

    @property
    def user_id(self) -> str:
        return self.session.user_id

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> Any:
        """The decoded JSON body (JSON_PARSER_ERROR when it is not JSON)."""
        if self.json_body is NO_BODY:
            self.json_body = parse_json_body(self.body)
        return self.json_body

    def json_object(self) -> dict:
        data = self.json()
        if not isinstance(data, dict):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "Expected a JSON object as the request body")
        return data


def parse_query_string(text: str) -> dict[str, list[str]]:
    return parse_qs(text, keep_blank_values=True)


@dataclass
class ApiResult:
    """A JSON answer: status, body (None for no content) and extra headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[..., "ApiResult | Response"]


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    template: str


class ApiRouter:
    """Maps (method, path) to handlers; path templates use {name} for one path segment."""

    def __init__(self, unsupported: Callable[[str], SalesforceError | None] | None = None) -> None:
        self._routes: list[_Route] = []
        self.unsupported = unsupported  # names the feature of an unrouted path the sandbox knows it lacks

    def add(self, method: str, template: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template.strip("/"))
        self._routes.append(_Route(method.upper(), re.compile(f"^{regex}$"), handler, template))

    def extend(self, other: ApiRouter) -> None:
        """Add every route of another router (after this one's)."""
        self._routes.extend(other._routes)

    def route(self, method: str, template: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, template, handler)
            return handler
        return register

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        """The handler and path parameters, or NOT_FOUND / METHOD_NOT_ALLOWED in Salesforce's shape."""
        path = path.strip("/")
        known = self.unsupported(path) if self.unsupported is not None else None
        if known is not None:
            raise known
        allowed: list[str] = []
        for route in self._routes:
            match = route.pattern.match(path)
            if match is None:
                continue
            if route.method == method.upper() or (method.upper() == "HEAD" and route.method == "GET"):
                return route.handler, match.groupdict()
            allowed.append(route.method)
        if allowed:
            names = ",".join(sorted(set(allowed) | ({"HEAD"} if "GET" in allowed else set())))
            raise SalesforceError(405, "METHOD_NOT_ALLOWED",
                                  f"HTTP Method '{method.upper()}' not allowed. Allowed are {names}")
        raise not_found()

    def dispatch(self, org: Org, request: ApiRequest) -> ApiResult | Response:
        handler, params = self.resolve(request.method, request.path)
        return handler(org, request, **params)
