"""When to send a request again, and what a failed request left behind (docs/reliability.md).

Reads (GET) and updates (PATCH, which leaves the same state when applied twice) are retried
on connection errors, read errors and 408/429/500/502/503/504. A create (POST) is re-sent
ONLY when the service certainly did not apply it: the connection was never established, or
it answered 429, or 503 with Retry-After. Everything else after sending is "outcome unknown"
and is never re-sent here.

The kinds (:data:`Kind`): ``read`` (safe: GET, HEAD), ``update`` (idempotent: rundctl's run
PATCH, and PUT and DELETE from ``rundctl api``), ``create`` (a run create or ``start``: sent
again only when certainly not applied; a 200/201 must carry the new ``id``) and ``post`` (any
other request that is not idempotent, RFC 9110: POST and PATCH from ``rundctl api``; sent
again exactly as rarely as a create, but its answer has no expected shape).

:func:`outcome` is the one table of what a failure proves. Anything received after the
request was sent is "unknown" unless the answer proves otherwise: a redirect (3xx), a 1xx or
2xx that could not be read, 408, 5xx and anything past 599 prove nothing, because a proxy or
the service may have applied the request before answering. Only a 4xx other than 408 is the
service saying it refused the request.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Literal, NamedTuple

Kind = Literal["read", "create", "update", "post"]

MAX_RETRIES = 4
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


Outcome = Literal["not_applied", "refused", "unknown"]


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


def outcome(failure: Failure) -> Outcome:
    """What a failed attempt proves about the service's state.

    - ``not_applied``: certainly not applied (never sent, 429, 503 with Retry-After);
    - ``refused``: the service answered that it did not apply it (a 4xx other than 408/429);
    - ``unknown``: it may have been applied (transport failure after sending, 1xx, 2xx that
      could not be read, 3xx, 408, 5xx, >= 600). For a create this is exit 9: look it up.
    """
    if certainly_not_applied(failure):
        return "not_applied"
    status = failure.status
    if status is not None and 400 <= status < 500 and status != 408:
        return "refused"
    return "unknown"


def may_resend(kind: Kind, failure: Failure) -> bool:
    if kind in ("create", "post"):
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
