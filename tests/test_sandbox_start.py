"""``start`` is limited (five successful on-demand runs per 12 hours by default), and the
service can make runs by itself on a schedule; plus the ``rundctl sandbox`` flags that set
them and the surface. Time is an injected clock: nothing sleeps."""

from __future__ import annotations

import io
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rundctl.deps import Deps
from rundctl.sandbox import options
from rundctl.sandbox.server import START_FLOW_ID, Sandbox, SandboxOptions

requests = pytest.importorskip("requests")  # TID253: not a module-level import

RUNS = "/external/industryData/runs"
START = f"{RUNS}/microsoft.graph.industryData.start"
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
HOUR = 3600.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


Factory = Callable[..., Sandbox]


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[Factory]:
    started: list[Sandbox] = []

    def make(**settings: Any) -> Sandbox:
        settings.setdefault("port", 0)
        settings.setdefault("db", str(tmp_path / "sandbox.db"))
        sandbox = Sandbox(SandboxOptions(**settings))
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def runs(base: str) -> list[dict[str, Any]]:
    response = requests.get(base + RUNS, params={"$orderby": "startDateTime"})
    listed: list[dict[str, Any]] = response.json()["value"]
    return listed


# ---------------------------------------------------------------------------------------------
# The start limit


def test_five_on_demand_runs_per_12_hours_by_default(make_sandbox: Factory, clock: Clock) -> None:
    base = make_sandbox(clock=clock).base_url
    for _ in range(5):
        assert requests.post(base + START).status_code == 202
        clock.now += 60
    refused = requests.post(base + START, headers={"client-request-id": "c-6"})
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "activityLimitReached"
    assert "At most 5 on-demand runs may start per 12 hours" in error["message"]
    assert "2023-11-15T10:13:20Z" in error["message"]  # when the first leaves the window
    assert error["innerError"]["client-request-id"] == "c-6"
    assert refused.headers["Retry-After"] == str(int(12 * HOUR - 5 * 60))
    assert len(runs(base)) == 5  # nothing was stored
    clock.now = T0 + 12 * HOUR + 1  # the first one has left the window
    assert requests.post(base + START).status_code == 202
    assert requests.post(base + START).status_code == 429


def test_failed_runs_do_not_use_the_quota(make_sandbox: Factory, clock: Clock) -> None:
    base = make_sandbox(clock=clock, start_outcome="failed", run_seconds=1, start_limit=(2, HOUR)).base_url
    for _ in range(4):
        assert requests.post(base + START).status_code == 202
        clock.now += 2  # it has failed by the next request
    assert [r["status"] for r in runs(base)] == ["failed"] * 4


def test_the_limit_counts_runs_still_running(make_sandbox: Factory, clock: Clock) -> None:
    base = make_sandbox(clock=clock, run_seconds=600, start_limit=(2, HOUR)).base_url
    assert [requests.post(base + START).status_code for _ in range(3)] == [202, 202, 429]


def test_no_limit(make_sandbox: Factory, clock: Clock) -> None:
    base = make_sandbox(clock=clock, start_limit=None).base_url
    assert {requests.post(base + START).status_code for _ in range(12)} == {202}
    assert len(runs(base)) == 12


def test_two_sandboxes_on_one_file_share_the_limit(make_sandbox: Factory, clock: Clock) -> None:
    first = make_sandbox(clock=clock, start_limit=(3, HOUR)).base_url
    second = make_sandbox(clock=clock, start_limit=(3, HOUR)).base_url
    statuses = [requests.post((first, second)[i % 2] + START).status_code for i in range(6)]
    assert statuses == [202, 202, 202, 429, 429, 429]


# ---------------------------------------------------------------------------------------------
# The service's own schedule


