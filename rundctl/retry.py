"""When to send a request again (SPEC §5), as one pure function.

Reads (GET) and updates (PATCH, which leaves the same state when applied twice) are retried
on connection errors, read errors and 408/429/500/502/503/504. A create (POST) is re-sent
ONLY when the service certainly did not apply it: the connection was never established, or
it answered 429, or 503 with Retry-After. Everything else after sending is "outcome unknown"
and is never re-sent here.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Literal, NamedTuple

Kind = Literal["read", "create", "update"]

MAX_RETRIES = 4
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class Failure(NamedTuple):
    """What went wrong with one attempt, as far as retrying is concerned."""

    sent: bool  # the request may have reached the server
    status: int | None = None  # HTTP status, None for a transport error
    retry_after: float | None = None  # what the server asked for, in seconds


class Decision(NamedTuple):
    retry: bool
    wait: float = 0.0
    too_long: bool = False  # the server asked for a wait over --max-retry-wait


def certainly_not_applied(failure: Failure) -> bool:
    """True when the service cannot have applied the request."""
    if not failure.sent:
        return True
    return failure.status == 429 or (failure.status == 503 and failure.retry_after is not None)


def may_resend(kind: Kind, failure: Failure) -> bool:
    if kind == "create":
        return certainly_not_applied(failure)
    return failure.status is None or failure.status in RETRYABLE_STATUS


def full_jitter(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rand() * min(BACKOFF_CAP, BACKOFF_BASE * float(2 ** min(attempt, 16)))


def decide(
    kind: Kind,
    attempt: int,
    failure: Failure,
    *,
    max_retry_wait: float,
    max_retries: int = MAX_RETRIES,
    rand: Callable[[], float] = random.random,
) -> Decision:
    """Whether attempt number *attempt* (1-based) that failed like *failure* is tried again."""
    if not may_resend(kind, failure) or attempt > max_retries:
        return Decision(retry=False)
    wait = failure.retry_after if failure.retry_after is not None else full_jitter(attempt, rand)
    if wait > max_retry_wait:
        return Decision(retry=False, wait=wait, too_long=True)
    return Decision(retry=True, wait=wait)
