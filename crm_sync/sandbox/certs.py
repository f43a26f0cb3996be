"""TLS for the sandbox: a fresh CA and a server certificate for 127.0.0.1, ::1 and localhost (trustme)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import trustme

CA_FILE = "ca.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server-key.pem"


@dataclass(frozen=True)
class CertFiles:
    """Where the CA bundle (for clients) and the server's certificate chain and key are."""

    ca_bundle: Path
    cert_file: Path
    key_file: Path


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (mode 0600), atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def make_certificates(directory: str | Path) -> CertFiles:
    """A new CA and server certificate under `directory`: ca.pem, server.pem, server-key.pem (0600)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="crm_sync sandbox")
    server = ca.issue_cert("127.0.0.1", "::1", "localhost", common_name="127.0.0.1")
    files = CertFiles(directory / CA_FILE, directory / CERT_FILE, directory / KEY_FILE)
    _write_private(files.key_file, server.private_key_pem.bytes())
    chain = b"".join(blob.bytes() for blob in server.cert_chain_pems)
    files.cert_file.write_bytes(chain)
    files.ca_bundle.write_bytes(ca.cert_pem.bytes())
    return files
