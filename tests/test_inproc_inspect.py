"""list, get, update, wait, stats, activities, start and flows in-process, against a sandbox
served from this process; waits run on a fake clock, so they take no real time."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.conftest import FLOW, FakeClock, invoke
from tests.test_inproc_support import MISSING, RUNNING, listed, local_sandbox, post_run


@pytest.fixture
def url() -> Iterator[str]:
    with local_sandbox() as base:
        yield base


def seed(url: str, count: int) -> list[dict[str, Any]]:
    """`count` runs, one per day of November 2026 going back from the 29th; every 4th failed."""
    made = []
    for i in range(count):
        day = 29 - (i % 29)
        month = 11 if i < 29 else 10
        made.append(post_run(url, {
            "displayName": f"run {i}", "startDateTime": f"2026-{month}-{day:02d}T0{i % 10}:00:00Z",
            "endDateTime": f"2026-{month}-{day:02d}T0{i % 10}:30:00Z",
            "status": "failed" if i % 4 == 0 else "completed", "statistics": {"i": i}}))
    return made


def cli(url: str, *args: str, **kw: Any):
    return invoke([*args, "--endpoint", url], **kw)


def new_running(url: str) -> str:
    res = cli(url, "create", "--flow", FLOW, *RUNNING, "-o", "id")
    assert res.exit_code == 0, res.stderr
    return res.stdout.strip()


class ActingClock(FakeClock):
    """A fake clock that does something (another client's change) at its n-th sleep."""

    def __init__(self, actions: dict[int, Callable[[], None]]) -> None:
        super().__init__()
        self.actions = actions

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        action = self.actions.pop(len(self.slept), None)
        if action is not None:
            action()


def patch(url: str, run_id: str, body: dict[str, Any]) -> None:
    r = requests.patch(f"{url}/industryData/incomingFlows/{FLOW}/runs/{run_id}", json=body,
                       timeout=10)
    assert r.status_code in (200, 204), r.text


# -- list ---------------------------------------------------------------------------------


def test_list_shows_30_newest_with_a_note_and_all_returns_every_run(url) -> None:
    made = seed(url, 35)
    newest = sorted(made, key=lambda r: r["startDateTime"], reverse=True)
    default = cli(url, "list", "--flow", FLOW, "-o", "json")
    assert default.exit_code == 0, default.stderr
    shown = json.loads(default.stdout)
    assert [r["id"] for r in shown] == [r["id"] for r in newest[:30]]
    assert "showing 30; more available: --all" in default.stderr
    everything = cli(url, "list", "--flow", FLOW, "--all", "-o", "json")
    assert sorted(r["id"] for r in json.loads(everything.stdout)) == sorted(r["id"] for r in made)
    assert "more available" not in everything.stderr
    # Also without a flow, through the published API.
    published = cli(url, "list", "--all", "-o", "id")
    assert len(published.stdout.split()) == 35


def test_limit_cuts_the_list_and_says_more_are_available(url) -> None:
    made = seed(url, 6)
    newest = sorted(made, key=lambda r: r["startDateTime"], reverse=True)
    cut = cli(url, "list", "--flow", FLOW, "--limit", "4", "-o", "id")
    assert cut.stdout.split() == [r["id"] for r in newest[:4]]
    assert cut.stderr == "rundctl: showing 4; more available: --all or --limit N\n"
    exact = cli(url, "list", "--flow", FLOW, "--limit", "6", "-o", "id")
    assert exact.stdout.split() == [r["id"] for r in newest]
    assert exact.stderr == ""


def test_status_and_since_filters_return_exactly_the_matching_runs(url) -> None:
    made = seed(url, 35)
    want = {r["id"] for r in made
            if r["status"] == "failed" and r["startDateTime"] >= "2026-11-01T00:00:00Z"}
    got = cli(url, "list", "--flow", FLOW, "--status", "failed", "--since",
              "2026-11-01T00:00:00Z", "-o", "id")
    assert got.exit_code == 0, got.stderr
    assert set(got.stdout.split()) == want and len(got.stdout.split()) == len(want)
    both = cli(url, "list", "--flow", FLOW, "--status", "FAILED", "--status",
               "completed", "--until", "2026-10-31T23:59:59Z", "--all", "-o", "id")
    assert set(both.stdout.split()) == {r["id"] for r in made
                                        if r["startDateTime"] < "2026-11-01"}


def test_since_as_an_age_counts_back_from_the_injected_clock(url) -> None:
    made = seed(url, 10)  # Nov 29 .. Nov 20; the fake clock says Nov 29 12:00
    got = cli(url, "list", "--flow", FLOW, "--since", "3d", "-o", "id")
    want = [r["id"] for r in sorted(made, key=lambda r: r["startDateTime"], reverse=True)
            if r["startDateTime"] >= "2026-11-26T12:00:00Z"]
    assert got.stdout.split() == want and len(want) == 3


@pytest.mark.parametrize(("flag", "value"), [("--since", "last week"), ("--until", "2026-13-01")])
def test_a_bad_time_filter_is_a_usage_error_with_examples(url, flag, value) -> None:
    res = cli(url, "list", "--flow", FLOW, flag, value)
    assert res.exit_code == 2
    assert res.stderr.startswith(f"rundctl: error: {flag}:")
    hint = res.stderr.splitlines()[-1]
    assert hint.startswith("hint: give a timestamp like 2026-11-01T00:00:00Z")
    assert "an age like 24h" in hint


def test_bad_status_filter_is_a_usage_error_with_a_suggestion(url) -> None:
    res = cli(url, "list", "--status", "complete")
    assert res.exit_code == 2 and "did you mean 'completed'" in res.stderr


def test_list_in_every_machine_format(url) -> None:
    made = seed(url, 2)
    ids = [made[0]["id"], made[1]["id"]]  # Nov 29 then Nov 28: newest first
    as_json = json.loads(cli(url, "list", "--flow", FLOW, "-o", "json").stdout)
    assert [r["id"] for r in as_json] == ids
    nd = cli(url, "list", "--flow", FLOW, "-o", "ndjson").stdout.splitlines()
    assert [json.loads(line) for line in nd] == as_json
    tsv = cli(url, "list", "--flow", FLOW, "-o", "tsv").stdout
    assert tsv == (f"{ids[0]}\trun 0\tfailed\t2026-11-29T00:00:00Z\t2026-11-29T00:30:00Z\n"
                   f"{ids[1]}\trun 1\tcompleted\t2026-11-28T01:00:00Z\t2026-11-28T01:30:00Z\n")
    assert cli(url, "list", "--flow", FLOW, "-o", "id").stdout == f"{ids[0]}\n{ids[1]}\n"
    assert cli(url, "list", "--flow", FLOW, "-o", "none").stdout == ""


def test_an_empty_list_is_an_empty_array_and_an_empty_table(url) -> None:
    assert cli(url, "list", "--flow", FLOW, "-o", "json").stdout == "[]\n"
    table = cli(url, "list", "--flow", FLOW, tty=True, env={"NO_COLOR": "1"})
    assert table.exit_code == 0 and table.stdout == ""


def test_list_on_a_terminal_is_a_table_with_relative_times(url) -> None:
    made = seed(url, 2)
    res = cli(url, "list", "--flow", FLOW, tty=True, env={"NO_COLOR": "1", "COLUMNS": "140"})
    assert res.exit_code == 0, res.stderr
    lines = [line.split() for line in res.stdout.splitlines()]
    assert lines[0] == ["ID", "NAME", "STATUS", "STARTED", "DURATION"]
    assert lines[1] == [made[0]["id"], "run", "0", "failed", "12h", "00m", "ago", "30m", "00s"]
    assert lines[2] == [made[1]["id"], "run", "1", "completed", "35h", "00m", "ago", "30m", "00s"]
    assert "\x1b[" not in res.stdout


def test_list_table_when_piped_has_utc_times(url) -> None:
    made = seed(url, 1)
    res = cli(url, "list", "--flow", FLOW, "-o", "table", env={"COLUMNS": "140"})
    row = res.stdout.splitlines()[1].split()
    assert row[0] == made[0]["id"] and "2026-11-29T00:00:00Z" in row


# -- get, update --------------------------------------------------------------------------


def test_get_under_a_flow_and_through_the_published_api(url) -> None:
    run_id = new_running(url)
    seeded = json.loads(cli(url, "get", run_id, "--flow", FLOW).stdout)
    assert seeded["statistics"] == {"people": 0} and seeded["status"] == "running"
    published = json.loads(cli(url, "get", run_id, "-o", "json").stdout)
    assert published["id"] == run_id and "statistics" not in published
    assert published["@odata.type"] == "#microsoft.graph.industryData.industryDataRun"


def test_get_as_a_table_on_a_terminal_shows_how_long_it_has_run(url) -> None:
    post_run(url, {"displayName": "long", "startDateTime": "2026-11-29T09:15:00Z",
                   "status": "running", "statistics": {}})
    [run] = listed(url)
    res = cli(url, "get", run["id"], "--flow", FLOW, tty=True, env={"NO_COLOR": "1"})
    rows = {line.split()[0]: line.split()[1:] for line in res.stdout.splitlines()}
    assert rows["Started"] == ["2h", "45m", "ago", "(2026-11-29", "09:15:00Z)"]
    assert rows["Duration"] == ["2h", "45m", "so", "far"]
    assert "Ended" not in rows


@pytest.mark.parametrize("args", [["--flow", FLOW], []])
def test_get_a_missing_run_exits_6(url, args) -> None:
    res = cli(url, "get", MISSING, *args)
    assert res.exit_code == 6
    assert res.stderr.startswith("rundctl: error:") and MISSING in res.stderr


def test_get_with_a_bad_run_id_is_a_usage_error(url) -> None:
    res = cli(url, "get", "nope")
    assert res.exit_code == 2 and "RUN: 'nope' is not a GUID" in res.stderr


def test_update_is_checked_against_the_stored_run_before_sending(url) -> None:
    run_id = new_running(url)
    bad = cli(url, "update", run_id, "--flow", FLOW, "--end", "now")
    assert bad.exit_code == 3 and "endDateTime" in bad.stderr
    early = cli(url, "update", run_id, "--flow", FLOW, "--status", "completed",
                "--end", "2000-01-01T00:00:00Z")
    assert early.exit_code == 3 and "endDateTime" in early.stderr
    stored = json.loads(cli(url, "get", run_id, "--flow", FLOW).stdout)
    assert stored["status"] == "running" and stored.get("endDateTime") is None
    good = cli(url, "update", run_id, "--flow", FLOW, "--status", "completed",
               "--end", "now", "--stat", "people=1200")
    assert good.exit_code == 0, good.stderr
    assert json.loads(good.stdout)["statistics"] == {"people": 1200}
    assert listed(url)[0]["endDateTime"] == "2026-11-29T12:00:00Z"
    missing = cli(url, "update", MISSING, "--flow", FLOW, "--status", "failed")
    assert missing.exit_code == 6


def test_update_with_nothing_to_change_sends_nothing(url) -> None:
    run_id = new_running(url)
    res = cli(url, "update", run_id, "--flow", FLOW)
    assert res.exit_code in (2, 3) and "nothing to update" in res.stderr
    assert listed(url)[0]["status"] == "running"


def test_update_needs_a_flow(url) -> None:
    res = cli(url, "update", MISSING, "--status", "failed")
    assert res.exit_code == 2
    assert "--flow is required" in res.stderr and "hint: pass --flow ID or set RUNDCTL_FLOW" in res.stderr


def test_update_reads_the_run_back_after_a_204_answer() -> None:
    from tests.scripted_server import ScriptedServer, Step

    before = {"id": MISSING, "displayName": "x", "startDateTime": "2026-11-29T10:00:00Z",
              "status": "running", "statistics": {}}
    after = {**before, "status": "completed", "endDateTime": "2026-11-29T12:00:00Z"}
    with ScriptedServer() as server:
        server.queue(Step(200, json=before), Step(204, body=b""), Step(200, json=after))
        res = invoke(["update", MISSING, "--flow", FLOW, "--endpoint", server.url, "--status",
                      "completed", "--end", "now", "-o", "json"])
        methods = [r.method for r in server.requests]
        sent = [r.json() for r in server.requests if r.method == "PATCH"]
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout) == after
    assert methods == ["GET", "PATCH", "GET"]
    assert sent == [{"status": "completed", "endDateTime": "2026-11-29T12:00:00Z"}]


