"""End to end: the installed `rundctl` as a subprocess against `rundctl sandbox` (real HTTP,
real SQLite). These are the checks a user would make by hand."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from tests.conftest import FLOW, read_pty, run_exe, rundctl_exe

RUN = {
    "displayName": "Nightly import",
    "startDateTime": "2026-11-01T10:00:00+05:30",
    "endDateTime": "2026-11-01T06:00:00Z",
    "status": "Completed",
    "statistics": {"people": 12},
}


def create(url: str, record: dict[str, object] | str, *extra: str) -> subprocess.CompletedProcess[str]:
    data = record if isinstance(record, str) else json.dumps(record)
    return run_exe(["create", "--flow", FLOW, "-f", "-", "--endpoint", url, *extra],
                   input=data.encode())


def list_ids(url: str) -> list[str]:
    proc = run_exe(["list", "--flow", FLOW, "--endpoint", url, "-o", "id"])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_piped_create_prints_the_created_run_as_json_and_list_and_get_show_it(sandbox_proc) -> None:
    proc = create(sandbox_proc.url, RUN)
    assert proc.returncode == 0, proc.stderr
    created = json.loads(proc.stdout)
    assert created["displayName"] == "Nightly import"
    assert created["startDateTime"] == "2026-11-01T04:30:00Z"  # +05:30 normalised to UTC
    assert created["status"] == "completed"
    assert created["statistics"] == {"people": 12}
    assert list_ids(sandbox_proc.url) == [created["id"]]
    got = run_exe(["get", created["id"], "--flow", FLOW, "--endpoint", sandbox_proc.url])
    assert got.returncode == 0 and json.loads(got.stdout)["id"] == created["id"]
    tsv = run_exe(["list", "--flow", FLOW, "--endpoint", sandbox_proc.url, "-o", "tsv"])
    assert tsv.stdout.split("\t")[:3] == [created["id"], "Nightly import", "completed"]


def test_flags_build_a_run_and_override_file_fields(sandbox_proc, tmp_path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(RUN))
    proc = run_exe(["create", "--flow", FLOW, "-f", str(path), "--endpoint", sandbox_proc.url,
                    "--name", "Overridden", "--status", "failed", "--error-code", "E42",
                    "--stat", "inbound.people=3", "-o", "json"])
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)
    assert run["displayName"] == "Overridden" and run["status"] == "failed"
    assert run["blockingError"]["code"] == "E42"
    assert run["statistics"]["inbound"] == {"people": 3}


def test_process_run_under_a_parent(sandbox_proc) -> None:
    parent = json.loads(create(sandbox_proc.url, RUN).stdout)
    child = create(sandbox_proc.url, RUN, "--parent", parent["id"])
    assert child.returncode == 0, child.stderr
    missing = create(sandbox_proc.url, RUN, "--parent", "00000000-0000-4000-8000-000000000000")
    assert missing.returncode == 6
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
def test_each_invalid_input_exits_3_names_the_field_and_sends_nothing(
    sandbox_proc, record, field
) -> None:
    proc = create(sandbox_proc.url, record)
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    assert field in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert list_ids(sandbox_proc.url) == []


def test_every_problem_is_reported_at_once(sandbox_proc) -> None:
    proc = create(sandbox_proc.url, {"displayName": "", "status": "complet", "statistics": 1,
                                     "startDateTime": "yesterday"})
    assert proc.returncode == 3
    for field in ("displayName", "status", "statistics", "startDateTime"):
        assert field in proc.stderr
    assert "did you mean 'completed'" in proc.stderr


def test_utf16_input_is_rejected_with_advice(sandbox_proc) -> None:
    proc = run_exe(["create", "--flow", FLOW, "-f", "-", "--endpoint", sandbox_proc.url],
                   input=json.dumps(RUN).encode("utf-16"))
    assert proc.returncode == 3 and "UTF-8" in proc.stderr


def test_dry_run_prints_the_request_and_sends_nothing(sandbox_proc) -> None:
    proc = create(sandbox_proc.url, RUN, "--dry-run", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    request = json.loads(proc.stdout)
    assert request["method"] == "POST"
    assert request["url"] == f"{sandbox_proc.url}/industryData/incomingFlows/{FLOW}/runs"
    assert request["body"]["@odata.type"] == "#microsoft.industryData.run"
    assert list_ids(sandbox_proc.url) == []


def test_dry_run_against_graph_redacts_the_token_and_needs_no_network() -> None:
    proc = run_exe(["create", "--flow", FLOW, "-f", "-", "--dry-run", "-o", "json"],
                   input=json.dumps(RUN).encode(), env={"RUNDCTL_TOKEN": "canary-SECRET-token"})
    assert proc.returncode == 0, proc.stderr
    assert "canary-SECRET-token" not in proc.stdout + proc.stderr
    request = json.loads(proc.stdout)
    assert request["url"].startswith("https://graph.microsoft.com/beta/industryData/")
    assert request["headers"]["Authorization"] == "Bearer <redacted>"


def test_validate_needs_no_endpoint_or_credential() -> None:
    ok = run_exe(["validate", "-f", "-"], input=json.dumps(RUN).encode())
    assert ok.returncode == 0 and json.loads(ok.stdout)["startDateTime"] == "2026-11-01T04:30:00Z"
    bad = run_exe(["validate", "-f", "-"], input=b'{"status": "nope"}')
    assert bad.returncode == 3


def test_embedded_sandbox_persists_between_commands(tmp_path) -> None:
    env = {"RUNDCTL_SANDBOX_DB": str(tmp_path / "embedded.db")}
    made = run_exe(["create", "--endpoint", "sandbox", "--flow", FLOW, "--name", "one",
                    "--start", "now", "--status", "running", "--stat", "people=0"], env=env)
    assert made.returncode == 0, made.stderr
    run_id = json.loads(made.stdout)["id"]
    listed = run_exe(["list", "--endpoint", "sandbox", "--flow", FLOW, "-o", "id"], env=env)
    assert listed.stdout.split() == [run_id]


def test_required_token_is_sent_and_a_wrong_one_exits_4(tmp_path) -> None:
    proc = subprocess.Popen(
        [rundctl_exe(), "sandbox", "--port", "0", "--require-token", "s3cret-token-value",
         "--quiet"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        good = run_exe(["list", "--flow", FLOW, "--endpoint", url],
                       env={"RUNDCTL_TOKEN": "s3cret-token-value"})
        assert good.returncode == 0, good.stderr
        bad = run_exe(["list", "--flow", FLOW, "--endpoint", url],
                      env={"RUNDCTL_TOKEN": "wrong-token-value"})
        assert bad.returncode == 4
        assert "wrong-token-value" not in bad.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_no_credential_for_graph_exits_4_quickly_with_a_hint() -> None:
    proc = run_exe(["list", "--flow", FLOW], env={"CI": "true"}, timeout=20)
    assert proc.returncode == 4
    assert "RUNDCTL_TOKEN" in proc.stderr


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["list", "--flow", "not-a-guid", "--endpoint", "sandbox"], 2),
        (["list", "--flow", FLOW, "--endpoint", "http://example.com"], 2),
        (["list", "--flow", FLOW, "--endpoint", "https://u:p@example.com"], 2),
        (["list", "--flow", FLOW, "--endpoint", "ftp://example.com"], 2),
        (["create", "--nme", "x"], 2),
        (["list", "--flow", FLOW, "--endpoint", "http://127.0.0.1:9", "--timeout", "2s"], 8),
    ],
)
def test_usage_and_connection_errors_have_documented_exit_codes(args, code) -> None:
    proc = run_exe(args)
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith("rundctl: error:")
    assert "Traceback" not in proc.stderr


def test_help_imports_neither_requests_nor_azure_identity() -> None:
    code = (
        "import sys\n"
        "from rundctl.__main__ import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('requests', 'azure.identity', 'rich.table') if m in sys.modules]\n"
        "sys.stderr.write(repr(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stderr.strip() == "[]", proc.stderr
    assert "Usage: rundctl" in proc.stdout


def test_on_a_terminal_create_shows_a_table(sandbox_proc) -> None:
    master, slave = pty.openpty()
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="120")
    proc = subprocess.Popen(
        [rundctl_exe(), "create", "--flow", FLOW, "-f", "-", "--endpoint", sandbox_proc.url],
        stdin=subprocess.PIPE, stdout=slave, stderr=slave, env=env,
    )
    os.close(slave)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps({**RUN, "displayName": "[bold]x[/bold]\x1b]8;;http://e\x07"}).encode())
    proc.stdin.close()
    raw = read_pty(master, 20)
    assert proc.wait(timeout=20) == 0
    screen = raw.decode("utf-8", "replace")
    assert "Status" in screen and "completed" in screen
    assert "[bold]x[/bold]" in screen  # markup printed as data, not interpreted
    assert "\x1b]8;" not in screen  # the OSC 8 escape was neutralised
    assert not screen.lstrip().startswith("{")
