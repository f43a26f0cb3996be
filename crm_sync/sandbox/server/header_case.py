"""Response header names in Salesforce's casing (`Content-Type`, `Sforce-Locator`, ...), on every answer.

Header names are case-insensitive in HTTP, but some clients read them from a plain dict. Two layers
lower-case them on the way out: Starlette (and the ASGI spec) hold names in lower case, and uvicorn's
httptools protocol lower-cases them again as it writes. So the sandbox serves with uvicorn's h11
protocol, which writes each name with the bytes it was given, and this middleware gives it Salesforce's
names. uvicorn's own `date` / `server` headers are turned off (see cli.py); the middleware adds `Date`.
"""

from __future__ import annotations

import time
from email.utils import formatdate

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Names whose casing is not plain Title-Case-Per-Word.
_SPECIAL = {
    b"sforce-numberofrecords": b"Sforce-NumberOfRecords",
    b"etag": b"ETag",
    b"www-authenticate": b"WWW-Authenticate",
    b"x-sfdc-request-id": b"X-SFDC-Request-Id",
}


def salesforce_case(name: bytes) -> bytes:
    """The header name as Salesforce writes it: `content-type` → `Content-Type`."""
    lowered = name.lower()
    special = _SPECIAL.get(lowered)
    if special is not None:
        return special
    return b"-".join(part[:1].upper() + part[1:] for part in lowered.split(b"-"))


class _HttpDate:
    """The RFC 7231 date of the current second, formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def now(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._value = formatdate(second, usegmt=True).encode("ascii")
        return self._value


class SalesforceHeaderCase:
    """ASGI middleware: rename the response's header names to Salesforce's casing and add `Date`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._date = _HttpDate()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_cased(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(salesforce_case(bytes(name)), value) for name, value in message.get("headers", [])]
                if not any(name == b"Date" for name, _ in headers):
                    headers.insert(0, (b"Date", self._date.now()))
                message = dict(message, headers=headers)
            await send(message)

        await self.app(scope, receive, send_cased)