# -- wait ---------------------------------------------------------------------------------


def test_wait_while_another_client_fails_the_run_exits_13(url) -> None:
    run_id = new_running(url)
    clock = ActingClock({1: lambda: patch(url, run_id, {
        "status": "failed", "endDateTime": "2026-11-29T12:00:05Z",
        "blockingError": {"code": "E42"}})})
    res = cli(url, "wait", run_id, "--flow", FLOW, "--interval", "1s", "-o", "json", clock=clock)
    assert res.exit_code == 13, res.stderr
    assert json.loads(res.stdout)["blockingError"]["code"] == "E42"
    assert res.stderr.splitlines()[-2:] == [f"rundctl: run {run_id} ended failed",
                                            "  blocking error: E42"]
    assert clock.slept == [1.0]


def test_wait_times_out_with_17_while_the_run_is_still_running(url) -> None:
    run_id = new_running(url)
    clock = FakeClock()
    res = cli(url, "wait", run_id, "--flow", FLOW, "--timeout", "3s", "-o", "none", clock=clock)
    assert res.exit_code == 17, res.stderr
    assert sum(clock.slept) == pytest.approx(3)  # bounded by --timeout, in simulated time
    assert (f"rundctl: error: timed out after 3s; run {run_id} is still running\n"
            "hint: wait again with a longer --timeout\n") in res.stderr