def test_scheduled_runs_appear_every_period_and_settle(make_sandbox: Factory, clock: Clock) -> None:
    base = make_sandbox(clock=clock, schedule_every=12 * HOUR, run_seconds=30).base_url
    (first,) = runs(base)  # the first tick is when the sandbox is first asked
    assert (first["status"], first["startDateTime"]) == ("running", "2023-11-14T22:13:20.000000Z")
    assert first["displayName"] == "Run 2023-11-14 22:13 UTC"
    clock.now += 31
    assert [r["status"] for r in runs(base)] == ["completed"]
    clock.now = T0 + 12 * HOUR + 5
    listed = runs(base)
    starts = [r["startDateTime"] for r in listed]
    assert starts == ["2023-11-14T22:13:20.000000Z", "2023-11-15T10:13:20.000000Z"]
    assert listed[1]["status"] == "running"
    # They belong to the service's own flow, like runs made by start.
    seed = requests.get(f"{base}/industryData/incomingFlows/{START_FLOW_ID}/runs").json()["value"]
    assert len(seed) == 2


def test_a_scheduled_run_within_10_of_12_hours_after_an_on_demand_one_is_skipped(
    make_sandbox: Factory, clock: Clock
) -> None:
    base = make_sandbox(clock=clock, schedule_every=12 * HOUR).base_url
    assert len(runs(base)) == 1  # tick 0
    clock.now = T0 + 3 * HOUR
    assert requests.post(base + START).status_code == 202  # 9 hours before tick 1: it is skipped
    clock.now = T0 + 24 * HOUR + 1  # tick 2 is 21 hours after it: made
    starts = [r["startDateTime"][:16] for r in runs(base)]
    assert starts == ["2023-11-14T22:13", "2023-11-15T01:13", "2023-11-15T22:13"]


def test_missed_ticks_are_caught_up_ten_at_most(make_sandbox: Factory, clock: Clock) -> None:
    base = make_sandbox(clock=clock, schedule_every=60.0, run_seconds=0).base_url
    assert len(runs(base)) == 1
    clock.now += 3600  # 60 ticks later
    assert len(runs(base)) == 11
    assert len(runs(base)) == 11  # and each tick once


def test_the_schedule_makes_each_tick_once_across_sandboxes(make_sandbox: Factory, clock: Clock) -> None:
    first = make_sandbox(clock=clock, schedule_every=HOUR).base_url
    second = make_sandbox(clock=clock, schedule_every=HOUR).base_url
    for _ in range(3):
        runs(first), runs(second)
        clock.now += HOUR
    assert len(runs(first)) == 4 == len(runs(second))


def test_no_schedule_by_default(make_sandbox: Factory, clock: Clock) -> None:
    base = make_sandbox(clock=clock).base_url
    clock.now += 48 * HOUR
    assert runs(base) == []


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"start_limit": (0, HOUR)}, "start_limit"),
        ({"start_limit": (5, 0.0)}, "start_limit"),
        ({"schedule_every": 0.0}, "schedule_every"),
        ({"schedule_every": float("inf")}, "schedule_every"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Sandbox(SandboxOptions(**settings))


# ---------------------------------------------------------------------------------------------
# Parsing what flags and profiles say


def test_parse_start_limit() -> None:
    assert options.parse_start_limit("5/12h") == (5, 12 * HOUR)
    assert options.parse_start_limit(" 3/30m ") == (3, 1800.0)
    assert options.parse_start_limit("1/90") == (1, 90.0)
    assert options.parse_start_limit("2/1d") == (2, 86400.0)
    for none in ("0", "none", "OFF"):
        assert options.parse_start_limit(none) is None
    for bad in ("5", "0/12h", "x/12h", "5/", "5/0s", "5/12y", "-1/1h"):
        with pytest.raises(ValueError, match="start limit"):
            options.parse_start_limit(bad)


def test_parse_surface_and_duration() -> None:
    parsed = [options.parse_surface(s) for s in ("both", "Published", " draft ")]
    assert parsed == ["both", "published", "draft"]
    with pytest.raises(ValueError, match="both, published, draft"):
        options.parse_surface("seed")
    assert options.parse_duration("12h") == 12 * HOUR
    assert options.parse_duration("500ms") == 0.5
    assert options.parse_duration("90") == 90.0
    for bad in ("0", "soon", "-5m", ""):
        with pytest.raises(ValueError, match="duration"):
            options.parse_duration(bad)


def test_options_read_nothing_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNDCTL_SANDBOX_SURFACE", "draft")
    monkeypatch.setenv("RUNDCTL_SANDBOX_DB", "/nowhere/x.db")
    settings = SandboxOptions()
    assert (settings.surface, settings.db, settings.start_limit, settings.schedule_every) == (
        "both", ":memory:", (5, 12 * HOUR), None)


# ---------------------------------------------------------------------------------------------
# The command line


def invoke(args: list[str]) -> tuple[int, str]:
    from typer.testing import CliRunner

    from rundctl.app import app

    err = io.StringIO()
    deps = Deps(env={}, stdin=io.BytesIO(), stdout=io.StringIO(), stderr=err, stdin_tty=False,
                stdout_tty=False, stderr_tty=False)
    result = CliRunner().invoke(app, ["sandbox", *args], obj=deps, catch_exceptions=False)
    return result.exit_code, err.getvalue() + (result.stderr or "")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--surface", "seed"], "--surface"),
        (["--start-limit", "5 per day"], "--start-limit"),
        (["--schedule-every", "soon"], "--schedule-every"),
    ],
)
def test_bad_flag_values_are_usage_errors(args: list[str], fragment: str) -> None:
    code, err = invoke(["--port", "0", *args])
    assert code == 2
    assert fragment in err


