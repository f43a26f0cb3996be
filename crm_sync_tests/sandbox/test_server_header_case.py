"""Response header names reach the client in Salesforce's casing: read from the raw bytes of the socket."""

from __future__ import annotations

import json
import socket
import ssl
import time

import pytest

from crm_sync.sandbox.process import SandboxInfo
from crm_sync.sandbox.server.header_case import salesforce_case


def _raw_exchange(sandbox: SandboxInfo, method: str, path: str, headers: dict[str, str],
                  body: bytes = b"") -> tuple[int, list[str], bytes]:
    """Send one HTTP/1.1 request over TLS; the status, the header names as sent, and the body bytes."""
    context = ssl.create_default_context(cafile=sandbox.ca_bundle)
    host, port = sandbox.host.rsplit(":", 1)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {sandbox.host}", "Connection: close",
             f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    with socket.create_connection((host, int(port)), timeout=30) as raw, \
            context.wrap_socket(raw, server_hostname=host) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    names = [line.split(":", 1)[0] for line in header_lines]
    return int(status_line.split()[1]), names, rest


@pytest.fixture(scope="module")
def bearer(sandbox: SandboxInfo) -> dict[str, str]:
    return {"Authorization": "Bearer " + sandbox.oauth_token("client_credentials")["access_token"]}


def test_salesforce_case_of_known_names() -> None:
    assert salesforce_case(b"content-type") == b"Content-Type"
    assert salesforce_case(b"sforce-numberofrecords") == b"Sforce-NumberOfRecords"
    assert salesforce_case(b"sforce-limit-info") == b"Sforce-Limit-Info"
    assert salesforce_case(b"SFORCE-LOCATOR") == b"Sforce-Locator"


def test_rest_answer_header_names_as_salesforce_sends_them(sandbox: SandboxInfo, bearer) -> None:
    status, names, _ = _raw_exchange(sandbox, "GET", "/services/data/v59.0/limits", bearer)
    assert status == 200
    assert {"Content-Type", "Content-Length", "Sforce-Limit-Info", "Date"} <= set(names)
    assert all(name == salesforce_case(name.encode()).decode() for name in names), names


def test_error_and_login_answers_keep_the_casing(sandbox: SandboxInfo, bearer) -> None:
    status, names, _ = _raw_exchange(sandbox, "GET", "/services/data/v59.0/sobjects/NoSuchThing", bearer)
    assert status == 404 and "Content-Type" in names and "Sforce-Limit-Info" in names
    status, names, _ = _raw_exchange(sandbox, "GET", "/nowhere", {})
    assert status == 404 and "Content-Type" in names
    assert not [name for name in names if name != salesforce_case(name.encode()).decode()]


def test_bulk2_result_page_headers_as_salesforce_sends_them(sandbox: SandboxInfo, bearer) -> None:
    body = json.dumps({"operation": "query", "query": "SELECT Id FROM Account"}).encode()
    status, _, answer = _raw_exchange(sandbox, "POST", "/services/data/v59.0/jobs/query",
                                      {**bearer, "Content-Type": "application/json"}, body)
    assert status == 200
    job_id = json.loads(answer)["id"]
    session = sandbox.http_session()
    for _ in range(200):
        state = session.get(f"{sandbox.instance_url}/services/data/v59.0/jobs/query/{job_id}",
                            headers=bearer, timeout=30).json()["state"]
        if state == "JobComplete":
            break
        time.sleep(0.05)
    status, names, _ = _raw_exchange(sandbox, "GET",
                                     f"/services/data/v59.0/jobs/query/{job_id}/results?maxRecords=10", bearer)
    assert status == 200
    assert {"Content-Type", "Sforce-Locator", "Sforce-NumberOfRecords", "Sforce-Limit-Info"} <= set(names)
    assert "content-type" not in names and "sforce-locator" not in names


def test_login_and_bulk1_answers_keep_the_casing(sandbox: SandboxInfo, bearer) -> None:
    form = (f"grant_type=client_credentials&client_id={sandbox.client_id}&client_secret={sandbox.client_secret}")
    status, names, _ = _raw_exchange(sandbox, "POST", "/services/oauth2/token",
                                     {"Content-Type": "application/x-www-form-urlencoded"}, form.encode())
    assert status == 200 and "Content-Type" in names
    token = bearer["Authorization"].split()[1]
    status, names, _ = _raw_exchange(sandbox, "POST", "/services/async/59.0/job",
                                     {"X-SFDC-Session": token, "Content-Type": "application/json"},
                                     b'{"operation": "query", "object": "Account", "contentType": "JSON"}')
    assert status == 201 and {"Content-Type", "Sforce-Limit-Info"} <= set(names)
    assert all(name == salesforce_case(name.encode()).decode() for name in names), names
