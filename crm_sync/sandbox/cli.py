"""`crm-sync sandbox` / `python -m crm_sync.sandbox`: run the local Salesforce org over HTTPS.

Once the server accepts connections it writes DATA_DIR/sandbox.json (atomically, mode 0600) with
instance_url, username, password, security_token, client_id, client_secret, ca_bundle, admin_url
and pid; it removes the file when it stops (SIGTERM or SIGINT). Log lines go to stderr, never secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import click

from crm_sync.sandbox.extra import require_sandbox_extra
from crm_sync.sandbox.server.faults import FaultConfig
from crm_sync.sandbox.server.limits import DEFAULT_DAILY_API_REQUESTS

log = logging.getLogger("crm_sync.sandbox")
INFO_FILE = "sandbox.json"


def write_info(path: Path, info: dict) -> None:
    """Write sandbox.json atomically (tmp + rename), readable by its owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2)
    os.replace(tmp, path)


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket (port 0: any free port; the real one is sock.getsockname()[1])."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


async def _serve(server: Any, sock: socket.socket, on_ready: Callable[[], None]) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task  # startup failed: raise its error
            raise RuntimeError("the server stopped before it was ready")
        await asyncio.sleep(0.02)
    on_ready()
    await task


def run_sandbox(host: str, port: int, data_dir: Path, records: int, seed: int, faults: str | None,
                daily_api_requests: int) -> None:
    """Start the org and serve it until SIGTERM/SIGINT."""
    import uvicorn  # the server's imports wait until a server is started (keeps `crm-sync --help` quick)

    from crm_sync.sandbox.certs import make_certificates
    from crm_sync.sandbox.org import Org
    from crm_sync.sandbox.server.app import build_app

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    info_path = data_dir / INFO_FILE
    with contextlib.suppress(FileNotFoundError):
        info_path.unlink()  # a stale file from a run that did not stop cleanly
    fault_config = FaultConfig.parse(faults)
    org = Org(data_dir, faults=fault_config, daily_api_requests=daily_api_requests)
    try:
        if records > 0 and org.is_empty():
            log.info("seeding about %s records (seed %s)", records, seed)
            org.seed(records, seed)
        certs = make_certificates(data_dir / "tls")
        sock = bind_socket(host, port)
        real_port = sock.getsockname()[1]
        shown_host = f"[{host}]" if ":" in host else host
        instance_url = f"https://{shown_host}:{real_port}"
        config = uvicorn.Config(
            build_app(org), ssl_certfile=str(certs.cert_file), ssl_keyfile=str(certs.key_file),
            log_config=None, log_level="warning", access_log=False, lifespan="off",
            timeout_graceful_shutdown=2, timeout_keep_alive=30,
            # h11 writes header names as given (httptools lower-cases them); Date comes from the app
            http="h11", date_header=False, server_header=False,
        )
        server = uvicorn.Server(config)
        user = org.login_user()

        def on_ready() -> None:
            credentials = org.credentials
            write_info(info_path, {
                "instance_url": instance_url,
                "username": user["Username"],
                "password": credentials.password,
                "security_token": credentials.security_token,
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
                "ca_bundle": str(certs.ca_bundle),
                "admin_url": f"{instance_url}/__sandbox__",
                "org_id": credentials.org_id,
                "data_dir": str(data_dir),
                "pid": os.getpid(),
            })
            log.info("sandbox ready at %s (data %s, faults %s)", instance_url, data_dir,
                     faults or "none")

        signal.signal(signal.SIGTERM, _raise_exit)
        try:
            asyncio.run(_serve(server, sock, on_ready))
        except KeyboardInterrupt:
            pass
        finally:
            sock.close()
    finally:
        with contextlib.suppress(FileNotFoundError):
            info_path.unlink()
        org.close()
        log.info("sandbox stopped")


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8443, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("data/sandbox"), show_default=True,
              help="Directory for the org's SQLite file, credentials, certificates and sandbox.json.")
@click.option("--records", default=0, show_default=True, type=click.IntRange(0),
              help="Seed about this many records when the org is empty.")
@click.option("--seed", default=1, show_default=True, type=int, help="Seed of the data generator.")
@click.option("--faults", default=None,
              help="Fault spec, e.g. rate_503=0.05,rate_lock=0.02,latency_ms=20,commit_lag_s=30,session_ttl_s=7200")
@click.option("--daily-api-requests", default=DEFAULT_DAILY_API_REQUESTS, show_default=True,
              type=click.IntRange(0), help="The org's daily API request limit.")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def sandbox_command(host: str, port: int, data_dir: Path, records: int, seed: int, faults: str | None,
                    daily_api_requests: int, log_level: str) -> None:
    """Run the sandbox: a local Salesforce org over HTTPS (REST, Bulk API 2.0 and 1.0 query, SOAP/OAuth login)."""
    logging.basicConfig(stream=sys.stderr, level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    require_sandbox_extra()
    try:
        FaultConfig.parse(faults)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from None
    try:
        run_sandbox(host, port, data_dir, records, seed, faults, daily_api_requests)
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc}") from None
