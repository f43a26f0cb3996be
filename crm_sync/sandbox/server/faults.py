"""Fault injection: random 503s and row locks, latency, commit lag, session lifetime, one-shot faults.

Configured at start by a spec string (`rate_503=0.05,rate_lock=0.02,latency_ms=20,commit_lag_s=30,
session_ttl_s=7200,seed=7`) and at run time through the admin surface. Random faults draw from
one `random.Random(seed)`, so a run with the same requests in the same order sees the same faults.

One-shot faults are deterministic: "fail the next N requests whose path contains S with kind K".
Kinds: `503` (SERVER_UNAVAILABLE), `500` (UNKNOWN_EXCEPTION), `lock` (UNABLE_TO_LOCK_ROW),
`expire` (INVALID_SESSION_ID, the session itself stays valid), `limit` (REQUEST_LIMIT_EXCEEDED),
and `lost`: the request IS carried out (its writes stay), but its answer is lost: held for
`LOST_ANSWER_SECONDS`, then replaced by 503 SERVER_UNAVAILABLE (a client waiting less sees a timeout);
`cut`: the answer starts, but its body breaks off half way (the connection closes early).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta

from crm_sync.sandbox.errors import SalesforceError

DEFAULT_SESSION_TTL_S = 7200.0
ONE_SHOT_KINDS = ("503", "500", "lock", "expire", "limit", "lost", "cut")
ANSWER_KINDS = ("lost", "cut")  # kinds that let the request run and spoil its answer
LOST_ANSWER_SECONDS = 3.0


def server_unavailable() -> SalesforceError:
    return SalesforceError(503, "SERVER_UNAVAILABLE",
                           "Server is unavailable to handle the request. Please try again later.")


def unknown_exception() -> SalesforceError:
    return SalesforceError(500, "UNKNOWN_EXCEPTION",
                           "An unexpected error occurred. Please include this ErrorId if you contact support.")


def unable_to_lock_row(record_id: str | None = None) -> SalesforceError:
    message = "unable to obtain exclusive access to this record"
    if record_id:
        message += f" or 1 records: {record_id}"
    return SalesforceError(400, "UNABLE_TO_LOCK_ROW", message)


def invalid_session() -> SalesforceError:
    return SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")


@dataclass
class FaultConfig:
    """The configurable fault rates and delays (all off by default)."""

    rate_503: float = 0.0
    rate_lock: float = 0.0
    latency_ms: float = 0.0
    commit_lag_s: float = 0.0
    session_ttl_s: float = DEFAULT_SESSION_TTL_S
    seed: int = 1

    @classmethod
    def parse(cls, spec: str | None) -> FaultConfig:
        """A config from `key=value,key=value` (unknown keys and bad values raise ValueError)."""
        config = cls()
        if spec and spec.strip():
            values: dict[str, str] = {}
            for part in spec.split(","):
                if not part.strip():
                    continue
                key, sep, value = part.partition("=")
                if not sep:
                    raise ValueError(f"fault spec entry {part.strip()!r} is not key=value")
                values[key.strip()] = value.strip()
            config = config.updated(values)
        return config

    def updated(self, values: dict) -> FaultConfig:
        """A copy with the given keys changed (values may be strings or numbers); validated."""
        known = {f.name: f.type for f in fields(self)}
        data = asdict(self)
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown fault setting {key!r} (known: {', '.join(known)})")
            try:
                data[key] = int(value) if key == "seed" else float(value)
            except (TypeError, ValueError):
                raise ValueError(f"fault setting {key!r} needs a number, got {value!r}") from None
        for rate in ("rate_503", "rate_lock"):
            if not 0.0 <= data[rate] <= 1.0:
                raise ValueError(f"{rate} must be between 0 and 1")
        for amount in ("latency_ms", "commit_lag_s"):
            if data[amount] < 0:
                raise ValueError(f"{amount} must be >= 0")
        if data["session_ttl_s"] <= 0:
            raise ValueError("session_ttl_s must be > 0")
        return FaultConfig(**data)

    def to_spec(self) -> str:
        return ",".join(f"{k}={v}" for k, v in asdict(self).items())


@dataclass
class OneShotFault:
    """Fail the next `remaining` requests whose path (with query) contains `path` with `kind`."""

    path: str
    kind: str
    remaining: int = 1
    method: str | None = None

    def matches(self, method: str, target: str) -> bool:
        return (self.remaining > 0 and self.path in target
                and (self.method is None or self.method.upper() == method.upper()))


def _one_shot_error(kind: str) -> SalesforceError:
    return {
        "503": server_unavailable,
        "500": unknown_exception,
        "lock": unable_to_lock_row,
        "expire": invalid_session,
        "limit": lambda: SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    }[kind]()


class Faults:
    """The org's fault injector (thread-safe)."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._config = config or FaultConfig()
        self._random = random.Random(self._config.seed)
        self._one_shots: list[OneShotFault] = []
        self.injected: dict[str, int] = {}

    @property
    def config(self) -> FaultConfig:
        return self._config

    def configure(self, values: dict) -> FaultConfig:
        """Change settings at run time; a new seed restarts the random sequence."""
        with self._lock:
            new = self._config.updated(values)
            if "seed" in values:
                self._random = random.Random(new.seed)
            self._config = new
            return new

    def add_one_shot(self, path: str, kind: str, count: int = 1, method: str | None = None) -> OneShotFault:
        if kind not in ONE_SHOT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (known: {', '.join(ONE_SHOT_KINDS)})")
        if count < 1:
            raise ValueError("count must be >= 1")
        fault = OneShotFault(path=path, kind=kind, remaining=count, method=method)
        with self._lock:
            self._one_shots.append(fault)
        return fault

    def clear(self) -> None:
        """Back to no faults at all (keeps the session lifetime setting)."""
        with self._lock:
            ttl = self._config.session_ttl_s
            self._config = FaultConfig(session_ttl_s=ttl)
            self._random = random.Random(self._config.seed)
            self._one_shots.clear()

    def _count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1

    def _take_one_shot(self, method: str, target: str, answer_kinds: bool) -> OneShotFault | None:
        """The first pending one-shot matching this request (of the answer kinds or the others), used up once."""
        for fault in self._one_shots:
            if (fault.kind in ANSWER_KINDS) == answer_kinds and fault.matches(method, target):
                fault.remaining -= 1
                self._one_shots = [f for f in self._one_shots if f.remaining > 0]
                self._count(fault.kind)
                return fault
        return None

    def before_request(self, method: str, target: str) -> SalesforceError | None:
        """The error to answer instead of handling this API request, or None."""
        with self._lock:
            fault = self._take_one_shot(method, target, answer_kinds=False)
            if fault is not None:
                return _one_shot_error(fault.kind)
            if self._config.rate_503 and self._random.random() < self._config.rate_503:
                self._count("503")
                return server_unavailable()
        return None

    def answer_fault(self, method: str, target: str) -> str | None:
        """The kind (`lost`, `cut`) of a pending one-shot that spoils this request's answer, or None."""
        with self._lock:
            fault = self._take_one_shot(method, target, answer_kinds=True)
            return fault.kind if fault is not None else None

    def lock_error(self, record_id: str | None = None) -> SalesforceError | None:
        """UNABLE_TO_LOCK_ROW for one record write, drawn at rate_lock; else None."""
        with self._lock:
            if self._config.rate_lock and self._random.random() < self._config.rate_lock:
                self._count("lock")
                return unable_to_lock_row(record_id)
        return None

    def latency_s(self) -> float:
        return self._config.latency_ms / 1000.0

    def visible_after(self, now: datetime) -> datetime | None:
        """When a record written now through the API becomes visible (None: at once)."""
        lag = self._config.commit_lag_s
        return now + timedelta(seconds=lag) if lag > 0 else None

    def to_dict(self) -> dict:
        with self._lock:
            return {
                "config": asdict(self._config),
                "one_shots": [asdict(f) for f in self._one_shots],
                "injected": dict(self.injected),
            }
