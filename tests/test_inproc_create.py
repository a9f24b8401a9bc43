"""create and validate in-process against a sandbox served from this process: flags, -f FILE,
-f - (stdin), --parent, --dry-run, --wait on a fake clock, output formats, errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
import requests

from tests.conftest import FLOW, FakeClock, invoke
from tests.test_inproc_support import MISSING, RUN, RUNNING, listed, local_sandbox, stored


@pytest.fixture
def url() -> Iterator[str]:
    with local_sandbox() as base:
        yield base


def create(url: str, record: dict[str, object] | str | bytes, *extra: str, **kw: object):
    data = record if isinstance(record, bytes) else (
        record if isinstance(record, str) else json.dumps(record)).encode()
    return invoke(["create", "--flow", FLOW, "-f", "-", "--endpoint", url, *extra], stdin=data,
                  **kw)  # type: ignore[arg-type]


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


def patch_only_run(url: str, body: dict[str, object]) -> None:
    """What another process does meanwhile: PATCH the flow's one run, straight over HTTP."""
    runs = requests.get(f"{url}/industryData/incomingFlows/{FLOW}/runs", timeout=10).json()["value"]
    assert len(runs) == 1
    r = requests.patch(f"{url}/industryData/incomingFlows/{FLOW}/runs/{runs[0]['id']}",
                       json=body, timeout=10)
    assert r.status_code in (200, 204), r.text


# -- converted from the subprocess suite -------------------------------------------------


def test_piped_json_creates_the_run_normalised_and_list_get_tsv_show_it(url) -> None:
    res = create(url, RUN)
    assert res.exit_code == 0, res.stderr
    created = json.loads(res.stdout)
    assert created["displayName"] == "Nightly import"
    assert created["startDateTime"] == "2026-11-01T04:30:00Z"  # +05:30 normalised to UTC
    assert created["status"] == "completed"
    assert created["statistics"] == {"people": 12}
    assert [r["id"] for r in listed(url)] == [created["id"]]
    got = invoke(["get", created["id"], "--flow", FLOW, "--endpoint", url])
    assert got.exit_code == 0 and json.loads(got.stdout)["id"] == created["id"]
    tsv = invoke(["list", "--flow", FLOW, "--endpoint", url, "-o", "tsv"])
    assert tsv.stdout.split("\t")[:3] == [created["id"], "Nightly import", "completed"]


def test_flags_build_a_run_and_override_file_fields(url, tmp_path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(RUN))
    res = invoke(["create", "--flow", FLOW, "-f", str(path), "--endpoint", url,
                  "--name", "Overridden", "--status", "failed", "--error-code", "E42",
                  "--stat", "inbound.people=3", "-o", "json"])
    assert res.exit_code == 0, res.stderr
    run = json.loads(res.stdout)
    assert run["displayName"] == "Overridden" and run["status"] == "failed"
    assert run["blockingError"]["code"] == "E42"
    assert run["statistics"]["inbound"] == {"people": 3}
    assert listed(url)[0]["blockingError"]["code"] == "E42"  # stored, not only echoed


def test_process_run_under_a_parent(url) -> None:
    parent = json.loads(create(url, RUN).stdout)
    child = create(url, RUN, "--parent", parent["id"])
    assert child.exit_code == 0, child.stderr
    kids = requests.get(f"{url}/industryData/incomingFlows/{FLOW}/runs/{parent['id']}/process/runs",
                        timeout=10).json()["value"]
    assert [k["id"] for k in kids] == [json.loads(child.stdout)["id"]]
    missing = create(url, RUN, "--parent", MISSING)
    assert missing.exit_code == 6
    assert "itemNotFound" in missing.stderr


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({**RUN, "displayName": "  "}, "displayName"),
        ({k: v for k, v in RUN.items() if k != "displayName"}, "displayName"),
        ({**RUN, "startDateTime": "2026-11-01T10:00:00"}, "startDateTime"),
        ({**RUN, "startDateTime": "2026-11-01"}, "startDateTime"),
        ({**RUN, "endDateTime": "2026-10-01T00:00:00Z"}, "endDateTime"),
        ({**RUN, "status": "running"}, "endDateTime"),
        ({**RUN, "status": "complete"}, "status"),
        ({**RUN, "status": "unknownFutureValue"}, "status"),
        ({**RUN, "statistics": [1]}, "statistics"),
        ({k: v for k, v in RUN.items() if k != "statistics"}, "statistics"),
        ({**RUN, "blockingError": {"code": 1}}, "blockingError.code"),
        ({**RUN, "dispalyName": "x"}, "dispalyName"),
        ({**RUN, "id": "abc"}, "id"),
        ('{"displayName": "a", "displayName": "b"}', "displayName"),
        ('{"statistics": {"x": NaN}}', "NaN"),
        ('{"statistics": {"x": 1e400}}', "1e400"),
        ("", "no input"),
        ("[1,", "line 1"),
    ],
)
def test_each_invalid_input_exits_3_names_the_field_and_sends_nothing(url, record, field) -> None:
    res = create(url, record)
    assert res.exit_code == 3, (res.stdout, res.stderr)
    assert field in res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    assert stored(url) == {}


