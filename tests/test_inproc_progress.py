"""What wait and bulk create say on stderr while they work, on a terminal and in a log: unit
tests of WaitProgress and BulkProgress on a fake clock and StringIO streams."""

from __future__ import annotations

import io
import json

from rundctl.bulk import Outcome, Summary
from rundctl.deps import Deps
from rundctl.errors import ExitCode
from rundctl.progress import BulkProgress, WaitProgress
from rundctl.wait import WaitResult
from tests.conftest import FakeClock

TERMINAL = {"TERM": "xterm", "NO_COLOR": "1", "COLUMNS": "100"}


def world(clock: FakeClock, *, tty: bool) -> Deps:
    return Deps(env=TERMINAL, stdin=io.BytesIO(), stdout=io.StringIO(), stderr=io.StringIO(),
                monotonic=clock.monotonic, sleep=clock.sleep, stdin_tty=False,
                stdout_tty=tty, stderr_tty=tty)


def err(deps: Deps) -> str:
    return deps.stderr.getvalue()  # type: ignore[attr-defined]


def out(deps: Deps) -> str:
    return deps.stdout.getvalue()  # type: ignore[attr-defined]


# -- wait ---------------------------------------------------------------------------------


def test_off_a_terminal_one_plain_line_per_poll_with_the_id_neutralised() -> None:
    clock = FakeClock()
    deps = world(clock, tty=False)
    progress = WaitProgress(deps, "r\x1b[2J")
    progress.update(None, 0)
    progress.sleep(10)
    progress.update({"status": "running"}, 10)
    progress.close()
    assert err(deps).splitlines() == [
        "rundctl: waiting for run r\\x1b[2J: not found yet (0s elapsed)",
        "rundctl: waiting for run r\\x1b[2J: running (10s elapsed)",
    ]
    assert clock.slept == [10]


def test_on_a_terminal_a_spinner_is_drawn_and_cleared() -> None:
    clock = FakeClock()
    deps = world(clock, tty=True)
    progress = WaitProgress(deps, "run-1")
    assert progress.status is not None
    progress.update({"status": "running"}, 65)
    progress.close()
    assert progress.status is None
    progress.close()  # twice is fine
    shown = err(deps)
    assert "waiting for run run-1" in shown
    assert "rundctl: waiting" not in shown  # no plain log lines on a terminal


def report(code: ExitCode, run: dict[str, object] | None, elapsed: float) -> str:
    deps = world(FakeClock(), tty=False)
    WaitProgress(deps, "r1").report(WaitResult(run=run, exit_code=code, elapsed=elapsed))
    return err(deps)


def test_the_outcome_lines() -> None:
    assert report(ExitCode.WAIT_TIMEOUT, None, 90) == (
        "rundctl: error: timed out after 1m 30s; run r1 is still not found\n"
        "hint: wait again with a longer --timeout\n")
    assert report(ExitCode.WAIT_TIMEOUT, {"status": "running"}, 3600) == (
        "rundctl: error: timed out after 1h 00m; run r1 is still running\n"
        "hint: wait again with a longer --timeout\n")
    assert report(ExitCode.WAIT_UNKNOWN_STATUS, {"status": "paused\x07"}, 5) == (
        "rundctl: run r1 ended in status 'paused\\x07', which rundctl does not know\n")
    assert report(ExitCode.OK, {"status": "completed"}, 5) == (
        "rundctl: run r1 ended completed\n")
    assert report(ExitCode.WAIT_FAILED, {
        "status": "failed", "blockingError": {"message": "disk\x1b[31m full"}}, 5) == (
        "rundctl: run r1 ended failed\n  blocking error: disk\\x1b[31m full\n")
    assert report(ExitCode.WAIT_FAILED, {
        "status": "failed", "blockingError": {"code": "", "message": ""}}, 5) == (
        "rundctl: run r1 ended failed\n")


# -- bulk ---------------------------------------------------------------------------------


def outcome(i: int, status: str = "created") -> Outcome:
    return Outcome(i, i + 1, status, f"id-{i}" if status in ("created", "skipped") else None,
                   None if status == "created" else "why")


def test_bulk_json_is_one_array_streamed_as_it_comes_and_empty_is_brackets() -> None:
    deps = world(FakeClock(), tty=False)
    progress = BulkProgress(deps, "json", 2)
    progress.emit(outcome(0))
    progress.emit(outcome(1, "failed"))
    progress.close()
    assert [o["status"] for o in json.loads(out(deps))] == ["created", "failed"]
    empty = world(FakeClock(), tty=False)
    none = BulkProgress(empty, "json", 0)
    none.close()
    assert out(empty) == "[]\n"


def test_bulk_id_output_skips_records_without_an_id_and_none_prints_nothing() -> None:
    deps = world(FakeClock(), tty=False)
    progress = BulkProgress(deps, "id", 3)
    for o in (outcome(0), outcome(1, "failed"), outcome(2, "skipped")):
        progress.emit(o)
    progress.close()
    assert out(deps) == "id-0\nid-2\n"
    quiet = world(FakeClock(), tty=False)
    silent = BulkProgress(quiet, "none", 1)
    silent.emit(outcome(0))
    silent.close()
    assert out(quiet) == ""


def test_bulk_plain_progress_every_10_seconds_and_the_summary_rate() -> None:
    clock = FakeClock()
    deps = world(clock, tty=False)
    progress = BulkProgress(deps, "ndjson", 6)
    summary = Summary(6)
    for i in range(6):
        clock.sleep(4)  # one record every 4 s
        o = outcome(i)
        summary.add(o)
        progress.emit(o)
    progress.close()
    progress.summary(summary)
    assert len(out(deps).splitlines()) == 6
    assert err(deps).splitlines() == [
        "rundctl: 3/6 records (0/s)",
        "rundctl: 6/6 records (0/s)",
        "rundctl: 6/6: created 6, failed 0, skipped 0, unknown 0 in 24s (0/s)",
    ]


def test_bulk_on_a_terminal_draws_a_bar_and_no_plain_lines() -> None:
    clock = FakeClock()
    deps = world(clock, tty=True)
    progress = BulkProgress(deps, "ndjson", 2)
    assert progress.bar is not None
    for i in range(2):
        clock.sleep(30)
        progress.emit(outcome(i))
    progress.close()
    assert progress.bar is None
    assert "records (" not in err(deps)
    assert [json.loads(line)["index"] for line in out(deps).splitlines()] == [0, 1]
