"""The retry decision, exhaustively: an uncertain create is never re-sent."""

from __future__ import annotations

import itertools

import pytest

from rundctl.client import retry_after_seconds
from rundctl.retry import Failure, certainly_not_applied, decide, full_jitter

STATUSES = [None, 400, 401, 403, 404, 408, 409, 422, 429, 500, 501, 502, 503, 504, 507]
RETRY_AFTERS = [None, 0.0, 1.0, 59.0, 61.0, 3600.0]
CASES = list(itertools.product([True, False], STATUSES, RETRY_AFTERS, range(1, 7)))


def test_an_uncertain_create_is_never_resent() -> None:
    resent = 0
    for sent, status, retry_after, attempt in CASES:
        failure = Failure(sent=sent, status=status, retry_after=retry_after)
        decision = decide("create", attempt, failure, max_retry_wait=60, rand=lambda: 0.99)
        if decision.retry:
            resent += 1
            assert (not sent) or status == 429 or (status == 503 and retry_after is not None), (
                sent, status, retry_after, attempt)
    assert resent > 0  # the property is not vacuous


def test_every_certainly_unapplied_create_failure_is_retried_while_budget_remains() -> None:
    for sent, status, retry_after in [(False, None, None), (True, 429, None), (True, 429, 5.0),
                                      (True, 503, 5.0)]:
        failure = Failure(sent=sent, status=status, retry_after=retry_after)
        assert certainly_not_applied(failure)
        assert decide("create", 1, failure, max_retry_wait=60).retry
        assert not decide("create", 5, failure, max_retry_wait=60).retry  # 4 retries at most


@pytest.mark.parametrize("status", [None, 408, 429, 500, 502, 503, 504])
def test_reads_are_retried_on_transient_failures(status) -> None:
    assert decide("read", 1, Failure(sent=True, status=status), max_retry_wait=60).retry


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 501])
def test_reads_are_not_retried_on_definite_answers(status) -> None:
    assert not decide("read", 1, Failure(sent=True, status=status), max_retry_wait=60).retry


def test_a_wait_over_max_retry_wait_is_not_slept() -> None:
    decision = decide("read", 1, Failure(sent=True, status=429, retry_after=3600),
                      max_retry_wait=60)
    assert not decision.retry and decision.too_long and decision.wait == 3600


def test_full_jitter_is_bounded_and_capped_at_30s() -> None:
    assert full_jitter(1, lambda: 1.0) == 2.0
    assert full_jitter(3, lambda: 0.5) == 4.0
    assert full_jitter(12, lambda: 1.0) == 30.0
    assert full_jitter(12, lambda: 0.0) == 0.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "-3"}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "nan"}, None),
        ({"retry-after-ms": "250"}, 0.25),
        ({"x-ms-retry-after-ms": "1000"}, 1.0),
        ({"Retry-After": "junk", "retry-after-ms": "500"}, 0.5),
        ({"Retry-After": "Thu, 01 Jan 1970 00:01:40 GMT"}, 40.0),
        ({"Retry-After": "Thu, 01 Jan 1970 00:00:10 GMT"}, 0.0),
        ({}, None),
    ],
)
def test_retry_after_forms(headers, expected) -> None:
    assert retry_after_seconds(headers, now=60.0) == expected