def test_every_problem_is_reported_at_once(url) -> None:
    res = create(url, {"displayName": "", "status": "complet", "statistics": 1,
                       "startDateTime": "yesterday"})
    assert res.exit_code == 3
    for field in ("displayName", "status", "statistics", "startDateTime"):
        assert field in res.stderr
    assert "did you mean 'completed'" in res.stderr
    assert stored(url) == {}


def test_utf16_input_is_rejected_with_advice(url) -> None:
    res = create(url, json.dumps(RUN).encode("utf-16"))
    assert res.exit_code == 3 and "UTF-8" in res.stderr
    assert stored(url) == {}


def test_dry_run_prints_the_request_and_sends_nothing(url) -> None:
    res = create(url, RUN, "--dry-run", "-o", "json")
    assert res.exit_code == 0, res.stderr
    request = json.loads(res.stdout)
    assert request["method"] == "POST"
    assert request["url"] == f"{url}/industryData/incomingFlows/{FLOW}/runs"
    assert request["body"]["@odata.type"] == "#microsoft.industryData.run"
    assert request["body"]["startDateTime"] == "2026-11-01T04:30:00Z"
    assert stored(url) == {}


def test_dry_run_against_graph_redacts_the_token_and_needs_no_network() -> None:
    # The socket guard would fail this test on any connection beyond loopback.
    res = invoke(["create", "--flow", FLOW, "-f", "-", "--dry-run", "-o", "json"],
                 stdin=json.dumps(RUN).encode(), env={"RUNDCTL_TOKEN": "canary-SECRET-token"})
    assert res.exit_code == 0, res.stderr
    assert "canary-SECRET-token" not in res.stdout + res.stderr
    request = json.loads(res.stdout)
    assert request["url"].startswith("https://graph.microsoft.com/beta/industryData/")
    assert request["headers"]["Authorization"] == "Bearer <redacted>"


def test_validate_needs_no_endpoint_or_credential() -> None:
    ok = invoke(["validate", "-f", "-"], stdin=json.dumps(RUN).encode())
    assert ok.exit_code == 0 and json.loads(ok.stdout)["startDateTime"] == "2026-11-01T04:30:00Z"
    bad = invoke(["validate", "-f", "-"], stdin=b'{"status": "nope"}')
    assert bad.exit_code == 3 and bad.stdout == ""


def test_embedded_sandbox_persists_between_commands(tmp_path) -> None:
    env = {"RUNDCTL_SANDBOX_DB": str(tmp_path / "embedded.db")}
    made = invoke(["create", "--endpoint", "sandbox", "--flow", FLOW, "--name", "one",
                   "--start", "now", "--status", "running", "--stat", "people=0"], env=env)
    assert made.exit_code == 0, made.stderr
    run_id = json.loads(made.stdout)["id"]
    assert (tmp_path / "embedded.db").exists()
    listed_ids = invoke(["list", "--endpoint", "sandbox", "--flow", FLOW, "-o", "id"], env=env)
    assert listed_ids.stdout.split() == [run_id]
    other = invoke(["list", "--endpoint", "sandbox", "--flow", FLOW, "-o", "id"],
                   env={"RUNDCTL_SANDBOX_DB": str(tmp_path / "other.db")})
    assert other.exit_code == 0 and other.stdout == ""


def test_required_token_is_sent_and_a_wrong_one_exits_4() -> None:
    with local_sandbox(require_token="s3cret-token-value") as base:
        good = invoke(["list", "--flow", FLOW, "--endpoint", base],
                      env={"RUNDCTL_TOKEN": "s3cret-token-value"})
        assert good.exit_code == 0, good.stderr
        assert json.loads(good.stdout) == []
        bad = invoke(["list", "--flow", FLOW, "--endpoint", base],
                     env={"RUNDCTL_TOKEN": "wrong-token-value"})
        assert bad.exit_code == 4
        assert "wrong-token-value" not in bad.stderr
        none = invoke(["list", "--flow", FLOW, "--endpoint", base, "--auth", "none"])
        assert none.exit_code == 4


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["list", "--flow", "not-a-guid", "--endpoint", "sandbox"], 2, "not a GUID"),
        (["list", "--flow", FLOW, "--endpoint", "http://example.com"], 2, "example.com"),
        (["list", "--flow", FLOW, "--endpoint", "https://u:p@example.com"], 2, "--endpoint"),
        (["list", "--flow", FLOW, "--endpoint", "ftp://example.com"], 2, "--endpoint"),
        (["create", "--nme", "x"], 2, "--nme"),
        (["list", "--flow", FLOW, "--endpoint", "http://127.0.0.1:9", "--timeout", "2s"], 8,
         "could not connect to 127.0.0.1:9"),
    ],
)
def test_usage_and_connection_errors_have_documented_exit_codes(args, code, text) -> None:
    res = invoke(args)
    assert res.exit_code == code, res.stderr
    assert res.stderr.startswith("rundctl: error:")
    assert text in res.stderr
    assert "Traceback" not in res.stderr


