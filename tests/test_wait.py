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


def test_plain_progress_line_per_poll_and_every_30_seconds_when_not_a_terminal() -> None:
    clock = FakeClock()
    err = io.StringIO()
    deps = Deps(env={}, stdin=io.BytesIO(), stdout=io.StringIO(), stderr=err,
                monotonic=clock.monotonic, sleep=clock.sleep, stderr_tty=False, stdout_tty=False)
    progress = WaitProgress(deps, "r")
    fetch, _ = scripted(clock, ["running"] * 20 + ["completed"])
    wait_for(fetch, WaitOptions(timeout=3600, interval=10), monotonic=clock.monotonic,
             sleep=progress.sleep, on_poll=progress.update)
    lines = err.getvalue().splitlines()
    assert len(lines) == 20  # one per poll, at 0, 10, ..., 190 s
    assert lines[0] == "rundctl: waiting for run r: running (0s elapsed)"
    assert lines[1].endswith("(10s elapsed)")
    assert clock.slept == [10] * 20


def test_a_long_pause_between_polls_still_prints_a_line_every_30_seconds() -> None:
    clock = FakeClock()
    err = io.StringIO()
    deps = Deps(env={}, stdin=io.BytesIO(), stdout=io.StringIO(), stderr=err,
                monotonic=clock.monotonic, sleep=clock.sleep, stderr_tty=False, stdout_tty=False)
    progress = WaitProgress(deps, "r")
    fetch, _ = scripted(clock, ["running"] * 3 + ["completed"])
    wait_for(fetch, WaitOptions(timeout=3600, interval=90), monotonic=clock.monotonic,
             sleep=progress.sleep, on_poll=progress.update)
    lines = err.getvalue().splitlines()
    assert lines[:4] == ["rundctl: waiting for run r: running (0s elapsed)",
                         "rundctl: waiting for run r: running (30s elapsed, next check in 1m 00s)",
                         "rundctl: waiting for run r: running (1m 00s elapsed, next check in 30s)",
                         "rundctl: waiting for run r: running (1m 30s elapsed)"]
    assert sum(clock.slept) == 270


def test_a_terminal_counter_ticks_every_second_with_the_next_check() -> None:
    clock = FakeClock()
    err = io.StringIO()
    deps = Deps(env={"TERM": "xterm"}, stdin=io.BytesIO(), stdout=io.StringIO(), stderr=err,
                monotonic=clock.monotonic, sleep=clock.sleep, stderr_tty=True, stdout_tty=False)
    progress = WaitProgress(deps, "r")
    shown: list[str] = []
    progress.status.update = lambda text: shown.append(str(text))  # type: ignore[union-attr]
    progress.update({"status": "running"}, 0.0)
    progress.sleep(3)
    progress.close()
    assert clock.slept == [1.0, 1.0, 1.0]
    assert shown[-3:] == ["waiting for run r: running (1s elapsed, next check in 2s)",
                          "waiting for run r: running (2s elapsed, next check in 1s)",
                          "waiting for run r: running (3s elapsed)"]


def test_term_dumb_on_a_terminal_prints_plain_lines() -> None:
    clock = FakeClock()
    err = io.StringIO()
    deps = Deps(env={"TERM": "dumb"}, stdin=io.BytesIO(), stdout=io.StringIO(), stderr=err,
                monotonic=clock.monotonic, sleep=clock.sleep, stderr_tty=True, stdout_tty=False)
    progress = WaitProgress(deps, "r")
    progress.update({"status": "running"}, 0.0)
    progress.close()
    assert err.getvalue() == "rundctl: waiting for run r: running (0s elapsed)\n"
