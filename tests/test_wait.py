"""wait's polling logic on an injected clock: exact intervals, exact exit codes, no real sleep."""

from __future__ import annotations

import io

import pytest

from rundctl.deps import Deps
from rundctl.errors import ApiErrorInfo, ExitCode, NotFound, TemporaryFailure
from rundctl.progress import WaitProgress
from rundctl.wait import WaitOptions, outcome_code, wait_for
from tests.conftest import FakeClock


def scripted(clock: FakeClock, statuses: list[object]):
    """A fetch that returns the next status (or raises the next exception) per poll."""
    calls: list[float] = []

    def fetch():
        calls.append(clock.mono)
        item = statuses[min(len(calls) - 1, len(statuses) - 1)]
        if isinstance(item, Exception):
            raise item
        return {"id": "r", "status": item}

    return fetch, calls


def run_wait(statuses, **opts):
    clock = FakeClock()
    fetch, calls = scripted(clock, statuses)
    options = WaitOptions(timeout=opts.pop("timeout", 1800), **opts)
    result = wait_for(fetch, options, monotonic=clock.monotonic, sleep=clock.sleep)
    return result, clock, calls


def test_auto_interval_starts_at_5s_and_grows_to_60s() -> None:
    result, clock, _ = run_wait(["running"] * 12 + ["completed"])
    assert result.exit_code == ExitCode.OK
    assert clock.slept[:4] == [5.0, 7.5, 11.25, 16.875]
    assert max(clock.slept) == 60.0 and clock.slept[-1] == 60.0


def test_stops_within_one_interval_of_the_change() -> None:
    # The run fails between poll 3 and 4; wait returns at poll 4, one interval later.
    result, _clock, calls = run_wait(["running", "running", "running", "failed"], interval=10)
    assert result.exit_code == ExitCode.WAIT_FAILED
    assert calls[-1] - calls[-2] == 10 and len(calls) == 4


def test_timeout_with_the_run_still_running_is_17_and_bounded() -> None:
    result, clock, calls = run_wait(["running"], timeout=3)
    assert result.exit_code == ExitCode.WAIT_TIMEOUT
    assert sum(clock.slept) == 3 and len(calls) == 2
    assert result.run == {"id": "r", "status": "running"}


@pytest.mark.parametrize(
    ("status", "fail_on", "code"),
    [
        ("completed", "errors", 0),
        ("failed", "never", 13),
        ("completedWithErrors", "errors", 14),
        ("completedWithErrors", "never", 0),
        ("completedWithWarnings", "errors", 0),
        ("completedWithWarnings", "warnings", 15),
        ("completedWithErrors", "warnings", 14),
        ("unknownFutureValue", "errors", 16),
        ("paused", "never", 16),
        (None, "errors", 16),
    ],
)
def test_final_status_to_exit_code(status, fail_on, code) -> None:
    assert outcome_code(status, fail_on) == code
    result, _, _ = run_wait([status], fail_on=fail_on)
    assert result.exit_code == code


def test_not_found_is_tolerated_during_the_grace_period() -> None:
    missing = NotFound("not found", ApiErrorInfo(status=404))
    result, _, calls = run_wait([missing, missing, "completed"], interval=5, not_found_grace=60)
    assert result.exit_code == 0 and len(calls) == 3


def test_not_found_after_the_grace_period_is_raised() -> None:
    missing = NotFound("not found", ApiErrorInfo(status=404))
    with pytest.raises(NotFound):
        run_wait([missing], interval=5, not_found_grace=12)


def test_throttling_is_waited_out_honouring_retry_after() -> None:
    busy = TemporaryFailure("busy", retry_after=42)
    result, clock, _ = run_wait([busy, "completed"], interval=5)
    assert result.exit_code == 0 and clock.slept == [42]


def test_plain_progress_line_every_30_seconds_when_not_a_terminal() -> None:
    clock = FakeClock()
    err = io.StringIO()
    deps = Deps(env={}, stdin=io.BytesIO(), stdout=io.StringIO(), stderr=err,
                monotonic=clock.monotonic, sleep=clock.sleep, stderr_tty=False, stdout_tty=False)
    progress = WaitProgress(deps, "r")
    fetch, _ = scripted(clock, ["running"] * 20 + ["completed"])
    wait_for(fetch, WaitOptions(timeout=3600, interval=10), monotonic=clock.monotonic,
             sleep=clock.sleep, on_poll=progress.update)
    lines = err.getvalue().splitlines()
    assert len(lines) == 7  # polls at 0..190 s: a line at 0, 30, 60, ..., 180
    assert lines[0] == "rundctl: waiting for run r: running (0s elapsed)"
    assert lines[1].endswith("(30s elapsed)")
