"""End to end: list filters and paging, update, wait, and the published surface, driving the
installed `rundctl` against `rundctl sandbox`."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import requests

from tests.conftest import FLOW, invoke, run_exe, rundctl_exe

RUNNING = ["--name", "ci job", "--start", "now", "--status", "running", "--stat", "people=0"]


def seed(url: str, count: int) -> list[dict[str, object]]:
    """`count` runs, one per day of November 2026 going back from the 29th; every 4th failed."""
    made = []
    with requests.Session() as s:
        for i in range(count):
            day = 29 - (i % 29)
            month = 11 if i < 29 else 10
            body = {"displayName": f"run {i}", "startDateTime": f"2026-{month}-{day:02d}T0{i % 10}:00:00Z",
                    "endDateTime": f"2026-{month}-{day:02d}T0{i % 10}:30:00Z",
                    "status": "failed" if i % 4 == 0 else "completed", "statistics": {"i": i}}
            r = s.post(f"{url}/industryData/incomingFlows/{FLOW}/runs", json=body, timeout=10)
            r.raise_for_status()
            made.append(r.json())
    return made


def cli(url: str, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return run_exe([*args, "--endpoint", url], input=input)


def test_list_shows_30_newest_with_a_note_and_all_returns_every_run(sandbox_proc) -> None:
    made = seed(sandbox_proc.url, 35)
    newest = sorted(made, key=lambda r: r["startDateTime"], reverse=True)
    default = cli(sandbox_proc.url, "list", "--flow", FLOW, "-o", "json")
    assert default.returncode == 0, default.stderr
    shown = json.loads(default.stdout)
    assert [r["id"] for r in shown] == [r["id"] for r in newest[:30]]
    assert "showing 30; more available: --all" in default.stderr
    everything = cli(sandbox_proc.url, "list", "--flow", FLOW, "--all", "-o", "json")
    assert sorted(r["id"] for r in json.loads(everything.stdout)) == sorted(r["id"] for r in made)
    assert "more available" not in everything.stderr
    # Also without a flow, through the published API.
    published = cli(sandbox_proc.url, "list", "--all", "-o", "id")
    assert len(published.stdout.split()) == 35


def test_status_and_since_filters_return_exactly_the_matching_runs(sandbox_proc) -> None:
    made = seed(sandbox_proc.url, 35)
    want = {r["id"] for r in made
            if r["status"] == "failed" and r["startDateTime"] >= "2026-11-01T00:00:00Z"}
    got = cli(sandbox_proc.url, "list", "--flow", FLOW, "--status", "failed", "--since",
              "2026-11-01T00:00:00Z", "-o", "id")
    assert got.returncode == 0, got.stderr
    assert set(got.stdout.split()) == want and len(got.stdout.split()) == len(want)
    both = cli(sandbox_proc.url, "list", "--flow", FLOW, "--status", "FAILED", "--status",
               "completed", "--until", "2026-10-31T23:59:59Z", "--all", "-o", "id")
    assert set(both.stdout.split()) == {r["id"] for r in made
                                        if r["startDateTime"] < "2026-11-01"}


def test_bad_status_filter_is_a_usage_error_with_a_suggestion(sandbox_proc) -> None:
    proc = cli(sandbox_proc.url, "list", "--status", "complete")
    assert proc.returncode == 2 and "did you mean 'completed'" in proc.stderr


def test_ci_pattern_create_running_update_in_another_process_wait_exits_13(sandbox_proc) -> None:
    made = cli(sandbox_proc.url, "create", "--flow", FLOW, *RUNNING, "-o", "id")
    run_id = made.stdout.strip()
    waiter = subprocess.Popen(
        [rundctl_exe(), "wait", run_id, "--flow", FLOW, "--interval", "1s", "--endpoint",
         sandbox_proc.url, "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    upd = cli(sandbox_proc.url, "update", run_id, "--flow", FLOW, "--status", "failed", "--end",
              "now", "--error-code", "E42", "-o", "json")
    assert upd.returncode == 0, upd.stderr
    assert json.loads(upd.stdout)["status"] == "failed"
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 13, err
    assert json.loads(out)["blockingError"]["code"] == "E42"
    assert "ended failed" in err


def test_wait_times_out_with_17_while_the_run_is_still_running(sandbox_proc) -> None:
    run_id = cli(sandbox_proc.url, "create", "--flow", FLOW, *RUNNING, "-o", "id").stdout.strip()
    started = time.monotonic()
    proc = cli(sandbox_proc.url, "wait", run_id, "--flow", FLOW, "--timeout", "3s", "-o", "none")
    assert proc.returncode == 17, proc.stderr
    assert time.monotonic() - started < 20
    assert "still running" in proc.stderr


def test_completed_with_errors_exits_14_and_never_tolerates_it(sandbox_proc) -> None:
    run_id = cli(sandbox_proc.url, "create", "--flow", FLOW, "--name", "x", "--start",
                 "2026-11-01T00:00:00Z", "--end", "2026-11-01T01:00:00Z", "--status",
                 "completedWithErrors", "--stat", "errors=3", "-o", "id").stdout.strip()
    assert cli(sandbox_proc.url, "wait", run_id, "--flow", FLOW, "-o", "none").returncode == 14
    assert cli(sandbox_proc.url, "wait", run_id, "--fail-on", "never", "-o", "none").returncode == 0


def test_update_is_checked_against_the_stored_run_before_sending(sandbox_proc) -> None:
    run_id = cli(sandbox_proc.url, "create", "--flow", FLOW, *RUNNING, "-o", "id").stdout.strip()
    bad = cli(sandbox_proc.url, "update", run_id, "--flow", FLOW, "--end", "now")
    assert bad.returncode == 3 and "endDateTime" in bad.stderr
    early = cli(sandbox_proc.url, "update", run_id, "--flow", FLOW, "--status", "completed",
                "--end", "2000-01-01T00:00:00Z")
    assert early.returncode == 3 and "endDateTime" in early.stderr
    stored = json.loads(cli(sandbox_proc.url, "get", run_id, "--flow", FLOW).stdout)
    assert stored["status"] == "running" and stored.get("endDateTime") is None
    good = cli(sandbox_proc.url, "update", run_id, "--flow", FLOW, "--status", "completed",
               "--end", "now", "--stat", "people=1200")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["statistics"] == {"people": 1200}
    missing = cli(sandbox_proc.url, "update", "00000000-0000-4000-8000-000000000000", "--flow",
                  FLOW, "--status", "failed")
    assert missing.returncode == 6


@pytest.fixture
def fast_sandbox(tmp_path):
    proc = subprocess.Popen(
        [rundctl_exe(), "sandbox", "--port", "0", "--db", str(tmp_path / "s.db"), "--quiet",
         "--run-seconds", "1", "--start-outcome", "completedWithWarnings"],
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_start_wait_stats_activities_with_no_flow(fast_sandbox) -> None:
    started = cli(fast_sandbox, "start", "--wait", "--interval", "1s", "--fail-on", "warnings",
                  "-o", "json")
    assert started.returncode == 15, started.stderr
    run = json.loads(started.stdout)
    assert run["status"] == "completedWithWarnings"
    stats = cli(fast_sandbox, "stats", run["id"], "-o", "json")
    assert stats.returncode == 0 and json.loads(stats.stdout)["runId"] == run["id"]
    acts = cli(fast_sandbox, "activities", run["id"], "-o", "ndjson")
    assert acts.returncode == 0 and all(json.loads(line)["status"] for line in acts.stdout.splitlines())
    assert acts.stdout.strip()
    got = cli(fast_sandbox, "get", run["id"], "-o", "json")
    assert json.loads(got.stdout)["id"] == run["id"]
    plain = cli(fast_sandbox, "start")
    assert plain.returncode == 0 and plain.stdout == ""
    assert "rundctl list --limit 1" in plain.stderr


def test_flows_list_and_get(sandbox_proc) -> None:
    cli(sandbox_proc.url, "create", "--flow", FLOW, *RUNNING, "-o", "none")
    flows = cli(sandbox_proc.url, "flows", "list", "-o", "id")
    assert FLOW in flows.stdout.split()
    one = cli(sandbox_proc.url, "flows", "get", FLOW, "-o", "json")
    assert json.loads(one.stdout)["id"] == FLOW


def test_wait_in_process_with_an_injected_clock_needs_no_real_time(sandbox_proc) -> None:
    run_id = cli(sandbox_proc.url, "create", "--flow", FLOW, *RUNNING, "-o", "id").stdout.strip()
    started = time.monotonic()
    res = invoke(["wait", run_id, "--flow", FLOW, "--endpoint", sandbox_proc.url,
                  "--timeout", "10m", "-o", "none"])
    assert res.exit_code == 17
    assert time.monotonic() - started < 10  # 10 simulated minutes of polling, no real sleep
