"""A client for the sandbox's admin surface (/__sandbox__/...), one method per endpoint."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol
from urllib.parse import quote

import requests


class _Reachable(Protocol):
    admin_url: str
    ca_bundle: str


class SandboxAdminError(RuntimeError):
    """An admin request answered with an error status; `body` is the decoded answer."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"sandbox admin request failed with HTTP {status}: {body}")
        self.status = status
        self.body = body


class SandboxAdmin:
    """Admin calls against a running sandbox (`info` is a SandboxInfo or anything with admin_url/ca_bundle)."""

    def __init__(self, info: _Reachable, timeout: float = 600.0) -> None:
        self.info = info
        self.base_url = info.admin_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.verify = info.ca_bundle
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise win over verify

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        response = self.session.request(method, f"{self.base_url}/{path}", json=body, timeout=self.timeout)
        try:
            data = response.json()
        except ValueError:
            data = response.text
        if response.status_code >= 400:
            raise SandboxAdminError(response.status_code, data)
        return data

    def health(self) -> dict:
        return self._call("GET", "health")

    def counts(self) -> dict[str, int]:
        """Live records per object."""
        return self._call("GET", "counts")

    def api_usage(self) -> dict[str, int]:
        """{"used", "max", "remaining"} of the daily API request limit."""
        return self._call("GET", "api-usage")

    def set_limits(self, daily_api_requests: int | None = None, used: int | None = None) -> dict[str, int]:
        return self._call("POST", "limits", {"daily_api_requests": daily_api_requests, "used": used})

    def run_automation(self, obj: str, ids: list[str] | None = None, limit: int | None = None,
                       changes: dict | None = None) -> list[str]:
        """Let the Automated Process user change records (SystemModstamp only); returns the Ids changed."""
        body = {"object": obj, "ids": ids, "limit": limit, "changes": changes}
        return self._call("POST", "automation", body)["ids"]

    def create_record(self, obj: str, values: dict, as_user: str | None = None) -> str:
        return self._call("POST", f"records/{obj}", {"op": "create", "values": values, "as_user": as_user})["id"]

    def update_record(self, obj: str, record_id: str, values: dict, as_user: str | None = None) -> None:
        self._call("POST", f"records/{obj}", {"op": "update", "id": record_id, "values": values, "as_user": as_user})

    def delete_record(self, obj: str, record_id: str, as_user: str | None = None) -> None:
        self._call("POST", f"records/{obj}", {"op": "delete", "id": record_id, "as_user": as_user})

    def undelete_record(self, obj: str, record_id: str, as_user: str | None = None) -> None:
        self._call("POST", f"records/{obj}", {"op": "undelete", "id": record_id, "as_user": as_user})

    def hard_delete_record(self, obj: str, record_id: str, as_user: str | None = None) -> None:
        """Delete a record without the recycle bin: never in queryAll again, still listed by the
        getDeleted endpoint (/sobjects/{obj}/deleted) for its window, at the time of this call."""
        self._call("POST", f"records/{obj}", {"op": "hard_delete", "id": record_id, "as_user": as_user})

    def empty_recycle_bin(self, ids: list[str] | None = None) -> list[str]:
        """Purge records from the recycle bin (those named, or all) as emptyRecycleBin does; the Ids purged.
        They leave queryAll and stay in getDeleted at the time they were deleted."""
        return self._call("POST", "recycle-bin/empty", {"ids": ids})["ids"]

    def faults(self) -> dict:
        return self._call("GET", "faults")

    def set_faults(self, spec: str | None = None, **settings: float) -> dict:
        """Change fault settings: a spec string ("rate_503=0.1,latency_ms=5") and/or keyword settings."""
        return self._call("POST", "faults", {"spec": spec, "settings": settings})

    def add_fault(self, path: str, kind: str, count: int = 1, method: str | None = None) -> dict:
        """Fail the next `count` API requests whose path contains `path` with `kind` (503, 500, lock, expire, limit;
        lost: carried out, the answer lost; cut: the answer's body breaks off half way)."""
        entry = {"path": path, "kind": kind, "count": count, "method": method}
        return self._call("POST", "faults", {"one_shots": [entry]})

    def clear_faults(self) -> dict:
        return self._call("DELETE", "faults")

    def reset(self) -> dict[str, int]:
        """Empty the org (users kept); returns the counts after."""
        return self._call("POST", "reset")

    def seed(self, records: int, seed: int = 1) -> dict[str, int]:
        return self._call("POST", "seed", {"records": records, "seed": seed})

    def rules(self) -> dict:
        return self._call("GET", "rules")

    def add_validation_rule(self, obj: str, name: str, field: str, *, operator: str, value: Any = None,
                            message: str) -> dict:
        body = {"kind": "validation", "object": obj, "name": name, "field": field, "operator": operator,
                "value": value, "message": message}
        return self._call("POST", "rules", body)

    def require_field(self, obj: str, field: str) -> dict:
        return self._call("POST", "rules", {"kind": "required", "object": obj, "field": field})

    def add_duplicate_rule(self, obj: str, field: str) -> dict:
        return self._call("POST", "rules", {"kind": "duplicate", "object": obj, "field": field})

    def replace_rules(self, document: dict) -> dict:
        return self._call("PUT", "rules", document)

    def remove_rule(self, name: str) -> dict:
        return self._call("DELETE", f"rules/{quote(name, safe='')}")

    def clear_rules(self) -> dict:
        return self._call("DELETE", "rules")

    def expire_sessions(self) -> int:
        """Invalidate every current session; returns how many there were."""
        return self._call("POST", "expire-sessions")["expired"]

    def mint_refresh_token(self, as_user: str | None = None) -> str:
        """A refresh token as Salesforce's web server flow issues one (for the integration user by default).

        Redeem it with the OAuth refresh_token grant (`SandboxInfo.oauth_token("refresh_token", refresh_token=...)`);
        the password and client-credentials grants issue none, as in Salesforce.
        """
        return self._call("POST", "refresh-tokens", {"as_user": as_user})["refresh_token"]

    def clock(self) -> dict:
        """{"now": the org's time (Salesforce form), "offset_seconds": its shift from the real clock}."""
        return self._call("GET", "clock")

    def set_clock_offset(self, offset_seconds: float) -> dict:
        """Shift the org's time (every modstamp from now on) by `offset_seconds` from the real clock."""
        return self._call("POST", "clock", {"offset_seconds": offset_seconds})

    def rotate_credentials(self) -> Any:
        """Revoke the org's credentials: new password, security token and client secret (username and client id
        stay), sandbox.json rewritten, every session and refresh token invalid.

        Returns a copy of this client's SandboxInfo holding the new secrets (the old info still holds the old
        ones, which now fail to log in), or the answer's dict when the client was not made from a SandboxInfo.
        """
        answer = self._call("POST", "credentials", {"rotate": True})
        if not dataclasses.is_dataclass(self.info) or isinstance(self.info, type):
            return answer
        known = {field.name for field in dataclasses.fields(self.info)}
        self.info = dataclasses.replace(self.info, **{k: v for k, v in answer.items() if k in known})
        return self.info

    def hidden_fields(self) -> list[dict[str, str]]:
        """The hidden fields: [{"object", "field"}]."""
        return self._call("GET", "fields")["hidden"]

    def hide_field(self, obj: str, field: str) -> list[dict[str, str]]:
        """Remove a non-system field from describe, SOQL, writes and Bulk (its data stays); the hidden fields."""
        return self._call("DELETE", f"fields/{quote(obj, safe='')}/{quote(field, safe='')}")["hidden"]

    def restore_field(self, obj: str, field: str) -> list[dict[str, str]]:
        """Bring a hidden field back with its data; the hidden fields after."""
        return self._call("PUT", f"fields/{quote(obj, safe='')}/{quote(field, safe='')}")["hidden"]