class FirstLine(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.ready = threading.Event()

    def write(self, text: str) -> int:
        n = super().write(text)
        if "\n" in self.getvalue():
            self.ready.set()
        return n


def test_the_flags_reach_the_server(tmp_path: Path) -> None:
    """``rundctl sandbox --surface published --start-limit 1/1h --schedule-every 12h``, served
    in this thread until a real Ctrl-C."""
    from typer.testing import CliRunner

    from rundctl.app import app

    out = FirstLine()
    deps = Deps(env={}, stdin=io.BytesIO(), stdout=out, stderr=io.StringIO(), stdin_tty=False,
                stdout_tty=False, stderr_tty=False)
    seen: dict[str, Any] = {}
    main = threading.main_thread().ident
    assert main == threading.get_ident() and main is not None

    def drive() -> None:
        try:
            if out.ready.wait(20):
                url = out.getvalue().splitlines()[0]
                draft = requests.get(f"{url}/industryData/incomingFlows/{START_FLOW_ID}/runs")
                seen["draft"] = draft.status_code
                seen["listed"] = len(requests.get(url + RUNS).json()["value"])  # the schedule's first run
                seen["starts"] = [requests.post(url + START).status_code for _ in range(2)]
        finally:
            signal.pthread_kill(main, signal.SIGINT)

    helper = threading.Thread(target=drive, daemon=True)
    helper.start()
    result = CliRunner().invoke(
        app,
        ["sandbox", "--port", "0", "--db", str(tmp_path / "cli.db"), "-q", "--surface", "published",
         "--start-limit", "1/1h", "--schedule-every", "12h"],
        obj=deps,
        catch_exceptions=False,
    )
    helper.join(5)
    assert result.exit_code == 0
    assert seen == {"draft": 400, "listed": 1, "starts": [202, 429]}


def test_reads_take_no_write_lock_when_no_tick_is_due(
    make_sandbox: Factory, clock: Clock, tmp_path: Path
) -> None:
    """Another process holding the write lock does not turn reads into 503s: the schedule writes
    only when a tick is due."""
    import sqlite3

    db = tmp_path / "locked.db"
    base = make_sandbox(db=str(db), clock=clock, schedule_every=HOUR, db_busy_timeout=0.05).base_url
    assert len(runs(base)) == 1  # tick 0 made
    clock.now += 10
    assert runs(base)[0]["status"] == "completed"  # and settled
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        clock.now += 60
        assert requests.get(base + RUNS).status_code == 200
        clock.now += HOUR  # a tick is due, and the database is locked: 503, nothing half-made
        busy = requests.get(base + RUNS)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    finally:
        other.rollback()
        other.close()
    assert len(runs(base)) == 2
