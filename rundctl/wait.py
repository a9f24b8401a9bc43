"""Following a run until it ends (``wait``, ``create --wait``, ``start --wait``).

Pure polling logic on an injected clock and sleep: tests run instantly and exactly. The
fetch function does the HTTP; this module decides when to poll, when to stop and which
exit code the outcome means (docs/exit-codes.md: 0, 13 to 17).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from rundctl import vocab
from rundctl.errors import BadResponse, ExitCode, NotFound, TemporaryFailure

AUTO_FIRST = 5.0
AUTO_MAX = 60.0
AUTO_GROWTH = 1.5

FAIL_ON: tuple[str, ...] = vocab.FAIL_ON

class WaitOptions(NamedTuple):
    timeout: float
    interval: float | None = None  # None: auto (5 s growing to 60 s)
    fail_on: str = "errors"
    not_found_grace: float = 60.0


@dataclass
class WaitResult:
    run: dict[str, Any] | None
    exit_code: ExitCode
    elapsed: float


def outcome_code(status: object, fail_on: str) -> ExitCode | None:
    """The exit code a status means, or None while the run is still running."""
    if status == "running":
        return None
    if status == "completed":
        return ExitCode.OK
    if status == "failed":
        return ExitCode.WAIT_FAILED
    if status == "completedWithErrors":
        return ExitCode.WAIT_ERRORS if fail_on in ("errors", "warnings") else ExitCode.OK
    if status == "completedWithWarnings":
        return ExitCode.WAIT_WARNINGS if fail_on == "warnings" else ExitCode.OK
    return ExitCode.WAIT_UNKNOWN_STATUS


def next_interval(current: float, options: WaitOptions) -> float:
    if options.interval is not None:
        return options.interval
    return min(current * AUTO_GROWTH, AUTO_MAX)


def wait_for(
    fetch: Callable[[], dict[str, Any]],
    options: WaitOptions,
    *,
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
    on_poll: Callable[[dict[str, Any] | None, float], None] | None = None,
) -> WaitResult:
    """Poll *fetch* until the run reaches any final status or the timeout passes.

    A 404 is tolerated for ``not_found_grace`` seconds (a run just created may not be
    readable yet); temporary failures are tolerated until the timeout, honouring Retry-After.
    """
    start = monotonic()
    delay = options.interval if options.interval is not None else AUTO_FIRST
    last: dict[str, Any] | None = None
    while True:
        retry_after = 0.0
        try:
            last = fetch()
        except NotFound:
            if monotonic() - start >= options.not_found_grace:
                raise
        except (TemporaryFailure, BadResponse) as exc:
            retry_after = float(getattr(exc, "retry_after", None) or 0.0)
        elapsed = monotonic() - start
        if last is not None:
            code = outcome_code(last.get("status"), options.fail_on)
            if code is not None:
                return WaitResult(last, code, elapsed)
        if on_poll is not None:
            on_poll(last, elapsed)
        remaining = options.timeout - elapsed
        if remaining <= 0:
            return WaitResult(last, ExitCode.WAIT_TIMEOUT, elapsed)
        sleep(min(max(delay, retry_after), remaining))
        delay = next_interval(delay, options)
