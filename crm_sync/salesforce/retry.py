"""Retry policy: which failures are worth another attempt, and how long to wait before it.

Decisions, per response or exception:
- `RETRY`: HTTP 5xx (503 included), errorCode UNABLE_TO_LOCK_ROW or SERVER_UNAVAILABLE, connection
  errors and timeouts: exponential backoff with jitter, at most `max_attempts` attempts in all;
- `RELOGIN`: INVALID_SESSION_ID (or a bare 401): log in again once, then retry;
- `LIMIT`: REQUEST_LIMIT_EXCEEDED: stop at once, never retried (the daily limit is spent);
- `FAIL`: anything else >= 300: raise.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable
from dataclasses import dataclass

RETRYABLE_ERROR_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})
SESSION_ERROR_CODES = frozenset({"INVALID_SESSION_ID"})
LIMIT_ERROR_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED"})


class Decision(enum.Enum):
    OK = "ok"
    RETRY = "retry"
    RELOGIN = "relogin"
    LIMIT = "limit"
    FAIL = "fail"


def classify(status: int, error_codes: Iterable[str]) -> Decision:
    """What to do about a response with this status and these errorCodes."""
    codes = set(error_codes)
    if codes & LIMIT_ERROR_CODES:
        return Decision.LIMIT
    if codes & SESSION_ERROR_CODES or (status == 401 and not codes):
        return Decision.RELOGIN
    if status < 300:
        return Decision.OK
    if status >= 500 or codes & RETRYABLE_ERROR_CODES:
        return Decision.RETRY
    return Decision.FAIL


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: attempt n waits base * 2**(n-1), capped, times a jitter in [0.5, 1]."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based) before the next one."""
        capped = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return capped * (rng or random).uniform(0.5, 1.0)

    def can_retry(self, attempt: int) -> bool:
        """True when another attempt is allowed after `attempt` attempts."""
        return attempt < self.max_attempts