def test_wait_in_process_with_an_injected_clock_needs_no_real_time(url) -> None:
    import time

    run_id = new_running(url)
    started = time.monotonic()
    clock = FakeClock()
    res = cli(url, "wait", run_id, "--flow", FLOW, "--timeout", "10m", "-o", "none", clock=clock)
    assert res.exit_code == 17
    assert sum(clock.slept) == pytest.approx(600)
    assert time.monotonic() - started < 10  # 10 simulated minutes of polling, no real sleep


def test_completed_with_errors_exits_14_and_never_tolerates_it(url) -> None:
    run_id = cli(url, "create", "--flow", FLOW, "--name", "x", "--start",
                 "2026-11-01T00:00:00Z", "--end", "2026-11-01T01:00:00Z", "--status",
                 "completedWithErrors", "--stat", "errors=3", "-o", "id").stdout.strip()
    assert cli(url, "wait", run_id, "--flow", FLOW, "-o", "none").exit_code == 14
    assert cli(url, "wait", run_id, "--fail-on", "never", "-o", "none").exit_code == 0


def test_warnings_exit_15_only_with_fail_on_warnings(url) -> None:
    run_id = cli(url, "create", "--flow", FLOW, "--name", "x", "--start",
                 "2026-11-01T00:00:00Z", "--end", "2026-11-01T01:00:00Z", "--status",
                 "completedWithWarnings", "--stat", "warnings=1", "-o", "id").stdout.strip()
    assert cli(url, "wait", run_id, "-o", "none").exit_code == 0
    res = cli(url, "wait", run_id, "--fail-on", "WARNINGS", "-o", "none")
    assert res.exit_code == 15
    assert res.stderr == f"rundctl: run {run_id} ended completedWithWarnings\n"


