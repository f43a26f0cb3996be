"""Run the sandbox in a subprocess (tests, demo, benchmarks) and connect unmodified simple-salesforce to it.

    with running_sandbox(records=2000) as info:
        sf = info.salesforce()                     # SOAP login, ready to use
        info.admin.counts()                        # the admin surface
        os.environ.update(info.env())              # SALESFORCE_* for crm_sync's own client

How simple-salesforce (unmodified, 1.12) reaches https://127.0.0.1:PORT:

- TLS: pass `session=` a requests.Session with `verify=info.ca_bundle` and `trust_env=False`.
  trust_env matters: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment win
  over `session.verify`, and those point at the system CAs here. (`info.http_session()` does both.)
- Logins build https://{domain}.salesforce.com/services/...; the sandbox accepts such paths below
  its own host, so `domain="127.0.0.1:PORT/login"` (`info.login_domain`) makes the URL
  https://127.0.0.1:PORT/login.salesforce.com/services/... which the server routes to /services/....
  (`domain="127.0.0.1:PORT"` would give the host 127.0.0.1:PORT.salesforce.com: no good.)
  * SOAP: Salesforce(username=, password=, security_token=, domain=info.login_domain, session=s)
  * OAuth password grant: Salesforce(username=, password=password + security_token,
    consumer_key=client_id, consumer_secret=client_secret, domain=info.login_domain, session=s)
    (simple-salesforce sends `password` as given: append the security token yourself)
  * OAuth client credentials: Salesforce(consumer_key=, consumer_secret=, domain=info.login_domain, session=s)
  * Direct: Salesforce(instance_url=info.instance_url, session_id=<access token>, session=s); the
    port is kept. The refresh_token grant is not in simple-salesforce: post it with requests
    (`info.oauth_token("refresh_token", refresh_token=info.admin.mint_refresh_token())`); as in
    Salesforce, the password and client-credentials grants issue no refresh token.
  After any login, `sf_instance` is "127.0.0.1:PORT" and every REST / Bulk 2.0 / Bulk 1.0 (`sf.bulk`,
  query jobs only) URL goes to the sandbox.
- `info.env()` gives SALESFORCE_DOMAIN as "127.0.0.1:PORT" (a host, as crm_sync.salesforce reads it).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

from crm_sync.sandbox.admin_client import SandboxAdmin
from crm_sync.sandbox.extra import require_sandbox_extra

INFO_FILE = "sandbox.json"
LOG_FILE = "sandbox.log"
DEFAULT_API_VERSION = "59.0"


@dataclass(frozen=True)
class SandboxInfo:
    """What sandbox.json holds: where the sandbox is and how to log in to it."""

    instance_url: str
    username: str
    password: str
    security_token: str
    client_id: str
    client_secret: str
    ca_bundle: str
    admin_url: str
    pid: int
    org_id: str = ""
    data_dir: str = ""

    def __repr__(self) -> str:  # never show secrets in test output or logs
        return f"SandboxInfo(instance_url={self.instance_url!r}, username={self.username!r}, pid={self.pid})"

    @property
    def host(self) -> str:
        """host:port of the sandbox, e.g. 127.0.0.1:8443."""
        return urlparse(self.instance_url).netloc

    @property
    def login_domain(self) -> str:
        """The `domain=` that makes simple-salesforce's login URLs land on the sandbox."""
        return f"{self.host}/login"

    def http_session(self) -> requests.Session:
        """A requests.Session that trusts the sandbox's CA (and ignores *_CA_BUNDLE variables)."""
        session = requests.Session()
        session.verify = self.ca_bundle
        session.trust_env = False
        return session

    def salesforce(self, login: str = "soap", *, version: str = DEFAULT_API_VERSION,
                   session: requests.Session | None = None) -> Any:
        """A logged-in simple_salesforce.Salesforce: login is soap, oauth_password, client_credentials or direct."""
        from simple_salesforce import Salesforce

        session = session or self.http_session()
        if login == "soap":
            return Salesforce(username=self.username, password=self.password, security_token=self.security_token,
                              domain=self.login_domain, session=session, version=version)
        if login == "oauth_password":
            return Salesforce(username=self.username, password=self.password + self.security_token,
                              consumer_key=self.client_id, consumer_secret=self.client_secret,
                              domain=self.login_domain, session=session, version=version)
        if login == "client_credentials":
            return Salesforce(consumer_key=self.client_id, consumer_secret=self.client_secret,
                              domain=self.login_domain, session=session, version=version)
        if login == "direct":
            token = self.oauth_token("client_credentials", session=session)["access_token"]
            return Salesforce(instance_url=self.instance_url, session_id=token, session=session, version=version)
        raise ValueError(f"unknown login {login!r}: use soap, oauth_password, client_credentials or direct")

    def oauth_token(self, grant: str = "password", *, session: requests.Session | None = None,
                    **extra: str) -> dict:
        """POST /services/oauth2/token with the sandbox's client credentials; the decoded answer (raises on error)."""
        data = {"grant_type": grant, "client_id": self.client_id, "client_secret": self.client_secret}
        if grant == "password":
            data.update(username=self.username, password=self.password + self.security_token)
        data.update(extra)
        response = (session or self.http_session()).post(f"{self.instance_url}/services/oauth2/token",
                                                         data=data, timeout=60)
        response.raise_for_status()
        return response.json()

    @property
    def admin(self) -> SandboxAdmin:
        return SandboxAdmin(self)

    def env(self) -> dict[str, str]:
        """The SALESFORCE_* variables crm_sync's Salesforce resource reads to reach this sandbox."""
        return {
            "SALESFORCE_INSTANCE_URL": self.instance_url,
            "SALESFORCE_USERNAME": self.username,
            "SALESFORCE_PASSWORD": self.password,
            "SALESFORCE_SECURITY_TOKEN": self.security_token,
            "SALESFORCE_CLIENT_ID": self.client_id,
            "SALESFORCE_CLIENT_SECRET": self.client_secret,
            "SALESFORCE_DOMAIN": self.host,
            "SALESFORCE_CA_BUNDLE": self.ca_bundle,
        }


