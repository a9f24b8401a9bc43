"""The "do" step (rundctl.ops) called directly against a sandbox served from this process:
each function returns a result and says what it has to say through the callbacks it is
given; none prints data or exits."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from rundctl import ops
from rundctl.deps import Deps
from rundctl.errors import ExitCode, NotFound, TemporaryFailure
from rundctl.model import Overrides
from rundctl.settings import ConnSettings, parse_cloud, parse_endpoint
from rundctl.wait import WaitOptions
from tests.conftest import FLOW, FakeClock
from tests.test_inproc_support import MISSING, listed, local_sandbox, records, stored

BODY = {"@odata.type": "#microsoft.industryData.run", "displayName": "ops run",
        "startDateTime": "2026-11-29T12:00:00Z", "status": "running", "statistics": {"a": 1}}


def settings(endpoint: str | None, **kw: Any) -> ConnSettings:
    cloud = parse_cloud("global")
    return ConnSettings(endpoint=parse_endpoint(endpoint, cloud), cloud=cloud, auth_mode="auto",
                        token_file=None, timeout=kw.pop("timeout", 120.0), debug=False, **kw)


def world(clock: FakeClock | None = None, **env: str) -> Deps:
    clock = clock or FakeClock()
    return Deps(env=env, stdin=io.BytesIO(), stdout=io.StringIO(), stderr=io.StringIO(),
                clock=clock.clock, monotonic=clock.monotonic, sleep=clock.sleep,
                stdin_tty=False, stdout_tty=False, stderr_tty=False)


@pytest.fixture
def url() -> Iterator[str]:
    with local_sandbox() as base:
        yield base


def test_create_one_returns_the_created_run_and_says_nothing(url) -> None:
    deps, said = world(), []
    with ops.connect(deps, settings(url)) as client:
        run = ops.create_one(client, FLOW, None, dict(BODY), say=said.append)
    assert run["displayName"] == "ops run" and run["id"]
    assert said == []
    assert deps.stdout.getvalue() == "" and deps.stderr.getvalue() == ""  # type: ignore[attr-defined]
    assert [r["id"] for r in listed(url)] == [run["id"]]


def test_create_one_says_when_it_recovered_a_lost_answer() -> None:
    from tests.scripted_server import ScriptedServer, Step

    made = {"id": "3f1c1e9a-1f2b-4c8d-9e0f-123456789abc", **{k: v for k, v in BODY.items()
                                                             if k != "@odata.type"}}
    posted: list[bool] = []

    def answer(request) -> Step:
        if request.method == "POST":
            posted.append(True)
            return Step(action="close_before_response")
        return Step(200, json={"value": [made] if posted else []})

    said: list[str] = []
    with ScriptedServer(answer) as server:
        with ops.connect(world(), settings(server.url)) as client:
            run = ops.create_one(client, FLOW, None, dict(BODY), say=said.append)
    assert run["id"] == made["id"]
    assert len(said) == 1 and said[0].startswith(f"recovered: created {made['id']}")


def test_dry_run_describes_the_request_without_a_connection() -> None:
    request = ops.dry_run(world(RUNDCTL_TOKEN="tok-abcdefgh12345678"), settings(None), FLOW,
                          MISSING, dict(BODY))
    assert request["method"] == "POST"
    assert request["url"] == ("https://graph.microsoft.com/beta/industryData/incomingFlows/"
                              f"{FLOW}/runs/{MISSING}/process/runs")
    assert request["headers"]["Authorization"] == "Bearer <redacted>"
    assert request["body"]["displayName"] == "ops run"
    sandbox = ops.dry_run(world(), settings("sandbox"), FLOW, None, dict(BODY))
    assert sandbox["url"] == f"http://127.0.0.1:<port>/industryData/incomingFlows/{FLOW}/runs"
    assert "Authorization" not in sandbox["headers"]


def test_bulk_target_names_the_collection(url) -> None:
    assert ops.bulk_target(settings(url), FLOW, None) == f"{url}/industryData/incomingFlows/{FLOW}/runs"
    assert ops.bulk_target(settings("sandbox"), FLOW, MISSING) == (
        f"the sandbox/industryData/incomingFlows/{FLOW}/runs/{MISSING}/process/runs")


def plan_of(tmp_path, count: int):
    from rundctl import bulk

    path = tmp_path / "in.ndjson"
    path.write_text(records(count))
    return bulk.validate(str(path), Overrides(), now=FakeClock().now, source=str(path))


def test_create_bulk_emits_every_outcome_and_sums_them_up(url, tmp_path) -> None:
    plan = plan_of(tmp_path, 9)
    seen: list[Any] = []
    journal = tmp_path / "j"
    request = ops.BulkRequest(plan, FLOW, None, 3, str(journal))
    said: list[str] = []
    summary = ops.create_bulk(world(), settings(url), request, seen.append, say=said.append)
    assert sorted(o.position for o in seen) == list(range(9))
    assert {o.status for o in seen} == {"created"}
    assert summary.exit_code() == ExitCode.OK and summary.counts["created"] == 9
    assert stored(url) == {f"run {i}": 1 for i in range(9)}
    assert said == []
    assert journal.read_text().count('"created"') == 9
    again: list[Any] = []
    second = ops.create_bulk(world(), settings(url), request, again.append, say=said.append)
    assert {o.status for o in again} == {"skipped"} and second.exit_code() == ExitCode.OK
    assert stored(url) == {f"run {i}": 1 for i in range(9)}


def test_follow_returns_the_outcome_on_the_fake_clock(url) -> None:
    clock = FakeClock()
    deps = world(clock)
    polls: list[tuple[Any, float]] = []
    with ops.connect(deps, settings(url)) as client:
        run = ops.create_one(client, FLOW, None, dict(BODY), say=pytest.fail)
        result = ops.follow(deps, client, run["id"], FLOW, WaitOptions(timeout=30, interval=10),
                            on_poll=lambda r, t: polls.append((r and r["status"], t)))
    assert result.exit_code == ExitCode.WAIT_TIMEOUT
    assert result.run is not None and result.run["id"] == run["id"]
    assert polls == [("running", 0.0), ("running", 10.0), ("running", 20.0), ("running", 30.0)]


def test_update_checked_merges_statistics_into_the_stored_run(url) -> None:
    deps = world()
    with ops.connect(deps, settings(url)) as client:
        run = ops.create_one(client, FLOW, None, dict(BODY), say=pytest.fail)
        updated = ops.update_checked(deps, client, FLOW, run["id"], Overrides(
            status="completed", end="now", stats=["b=2"]))
    assert updated["status"] == "completed" and updated["endDateTime"] == "2026-11-29T12:00:00Z"
    assert updated["statistics"] == {"a": 1, "b": 2}
    assert listed(url)[0]["statistics"] == {"a": 1, "b": 2}


def etag_conflicts(times: int | None):
    """A service whose run has an ETag and whose PATCH answers 412 *times* (None: always)."""
    from tests.scripted_server import ScriptedServer, Step

    stored_run = {"id": MISSING, "displayName": "x", "startDateTime": "2026-11-29T10:00:00Z",
                  "status": "running", "statistics": {}, "@odata.etag": 'W/"1"'}
    patches: list[Any] = []

    def answer(request) -> Step:
        if request.method == "GET":
            return Step(200, json=stored_run, headers={"ETag": 'W/"1"'})
        patches.append(request)
        if times is None or len(patches) <= times:
            return Step(412, json={"error": {"code": "preconditionFailed", "message": "changed"}})
        return Step(200, json={**stored_run, "status": "failed",
                               "endDateTime": "2026-11-29T12:00:00Z"})

    return ScriptedServer(answer), patches


def test_update_checked_reads_again_after_a_412_and_sends_if_match() -> None:
    server, patches = etag_conflicts(2)
    with server, ops.connect(world(), settings(server.url)) as client:
        updated = ops.update_checked(world(), client, FLOW, MISSING,
                                     Overrides(status="failed", end="now"))
    assert updated["status"] == "failed"
    assert len(patches) == 3
    assert {p.headers["If-Match"] for p in patches} == {'W/"1"'}
    assert json.loads(patches[0].body) == {"status": "failed", "endDateTime": "2026-11-29T12:00:00Z"}


def test_update_checked_gives_up_when_the_run_keeps_changing() -> None:
    server, patches = etag_conflicts(None)
    with server, ops.connect(world(), settings(server.url)) as client, \
            pytest.raises(TemporaryFailure) as failed:
        ops.update_checked(world(), client, FLOW, MISSING, Overrides(status="failed", end="now"))
    assert len(patches) == ops.UPDATE_ATTEMPTS
    assert "kept changing" in failed.value.message


def test_start_without_and_with_locating_the_new_run() -> None:
    clock = FakeClock()
    deps = world(clock)
    with local_sandbox(clock, run_seconds=60) as base, ops.connect(deps, settings(base)) as client:
        plain = ops.start(deps, client, locate_within=None)
        assert plain.status == 202 and plain.run is None and plain.client_request_id
        first = {r["id"] for r in published(base)}
        located = ops.start(deps, client, locate_within=10)
        after = {r["id"] for r in published(base)}
    assert len(first) == 1 and len(after) == 2
    assert located.run is not None and located.run["status"] == "running"
    assert {located.run["id"]} == after - first  # the new one, never the run that was there


def published(url: str) -> list[dict[str, Any]]:
    import requests

    return requests.get(f"{url}/external/industryData/runs", timeout=10).json()["value"]


def test_start_that_never_shows_up_raises_not_found() -> None:
    from tests.scripted_server import ScriptedServer, Step

    def answer(request) -> Step:
        return Step(202, body=b"") if request.method == "POST" else Step(200, json={"value": []})

    clock = FakeClock()
    with ScriptedServer(answer) as server, ops.connect(world(clock), settings(server.url)) as client:
        with pytest.raises(NotFound) as missing:
            ops.start(world(clock), client, locate_within=4)
    assert "within 4s" in missing.value.message
    assert clock.slept == [2.0, 2.0]