def test_a_status_rundctl_does_not_know_exits_16() -> None:
    from tests.scripted_server import ScriptedServer, Step

    odd = {"id": MISSING, "displayName": "x", "status": "paused"}
    with ScriptedServer([Step(200, json=odd)]) as server:
        res = invoke(["wait", MISSING, "--endpoint", server.url, "-o", "none"])
    assert res.exit_code == 16
    assert res.stderr == f"rundctl: run {MISSING} ended in status 'paused', which rundctl does not know\n"


def test_a_run_that_never_appears_exits_6_after_the_grace_period(url) -> None:
    clock = FakeClock()
    res = cli(url, "wait", MISSING, "--not-found-grace", "20s", "--interval", "5s", clock=clock)
    assert res.exit_code == 6
    assert MISSING in res.stderr
    assert sum(clock.slept) >= 20


def test_wait_on_a_terminal_shows_a_spinner_and_the_outcome(url) -> None:
    run_id = cli(url, "create", "--flow", FLOW, "--name", "x", "--start", "2026-11-01T00:00:00Z",
                 "--end", "2026-11-01T01:00:00Z", "--status", "completed", "--stat", "a=1",
                 "-o", "id").stdout.strip()
    res = cli(url, "wait", run_id, "--flow", FLOW, "-o", "id", tty=True,
              env={"NO_COLOR": "1", "TERM": "xterm"})
    assert res.exit_code == 0, res.stderr
    assert res.stdout == run_id + "\n"
    assert res.stderr.rstrip().endswith(f"rundctl: run {run_id} ended completed")