def load_sandbox_info(path: str | Path) -> SandboxInfo:
    """Read a sandbox.json (or the sandbox.json inside a data directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / INFO_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    known = {f.name for f in fields(SandboxInfo)}
    return SandboxInfo(**{key: value for key, value in data.items() if key in known})


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _wait_for_info(process: subprocess.Popen, info_path: Path, log_path: Path, timeout: float) -> SandboxInfo:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the sandbox exited with code {process.returncode} before it was ready; "
                               f"log tail:\n{_log_tail(log_path)}")
        if info_path.exists():
            with contextlib.suppress(ValueError, OSError, TypeError):
                info = load_sandbox_info(info_path)
                if info.pid == process.pid:
                    return info
        time.sleep(0.05)
    raise RuntimeError(f"the sandbox was not ready after {timeout:.0f} s; log tail:\n{_log_tail(log_path)}")


def stop_process(process: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it has not stopped after `grace` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(grace)


@contextlib.contextmanager
def running_sandbox(
    data_dir: str | Path | None = None,
    *,
    records: int = 0,
    seed: int = 1,
    faults: str | None = None,
    port: int = 0,
    timeout: float = 60.0,
    daily_api_requests: int | None = None,
) -> Iterator[SandboxInfo]:
    """Start `python -m crm_sync.sandbox` in a subprocess and yield its SandboxInfo once it serves.

    Without data_dir a temporary directory is used (and removed afterwards). The process's output goes
    to DATA_DIR/sandbox.log; a start failure raises RuntimeError with the log's tail. On exit the
    process gets SIGTERM, then SIGKILL. Without the `sandbox` extra: SandboxExtraMissing, before any process.
    """
    require_sandbox_extra()
    temporary = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="crm-sync-sandbox-") if temporary else data_dir).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    info_path = directory / INFO_FILE
    log_path = directory / LOG_FILE
    command = [sys.executable, "-m", "crm_sync.sandbox", "--data", str(directory), "--port", str(port),
               "--records", str(records), "--seed", str(seed)]
    if faults:
        command += ["--faults", faults]
    if daily_api_requests is not None:
        command += ["--daily-api-requests", str(daily_api_requests)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield _wait_for_info(process, info_path, log_path, timeout)
    finally:
        stop_process(process)
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)
