"""The CLI in-process with injected streams and clock: exact stdout, stderr and exit codes."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FLOW, FakeClock, invoke

RUN = {"displayName": "x", "startDateTime": "2026-11-01T10:00:00Z", "status": "completed",
       "statistics": {}}


def test_start_now_uses_the_injected_clock() -> None:
    res = invoke(["validate", "--name", "n", "--start", "now", "--status", "running",
                  "--stat", "people=1"], clock=FakeClock())
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["startDateTime"].startswith("2026-11-29T12:00:00")


def test_stdin_that_is_a_terminal_exits_2_at_once() -> None:
    res = invoke(["validate", "-f", "-"], stdin_tty=True)
    assert res.exit_code == 2
    assert "stdin is a terminal" in res.stderr


def test_file_and_token_cannot_both_read_stdin() -> None:
    res = invoke(["create", "--flow", FLOW, "-f", "-", "--token-file", "-", "--dry-run"],
                 stdin=json.dumps(RUN).encode())
    assert res.exit_code == 2


def test_flow_is_required_and_must_be_a_guid() -> None:
    assert invoke(["create", "--dry-run", "-f", "-"], stdin=b"{}").exit_code == 2
    res = invoke(["create", "--flow", "nope", "--dry-run"])
    assert res.exit_code == 2 and "--flow: 'nope' is not a GUID" in res.stderr


def test_flow_from_environment() -> None:
    res = invoke(["create", "--dry-run", "-o", "json", "-f", "-"], stdin=json.dumps(RUN).encode(),
                 env={"RUNDCTL_FLOW": FLOW.upper()})
    assert res.exit_code == 0, res.stderr
    assert f"/incomingFlows/{FLOW}/runs" in json.loads(res.stdout)["url"]


def test_default_output_is_json_when_piped_and_table_on_a_terminal() -> None:
    piped = invoke(["validate", "-f", "-"], stdin=json.dumps(RUN).encode())
    assert json.loads(piped.stdout)["displayName"] == "x"
    tty = invoke(["validate", "-f", "-"], stdin=json.dumps(RUN).encode(), tty=True,
                 env={"NO_COLOR": "1"})
    assert "Name" in tty.stdout and "{" not in tty.stdout.splitlines()[0]


def test_output_from_environment_and_bad_output_is_usage_error() -> None:
    res = invoke(["validate", "-f", "-"], stdin=json.dumps(RUN).encode(),
                 env={"RUNDCTL_OUTPUT": "ndjson"})
    assert res.stdout.count("\n") == 1
    assert invoke(["validate", "-f", "-", "-o", "xml"], stdin=b"{}").exit_code == 2


def test_dry_run_text_shows_method_url_headers_and_body() -> None:
    res = invoke(["create", "--flow", FLOW, "-f", "-", "--dry-run", "-o", "table",
                  "--endpoint", "https://graph.microsoft.us/beta"], stdin=json.dumps(RUN).encode(),
                 env={"RUNDCTL_TOKEN": "abcdefgh12345678"})
    assert res.exit_code == 0, res.stderr
    first = res.stdout.splitlines()[0]
    assert first == f"POST https://graph.microsoft.us/beta/industryData/incomingFlows/{FLOW}/runs"
    assert "Authorization: Bearer <redacted>" in res.stdout
    assert "abcdefgh12345678" not in res.stdout
    assert '"displayName": "x"' in res.stdout


def test_parent_path_in_dry_run() -> None:
    parent = "3f1c1e9a-1f2b-4c8d-9e0f-123456789abc"
    res = invoke(["create", "--flow", FLOW, "--parent", parent, "-f", "-", "--dry-run",
                  "-o", "json"], stdin=json.dumps(RUN).encode())
    assert json.loads(res.stdout)["url"].endswith(f"/runs/{parent}/process/runs")


def test_cloud_picks_the_graph_root() -> None:
    res = invoke(["create", "--flow", FLOW, "-f", "-", "--dry-run", "-o", "json",
                  "--cloud", "china"], stdin=json.dumps(RUN).encode())
    assert json.loads(res.stdout)["url"].startswith("https://microsoftgraph.chinacloudapi.cn/beta/")
    assert invoke(["create", "--flow", FLOW, "--cloud", "mars", "--dry-run"]).exit_code == 2


def test_invalid_input_lists_every_problem_with_paths() -> None:
    res = invoke(["validate", "-f", "-"],
                 stdin=b'{"dispalyName": "x", "status": "complete", "statistics": 3}')
    assert res.exit_code == 3
    assert "did you mean 'displayName'" in res.stderr
    assert "did you mean 'completed'" in res.stderr
    assert "statistics" in res.stderr and "startDateTime" in res.stderr
    assert res.stdout == ""


def test_statistics_flag_from_file_and_stat_values_parse_as_json(tmp_path) -> None:
    stats = tmp_path / "stats.json"
    stats.write_text('{"people": 1, "inbound": {"groups": 2}}')
    res = invoke(["validate", "-n", "n", "--start", "2026-11-01T10:00:00.1234567+01:00",
                  "--status", "COMPLETED", "--statistics", f"@{stats}", "--stat", "inbound.people=5",
                  "--stat", "note=hello", "--stat", "flag=true"])
    assert res.exit_code == 0, res.stderr
    body = json.loads(res.stdout)
    assert body["startDateTime"] == "2026-11-01T09:00:00.1234567Z"
    assert body["status"] == "completed"
    assert body["statistics"] == {"people": 1, "inbound": {"groups": 2, "people": 5},
                                  "note": "hello", "flag": True}


@pytest.mark.parametrize("mode", ["token", "none"])
def test_auth_modes_for_a_remote_endpoint_fail_clearly(mode: str) -> None:
    res = invoke(["list", "--flow", FLOW, "--auth", mode])
    assert res.exit_code == (4 if mode == "token" else 2)
    assert res.stderr.startswith("rundctl: error:")


def test_malformed_token_is_refused_without_echoing_it() -> None:
    res = invoke(["list", "--flow", FLOW], env={"RUNDCTL_TOKEN": "abc def\x1bsecretpart"})
    assert res.exit_code == 4
    assert "secretpart" not in res.stderr


def test_github_actions_errors_become_annotations_and_step_summary(tmp_path) -> None:
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    res = invoke(["list", "--flow", "nope", "--endpoint", "sandbox"], env=env)
    assert res.exit_code == 2
    assert "::error title=rundctl::--flow: 'nope' is not a GUID" in res.stderr
    assert "--flow: 'nope' is not a GUID" in summary.read_text()
    assert res.stdout == ""


def test_ci_annotations_off(tmp_path) -> None:
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp_path / "s.md")}
    res = invoke(["list", "--flow", "nope", "--ci-annotations", "off"], env=env)
    assert res.exit_code == 2 and "::error" not in res.stderr
    assert not (tmp_path / "s.md").exists()
    res = invoke(["list", "--flow", "nope"], env={**env, "RUNDCTL_CI_ANNOTATIONS": "off"})
    assert "::error" not in res.stderr


def test_annotation_messages_are_escaped_to_one_line() -> None:
    res = invoke(["validate", "-f", "-"], stdin=b'{"status": "x"}',
                 env={"GITHUB_ACTIONS": "true"})
    lines = [line for line in res.stderr.splitlines() if line.startswith("::error")]
    assert len(lines) == 1 and "%0A" in lines[0]