def test_a_list_that_fails_before_any_page_prints_nothing_on_stdout() -> None:
    res = invoke(["list", "--flow", FLOW, "--endpoint", "http://127.0.0.1:9", "--timeout", "2s",
                  "-o", "json"])
    assert res.exit_code == 8
    assert res.stdout == ""


# -- more of create --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["id", "tsv", "ndjson", "none"])
def test_created_run_in_each_machine_format(url, fmt) -> None:
    res = invoke(["create", "--flow", FLOW, "--endpoint", url, *RUNNING, "-o", fmt])
    assert res.exit_code == 0, res.stderr
    [run] = listed(url)
    if fmt == "ndjson":  # one compact line: the created run as the service answered it
        assert res.stdout.count("\n") == 1 and ", " not in res.stdout
        answered = json.loads(res.stdout)
        assert answered.pop("@odata.context").startswith(f"{url}/$metadata#")
        assert answered == run
        return
    expected = {
        "id": run["id"] + "\n",
        "tsv": "\t".join([run["id"], "ci job", "running", "2026-11-29T12:00:00Z", ""]) + "\n",
        "none": "",
    }[fmt]
    assert res.stdout == expected


def test_created_run_as_a_table_on_a_terminal(url) -> None:
    res = invoke(["create", "--flow", FLOW, "--endpoint", url, *RUNNING, "--error-code", "E1",
                  "--error-message", "boom", "--error-target", "file.csv"],
                 tty=True, env={"NO_COLOR": "1", "COLUMNS": "120"})
    assert res.exit_code == 0, res.stderr
    [run] = listed(url)
    lines = [line.rstrip() for line in res.stdout.splitlines()]
    assert lines[0].split() == ["ID", run["id"]]
    assert lines[1].split() == ["Name", "ci", "job"]
    assert lines[2].split() == ["Status", "running"]
    assert "Started" in lines[3] and "just now (2026-11-29 12:00:00Z)" in lines[3]
    assert any(line.split()[:2] == ["Duration", "0s"] for line in lines)
    assert any("E1: boom (target: file.csv)" in line for line in lines)
    assert any(line.split() == ["Statistics", '{"people":0}'] for line in lines)


def test_flow_from_a_profile_and_start_now_from_the_injected_clock(url, tmp_path) -> None:
    env = {"RUNDCTL_CONFIG_DIR": str(tmp_path)}
    assert invoke(["config", "set", "flow", FLOW], env=env).exit_code == 0
    res = invoke(["create", "--endpoint", url, *RUNNING, "-o", "json"], env=env)
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["startDateTime"] == "2026-11-29T12:00:00Z"
    assert stored(url) == {"ci job": 1}


def test_flags_alone_that_make_no_run_say_which_flags_a_run_needs(url) -> None:
    res = invoke(["create", "--flow", FLOW, "--endpoint", url, "--name", "x"])
    assert res.exit_code == 3
    assert "hint: a run needs --name, --start" in res.stderr
    assert stored(url) == {}


def test_missing_input_file_exits_3(url, tmp_path) -> None:
    res = invoke(["create", "--flow", FLOW, "--endpoint", url, "-f", str(tmp_path / "nope.json")])
    assert res.exit_code == 3
    assert "cannot read" in res.stderr and "no such file" in res.stderr


def test_wait_after_create_follows_the_run_until_another_client_fails_it(url) -> None:
    clock = ActingClock({2: lambda: patch_only_run(url, {
        "status": "failed", "endDateTime": "2026-11-29T12:00:20Z",
        "blockingError": {"code": "E42", "message": "source file missing"}})})
    res = invoke(["create", "--flow", FLOW, "--endpoint", url, *RUNNING, "--wait",
                  "--interval", "10s", "-o", "json"], clock=clock)
    assert res.exit_code == 13, res.stderr
    run = json.loads(res.stdout)
    assert run["status"] == "failed" and run["blockingError"]["code"] == "E42"
    assert clock.slept == [10.0, 10.0]
    lines = res.stderr.splitlines()
    assert lines[0] == f"rundctl: created {run['id']}"
    assert lines[1] == f"rundctl: waiting for run {run['id']}: running (0s elapsed)"
    assert lines[-2:] == [f"rundctl: run {run['id']} ended failed",
                          "  blocking error: E42: source file missing"]