def test_a_failed_wait_in_github_actions_is_an_annotation(url, tmp_path) -> None:
    run_id = cli(url, "create", "--flow", FLOW, "--name", "x", "--start", "2026-11-01T00:00:00Z",
                 "--end", "2026-11-01T01:00:00Z", "--status", "failed", "--stat", "a=1",
                 "-o", "id").stdout.strip()
    summary = tmp_path / "summary.md"
    res = cli(url, "wait", run_id, "-o", "none",
              env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert res.exit_code == 13
    assert f"::error title=rundctl::run {run_id} ended failed (exit 13)" in res.stderr
    assert f"run {run_id} ended failed (exit 13)" in summary.read_text()


# -- start, stats, activities -----------------------------------------------------------------


def test_start_wait_stats_activities_with_no_flow() -> None:
    clock = FakeClock()
    with local_sandbox(clock, run_seconds=12, start_outcome="completedWithWarnings") as base:
        started = cli(base, "start", "--wait", "--interval", "5s", "--fail-on", "warnings",
                      "-o", "json", clock=clock)
        assert started.exit_code == 15, started.stderr
        run = json.loads(started.stdout)
        assert run["status"] == "completedWithWarnings"
        assert clock.slept == [5.0, 5.0, 5.0]  # running until 12 s of sandbox time had passed
        assert started.stderr.splitlines()[0] == f"rundctl: started run {run['id']}"
        stats = cli(base, "stats", run["id"], "-o", "json")
        assert stats.exit_code == 0 and json.loads(stats.stdout)["runId"] == run["id"]
        assert json.loads(stats.stdout)["inboundTotals"]["warnings"] >= 1
        acts = cli(base, "activities", run["id"], "-o", "ndjson")
        assert acts.exit_code == 0
        assert [json.loads(line)["status"] for line in acts.stdout.splitlines()] == [
            "completedWithWarnings"]
        got = cli(base, "get", run["id"], "-o", "json")
        assert json.loads(got.stdout)["id"] == run["id"]
        plain = cli(base, "start")
        assert plain.exit_code == 0 and plain.stdout == ""
        assert "rundctl list --limit 1" in plain.stderr
        assert "started an on-demand run (HTTP 202" in plain.stderr


def test_start_wait_gives_up_when_the_new_run_never_shows_up() -> None:
    from tests.scripted_server import ScriptedServer, Step

    def answer(request) -> Step:
        if request.method == "POST":
            return Step(202, body=b"")
        return Step(200, json={"value": []})

    clock = FakeClock()
    with ScriptedServer(answer) as server:
        res = invoke(["start", "--wait", "--not-found-grace", "6s", "--endpoint", server.url],
                     clock=clock)
    assert res.exit_code == 6
    assert "the started run did not appear in the run list within 6s" in res.stderr
    assert "hint: run 'rundctl list --limit 5' to look for it" in res.stderr
    assert clock.slept == [2.0, 2.0, 2.0]


def test_stats_table_shows_totals_roles_and_activities() -> None:
    clock = FakeClock()
    with local_sandbox(clock, run_seconds=0) as base:
        assert cli(base, "start").exit_code == 0
        [run] = json.loads(cli(base, "list", "-o", "json").stdout)
        data = json.loads(cli(base, "stats", run["id"], "-o", "json").stdout)
        res = cli(base, "stats", run["id"], tty=True, env={"NO_COLOR": "1", "COLUMNS": "160"})
        tsv = cli(base, "stats", run["id"], "-o", "tsv").stdout
    totals = data["inboundTotals"]
    rows = [line.split() for line in res.stdout.splitlines()]
    assert rows[0] == ["Run", run["id"]]
    assert rows[1] == ["Status", "completed"]
    assert ["people", str(totals["people"])] in rows
    roles = totals["matchedPeopleByRole"]
    assert ["matchedPeopleByRole", "student", f"{roles[0]['count']},", "teacher",
            str(roles[1]["count"])] in rows
    assert ["unmatchedPeopleByRole", "-"] in rows
    activity = data["activityStatistics"][0]
    assert ["Activity", *activity["displayName"].split(), "status=completed",
            f"errors={activity['errors']}", f"warnings={activity['warnings']}"] in rows
    assert tsv == f"{run['id']}\tcompleted\n"


def test_activities_as_a_table_and_tsv() -> None:
    with local_sandbox(run_seconds=3600) as base:
        cli(base, "start")
        [run] = json.loads(cli(base, "list", "-o", "json").stdout)
        acts = json.loads(cli(base, "activities", run["id"], "-o", "json").stdout)
        table = cli(base, "activities", run["id"], tty=True, env={"NO_COLOR": "1", "COLUMNS": "140"})
        tsv = cli(base, "activities", run["id"], "-o", "tsv").stdout
    [act] = acts
    lines = [line.split() for line in table.stdout.splitlines()]
    assert lines[0] == ["ID", "NAME", "STATUS"]
    assert lines[1] == [act["id"], *act["displayName"].split(), "inProgress"]
    assert tsv == f"{act['id']}\t{act['displayName']}\tinProgress\n"


def test_stats_of_a_missing_run_exits_6(url) -> None:
    assert cli(url, "stats", MISSING).exit_code == 6
    assert cli(url, "activities", MISSING).exit_code == 6


# -- flows ----------------------------------------------------------------------------------


def test_flows_list_and_get(url) -> None:
    new_running(url)
    flows = cli(url, "flows", "list", "-o", "id")
    assert FLOW in flows.stdout.split()
    one = cli(url, "flows", "get", FLOW, "-o", "json")
    assert json.loads(one.stdout)["id"] == FLOW
    assert json.loads(one.stdout)["readinessStatus"] == "ready"


def test_flows_as_tables_and_tsv(url) -> None:
    new_running(url)
    table = cli(url, "flows", "list", tty=True, env={"NO_COLOR": "1", "COLUMNS": "160"})
    lines = [line.split() for line in table.stdout.splitlines()]
    assert lines[0] == ["ID", "NAME", "READINESS", "DOMAIN", "TYPE"]
    # The type column drops the "#microsoft.graph.industryData." prefix.
    assert [FLOW, "Sandbox", "flow", FLOW[:8], "ready", "educationRostering",
            "inboundFileFlow"] in lines
    one = cli(url, "flows", "get", FLOW, "-o", "tsv").stdout
    assert one == (f"{FLOW}\tSandbox flow {FLOW[:8]}\tready\teducationRostering\t"
                   "#microsoft.graph.industryData.inboundFileFlow\n")
    single = cli(url, "flows", "get", FLOW, tty=True, env={"NO_COLOR": "1", "COLUMNS": "160"})
    assert single.stdout.splitlines()[1].split()[:2] == [FLOW, "Sandbox"]


def test_flows_get_of_a_missing_flow_exits_6_and_a_bad_id_2(url) -> None:
    missing = cli(url, "flows", "get", MISSING)
    assert missing.exit_code == 6 and "itemNotFound" in missing.stderr
    assert cli(url, "flows", "get", "nope").exit_code == 2
