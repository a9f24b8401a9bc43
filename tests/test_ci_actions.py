"""GitHub Actions: step outputs, bulk annotations and summary, wait annotations, start hints."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import FLOW, FakeClock, invoke
from tests.scripted_server import ScriptedServer, Step

RUN = {"displayName": "n", "startDateTime": "2026-11-01T10:00:00Z", "status": "completed",
       "statistics": {}}
RUN_ID = "0b8e2f3a-51a4-4e0c-9d5f-3a7c1c2b9e10"


def outputs(path: Path) -> dict[str, str]:
    """Parse $GITHUB_OUTPUT as the runner does (name<<DELIM ... DELIM)."""
    found: dict[str, str] = {}
    lines = path.read_text().split("\n")
    i = 0
    while i < len(lines):
        match = re.fullmatch(r"([\w-]+)<<(\S+)", lines[i])
        if match:
            end = lines.index(match.group(2), i + 1)
            found[match.group(1)] = "\n".join(lines[i + 1:end])
            i = end
        i += 1
    return found


def gh_env(tmp_path: Path) -> dict[str, str]:
    return {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path / "out"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}


def test_create_writes_run_id_and_status_to_github_output(tmp_path: Path) -> None:
    env = {**gh_env(tmp_path), "RUNDCTL_SANDBOX_DB": str(tmp_path / "s.db")}
    res = invoke(["create", "--endpoint", "sandbox", "--flow", FLOW, "-n", "line1\nline2",
                  "--start", "now", "--status", "running", "--statistics", "{}",
                  "--github-output", "-o", "id"], env=env)
    assert res.exit_code == 0, res.stderr
    found = outputs(tmp_path / "out")
    assert found == {"run-id": res.stdout.strip(), "status": "running"}
    assert "created run" in (tmp_path / "summary.md").read_text()


def test_outputs_are_written_only_when_asked(tmp_path: Path) -> None:
    env = {**gh_env(tmp_path), "RUNDCTL_SANDBOX_DB": str(tmp_path / "s.db")}
    invoke(["create", "--endpoint", "sandbox", "--flow", FLOW, "-n", "x", "--start", "now",
            "--status", "running", "--statistics", "{}"], env=env)
    assert not (tmp_path / "out").exists()
    invoke(["create", "--endpoint", "sandbox", "--flow", FLOW, "-n", "x", "--start", "now",
            "--status", "running", "--statistics", "{}"],
           env={**env, "RUNDCTL_GITHUB_OUTPUT": "true"})
    assert set(outputs(tmp_path / "out")) == {"run-id", "status"}


def test_a_bulk_with_failures_annotates_file_and_line_and_writes_a_summary(tmp_path: Path) -> None:
    data = tmp_path / "runs.ndjson"
    data.write_text("".join(json.dumps({**RUN, "displayName": f"r{i}"}) + "\n" for i in range(4)))
    conflict = Step(409, json={"error": {"code": "conflict", "message": "duplicate run"}})
    with ScriptedServer() as server:
        server.queue(Step(200, json={"value": []}), Step(201, json={**RUN, "id": RUN_ID}),
                     conflict, Step(201, json={**RUN, "id": RUN_ID}), conflict)
        res = invoke(["create", "--flow", FLOW, "-f", str(data), "--endpoint", server.url,
                      "--parallel", "1", "--github-output"], env=gh_env(tmp_path))
    assert res.exit_code == 12, res.stderr
    annotations = [ln for ln in res.stderr.splitlines() if ln.startswith("::error ")]
    assert len(annotations) == 2
    assert annotations[0].startswith(f"::error file={data},line=2,title=rundctl bulk::")
    assert "duplicate run" in annotations[0]
    summary = (tmp_path / "summary.md").read_text()
    assert "2 of 4 records not created" in summary and "| 2 | failed |" in summary
    assert outputs(tmp_path / "out") == {"created": "2", "failed": "2", "skipped": "0",
                                         "unknown": "0", "total": "4"}
    assert "no journal" in res.stderr and "creates them again" in res.stderr


def test_exit_12_with_a_journal_names_the_command_that_finishes(tmp_path: Path) -> None:
    data = tmp_path / "runs.ndjson"
    data.write_text("".join(json.dumps({**RUN, "displayName": f"r{i}"}) + "\n" for i in range(2)))
    with ScriptedServer() as server:
        server.queue(Step(200, json={"value": []}), Step(201, json={**RUN, "id": RUN_ID}),
                     Step(409, json={"error": {"code": "conflict", "message": "dup"}}))
        args = ["create", "--flow", FLOW, "-f", str(data), "--endpoint", server.url,
                "--parallel", "1", "--journal", str(tmp_path / "j")]
        res = invoke(args)
    assert res.exit_code == 12
    assert "1 of 2 records are created" in res.stderr
    assert "rundctl create --flow" in res.stderr and f"--journal {tmp_path / 'j'}" in res.stderr


def test_wait_annotations_say_timed_out_or_carry_the_blocking_error(tmp_path: Path) -> None:
    running = {**RUN, "id": RUN_ID, "status": "running"}
    failed = {**RUN, "id": RUN_ID, "status": "failed",
              "blockingError": {"code": "E42", "message": "source missing"}}
    with ScriptedServer(lambda _r: Step(200, json=running)) as server:
        res = invoke(["wait", RUN_ID, "--endpoint", server.url, "--timeout", "20s",
                      "--interval", "5s"], env=gh_env(tmp_path), clock=FakeClock())
    assert res.exit_code == 17
    assert any("timed out after" in ln and "still running" in ln
               for ln in res.stderr.splitlines() if ln.startswith("::error"))
    with ScriptedServer(lambda _r: Step(200, json=failed)) as server:
        res = invoke(["wait", RUN_ID, "--endpoint", server.url], env=gh_env(tmp_path))
    assert res.exit_code == 13
    assert any("E42: source missing" in ln for ln in res.stderr.splitlines()
               if ln.startswith("::error"))


def test_a_mistyped_run_id_fails_wait_at_once() -> None:
    clock = FakeClock()
    with ScriptedServer(lambda _r: Step(404, json={"error": {"code": "itemNotFound",
                                                             "message": "no"}})) as server:
        res = invoke(["wait", RUN_ID, "--endpoint", server.url], clock=clock)
    assert res.exit_code == 6
    assert clock.slept == []


def test_start_with_a_flow_in_the_environment_hints_at_the_published_list() -> None:
    with ScriptedServer() as server:
        server.queue(Step(202))
        res = invoke(["start", "--endpoint", server.url], env={"RUNDCTL_FLOW": FLOW})
    assert res.exit_code == 0, res.stderr
    assert "rundctl list --flow '' --limit 1" in res.stderr
    listed = invoke(["list", "--flow", "", "--endpoint", "http://127.0.0.1:9", "--timeout", "1s"],
                    env={"RUNDCTL_FLOW": FLOW})
    assert "external/industryData/runs" in listed.stderr or listed.exit_code == 8