def test_wait_after_create_exits_0_when_the_run_completes(url) -> None:
    clock = ActingClock({1: lambda: patch_only_run(url, {
        "status": "completed", "endDateTime": "2026-11-29T12:00:05Z"})})
    res = invoke(["create", "--flow", FLOW, "--endpoint", url, *RUNNING, "--wait", "-o", "id"],
                 clock=clock)
    assert res.exit_code == 0, res.stderr
    assert res.stdout.strip() == listed(url)[0]["id"]
    assert clock.slept == [5.0]  # auto interval: the first poll after 5 s
    assert res.stderr.splitlines()[-1] == f"rundctl: run {res.stdout.strip()} ended completed"


def test_wait_refuses_bulk_input_before_sending_anything(url) -> None:
    res = create(url, '{"displayName": "a"}\n{"displayName": "b"}\n', "--wait")
    assert res.exit_code == 2
    assert "--wait follows one run; it does not go with bulk input" in res.stderr
    assert stored(url) == {}


def test_bad_wait_flags_are_usage_errors(url) -> None:
    res = invoke(["create", "--flow", FLOW, "--endpoint", url, *RUNNING, "--wait",
                  "--fail-on", "sometimes"])
    assert res.exit_code == 2 and "--fail-on: 'sometimes' is not one of" in res.stderr
    res = invoke(["create", "--flow", FLOW, "--endpoint", url, *RUNNING, "--wait",
                  "--interval", "often"])
    assert res.exit_code == 2 and "--interval: 'often' is not a duration" in res.stderr
    assert stored(url) == {}


def lost_answer_server(found: list[dict[str, object]]):
    """A service that commits a create but drops the connection before answering; its run list
    is empty before the POST and *found* after."""
    from tests.scripted_server import ScriptedServer, Step

    posted: list[bool] = []

    def answer(request) -> Step:
        if request.method == "POST":
            posted.append(True)
            return Step(action="close_before_response")
        return Step(200, json={"value": found if posted else []})

    return ScriptedServer(answer)


CI_JOB = {"id": "3f1c1e9a-1f2b-4c8d-9e0f-123456789abc", "displayName": "ci job",
          "startDateTime": "2026-11-29T12:00:00Z", "status": "running",
          "statistics": {"people": 0}}


def test_a_lost_answer_is_recovered_by_a_lookup_and_said_on_stderr() -> None:
    with lost_answer_server([CI_JOB]) as server:
        res = invoke(["create", "--flow", FLOW, "--endpoint", server.url, *RUNNING, "-o", "id"])
        posts = server.count("POST")
    assert res.exit_code == 0, res.stderr
    assert res.stdout == CI_JOB["id"] + "\n"
    assert posts == 1
    assert res.stderr == (f"rundctl: recovered: created {CI_JOB['id']} (the service's answer was "
                          "lost; the run was found by name and start time)\n")


def test_a_lost_answer_with_no_run_found_is_outcome_unknown_exit_9() -> None:
    with lost_answer_server([]) as server:
        res = invoke(["create", "--flow", FLOW, "--endpoint", server.url, *RUNNING])
        posts = server.count("POST")
    assert res.exit_code == 9
    assert posts == 1
    assert res.stderr.startswith("rundctl: error: outcome unknown:")
    assert res.stdout == ""


def test_a_created_answer_without_an_id_is_outcome_unknown() -> None:
    from tests.scripted_server import ScriptedServer, Step

    def answer(request) -> Step:
        return Step(202, body=b"") if request.method == "POST" else Step(200, json={"value": []})

    with ScriptedServer(answer) as server:
        res = invoke(["create", "--flow", FLOW, "--endpoint", server.url, *RUNNING])
        posts = server.count("POST")
    assert res.exit_code == 9
    assert posts == 1
    assert "HTTP 202 without the created run" in res.stderr


def test_debug_logs_requests_with_the_token_hidden(url) -> None:
    res = invoke(["create", "--flow", FLOW, "--endpoint", url, *RUNNING, "--debug", "-o", "none"],
                 env={"RUNDCTL_TOKEN": "tok-abcdefgh12345678"})
    assert res.exit_code == 0, res.stderr
    assert f"rundctl: debug: > POST {url}/industryData/incomingFlows/{FLOW}/runs" in res.stderr
    assert "rundctl: debug: < 201" in res.stderr
    assert "tok-abcdefgh12345678" not in res.stderr
