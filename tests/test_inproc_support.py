"""Helpers for the in-process tests: a sandbox served from this process on loopback, sample
runs, and what the service stored. The checks at the bottom keep the helpers honest."""

from __future__ import annotations

import collections
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.conftest import FIXED_NOW, FLOW, FakeClock, invoke

RUN: dict[str, Any] = {
    "displayName": "Nightly import",
    "startDateTime": "2026-11-01T10:00:00+05:30",
    "endDateTime": "2026-11-01T06:00:00Z",
    "status": "Completed",
    "statistics": {"people": 12},
}
RUNNING = ["--name", "ci job", "--start", "now", "--status", "running", "--stat", "people=0"]
MISSING = "00000000-0000-4000-8000-000000000000"


def sandbox_clock(clock: FakeClock) -> Any:
    """The sandbox's wall clock (epoch seconds) moving with the fake clock's sleeps."""
    start = clock.mono
    return lambda: FIXED_NOW.timestamp() + (clock.mono - start)


@contextmanager
def local_sandbox(clock: FakeClock | None = None, **options: Any) -> Iterator[str]:
    """A sandbox on 127.0.0.1 served by a thread of this process; yields its base URL.

    With *clock*, the sandbox's time advances exactly as the fake clock sleeps (runs made by
    ``start`` settle after ``run_seconds`` of simulated time)."""
    from rundctl.sandbox.server import Sandbox, SandboxOptions

    if clock is not None:
        options.setdefault("clock", sandbox_clock(clock))
    box = Sandbox(SandboxOptions(port=0, **options))
    url = box.start()
    try:
        yield url
    finally:
        box.stop()


def records(count: int, *, bad_line: int | None = None) -> str:
    """*count* NDJSON runs named "run 0".. ; the record on *bad_line* has a misspelt status."""
    lines = []
    for i in range(count):
        status = "complete" if bad_line == i + 1 else "completed"
        lines.append(json.dumps({"displayName": f"run {i}", "startDateTime": "2026-11-01T10:00:00Z",
                                 "status": status, "statistics": {"i": i}}))
    return "\n".join(lines) + "\n"


def listed(url: str, *extra: str) -> list[dict[str, Any]]:
    """Every run of FLOW the service holds, read back with ``rundctl list --all``."""
    res = invoke(["list", "--flow", FLOW, "--all", "--endpoint", url, "-o", "json", *extra])
    assert res.exit_code == 0, res.stderr
    runs: list[dict[str, Any]] = json.loads(res.stdout)
    return runs


def stored(url: str) -> collections.Counter[str]:
    """How many runs of FLOW the service holds, per displayName."""
    return collections.Counter(str(r["displayName"]) for r in listed(url))


def post_run(url: str, body: dict[str, Any], flow: str = FLOW) -> dict[str, Any]:
    """Create a run straight over HTTP (no rundctl code involved)."""
    import requests

    r = requests.post(f"{url}/industryData/incomingFlows/{flow}/runs", json=body, timeout=10)
    r.raise_for_status()
    made: dict[str, Any] = r.json()
    return made


# -- the helpers themselves ------------------------------------------------------------------


def test_the_local_sandbox_stores_what_is_posted_and_stops() -> None:
    import requests

    with local_sandbox() as url:
        assert url.startswith("http://127.0.0.1:")
        made = post_run(url, {"displayName": "a", "startDateTime": "2026-11-01T10:00:00Z",
                              "status": "completed", "statistics": {}})
        assert stored(url) == {"a": 1}
        assert [r["id"] for r in listed(url)] == [made["id"]]
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        pass
    else:
        raise AssertionError("the sandbox still answers after stop()")


def test_sandbox_clock_follows_the_fake_clock() -> None:
    clock = FakeClock()
    now = sandbox_clock(clock)
    assert now() == FIXED_NOW.timestamp()
    clock.sleep(90)
    assert now() == FIXED_NOW.timestamp() + 90


def test_records_marks_only_the_bad_line() -> None:
    lines = [json.loads(x) for x in records(3, bad_line=2).splitlines()]
    assert [x["status"] for x in lines] == ["completed", "complete", "completed"]
    assert [x["displayName"] for x in lines] == ["run 0", "run 1", "run 2"]
