"""The environment's faults are never 'internal error'; data never steers a terminal or a CI
runner (adversarial #11, #13, #14)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from rundctl.deps import Deps
from rundctl.progress import WaitProgress
from tests.conftest import FLOW, invoke, rundctl_exe
from tests.scripted_server import ScriptedServer, Step

RUN = {"displayName": "n", "startDateTime": "2026-11-01T10:00:00Z", "status": "completed",
       "statistics": {}}
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
HOSTILE = "x\x1b]8;;http://evil\x07click\x1b]8;;\x07\x9b31m\u202eabc\u200f\u2028[bold]b[/bold]"


@pytest.mark.parametrize("kind", ["directory", "garbage", "no-folder", "device"])
def test_an_unusable_sandbox_db_is_exit_2_naming_the_setting(tmp_path: Path, kind: str) -> None:
    target = {"directory": tmp_path, "garbage": tmp_path / "g.db",
              "no-folder": Path("/proc/nonexistent/s.db"), "device": Path("/dev/null")}[kind]
    if kind == "garbage":
        target.write_bytes(b"this is not sqlite" * 100)
    res = invoke(["list", "--endpoint", "sandbox"], env={"RUNDCTL_SANDBOX_DB": str(target)})
    assert res.exit_code == 2, res.stderr
    assert "RUNDCTL_SANDBOX_DB" in res.stderr and "internal error" not in res.stderr


def _sandbox(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([rundctl_exe(), "sandbox", "--port", "0", "--quiet", "--db",
                             str(tmp_path / "s.db")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _sh(command: str, url: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["sh", "-c", command], input=stdin, capture_output=True, timeout=60,
                          env={**os.environ, "EXE": rundctl_exe(), "URL": url, "FLOW": FLOW})


def test_closed_streams_and_a_full_disk(tmp_path: Path) -> None:
    server, url = _sandbox(tmp_path)
    try:
        body = json.dumps(RUN).encode()
        ok = _sh('"$EXE" create --flow $FLOW -f - --endpoint $URL -o id 2>&-', url, body)
        assert ok.returncode == 0 and len(ok.stdout.strip()) == 36
        listed = _sh('"$EXE" list --flow $FLOW --endpoint $URL -o id 2>&-', url)
        assert listed.returncode == 0, listed
        full = _sh('"$EXE" create --flow $FLOW -f - --endpoint $URL -o id > /dev/full', url, body)
        assert full.returncode == 18, full.stderr
        err = full.stderr.decode()
        assert "No space left on device" in err and "internal error" not in err
        created = re.search(r"created run ([0-9a-f-]{36})", err)
        assert created, err
        closed = _sh('"$EXE" create --flow $FLOW -f - --endpoint $URL >&-', url, body)
        assert closed.returncode == 141
        assert "created run" in closed.stderr.decode()
        every = _sh('"$EXE" list --flow $FLOW --endpoint $URL --all -o id', url)
        assert created.group(1) in every.stdout.decode()  # the id said on stderr is real
        assert len(every.stdout.split()) == 3
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_service_strings_never_reach_the_terminal_raw() -> None:
    hostile_id = "7" + HOSTILE
    with ScriptedServer() as server:
        server.queue(Step(200, json={"value": []}), Step(201, json={**RUN, "id": hostile_id}))
        created = invoke(["create", "--flow", FLOW, "-f", "-", "--endpoint", server.url,
                          "-o", "id"], stdin=json.dumps(RUN).encode())
    assert created.exit_code == 0, created.stderr
    assert not RAW.search(created.stdout + created.stderr)
    stats = {"runId": hostile_id, "status": "completed",
             "inboundTotals": {HOSTILE: 1, "people": 2}}
    with ScriptedServer() as server:
        server.queue(Step(200, json=stats))
        shown = invoke(["stats", "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "--endpoint", server.url,
                        "-o", "table"], tty=True)
    assert shown.exit_code == 0, shown.stderr
    text = re.sub(r"\x1b\[[0-9;]*m", "", shown.stdout)  # rich's own colours
    assert not RAW.search(text) and "[bold]" in text  # markup shown, not applied


def test_bulk_ids_and_validated_bodies_are_escaped(tmp_path: Path) -> None:
    records = [{**RUN, "displayName": HOSTILE}, {**RUN, "displayName": "two"}]
    data = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    checked = invoke(["validate", "-f", "-", "-o", "ndjson"], stdin=data)
    assert checked.exit_code == 0 and not RAW.search(checked.stdout)
    assert json.loads(checked.stdout.splitlines()[0])["displayName"] == HOSTILE
    with ScriptedServer() as server:
        server.queue(Step(200, json={"value": []}), Step(201, json={**RUN, "id": "a" + HOSTILE}),
                     Step(201, json={**RUN, "id": "::stop-commands::x"}))
        sent = invoke(["create", "--flow", FLOW, "-f", "-", "--endpoint", server.url, "-o", "id",
                       "--parallel", "1"], stdin=data, env={"GITHUB_ACTIONS": "true"})
    assert sent.exit_code == 0, sent.stderr
    assert not RAW.search(sent.stdout)
    assert not [ln for ln in sent.stdout.splitlines() if ln.lstrip().startswith("::")]


def test_the_wait_spinner_shows_markup_in_an_id_as_text() -> None:
    err = io.StringIO()
    deps = Deps(env={"TERM": "xterm"}, stdin=io.BytesIO(), stdout=io.StringIO(), stderr=err,
                stdin_tty=False, stdout_tty=False, stderr_tty=True)
    progress = WaitProgress(deps, "[link=http://evil]x[/link]\x1b[2J")
    progress.update({"status": "[red]running"}, 3.0)
    progress.close()
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", err.getvalue())
    assert "\x1b]8" not in err.getvalue() and "[link=http://evil]" in out


def test_no_line_from_data_can_be_a_workflow_command() -> None:
    message = "boom\n::stop-commands::token\n  ::error::pwned\r\n::add-mask::x"
    env = {"GITHUB_ACTIONS": "true"}
    with ScriptedServer() as server:
        server.queue(Step(400, json={"error": {"code": "::warning::c", "message": message}}))
        res = invoke(["list", "--endpoint", server.url], env=env)
    assert res.exit_code == 7
    lines = (res.stdout + res.stderr).splitlines()
    commands = [ln for ln in lines if ln.lstrip().startswith("::")]
    assert commands and all(ln.startswith("::error title=rundctl::") for ln in commands)
    assert "::stop-commands::" not in res.stderr.replace("::error title=rundctl::", "")
    bad = invoke(["validate", "-f", "-", "-o", "table"], env=env,
                 stdin=json.dumps({**RUN, "displayName": "a\n::stop-commands::x"}).encode())
    assert not [ln for ln in (bad.stdout + bad.stderr).splitlines()
                if ln.lstrip().startswith("::") and not ln.startswith("::error title=rundctl::")]
