"""End to end: the installed `rundctl` as a subprocess (real HTTP, real SQLite), for what only a
real process shows: a real pipe on stdin, a terminal (pty), its exit status, the imports of
``--help``. Everything else about create and validate runs in-process in
tests/test_inproc_create.py."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from tests.conftest import FLOW, invoke, read_pty, run_exe, rundctl_exe
from tests.test_inproc_support import RUN, local_sandbox, stored


def test_piped_create_against_rundctl_sandbox_prints_the_run_and_list_get_show_it(
    sandbox_proc,
) -> None:
    # A real pipe into the binary, against `rundctl sandbox` as a process; read back in-process.
    proc = run_exe(["create", "--flow", FLOW, "-f", "-", "--endpoint", sandbox_proc.url],
                   input=json.dumps(RUN).encode())
    assert proc.returncode == 0, proc.stderr
    created = json.loads(proc.stdout)
    assert created["displayName"] == "Nightly import"
    assert created["startDateTime"] == "2026-11-01T04:30:00Z"  # +05:30 normalised to UTC
    assert created["status"] == "completed"
    assert created["statistics"] == {"people": 12}
    listed = invoke(["list", "--flow", FLOW, "--endpoint", sandbox_proc.url, "-o", "id"])
    assert listed.exit_code == 0 and listed.stdout.split() == [created["id"]]
    got = invoke(["get", created["id"], "--flow", FLOW, "--endpoint", sandbox_proc.url])
    assert got.exit_code == 0 and json.loads(got.stdout)["id"] == created["id"]
    tsv = invoke(["list", "--flow", FLOW, "--endpoint", sandbox_proc.url, "-o", "tsv"])
    assert tsv.stdout.split("\t")[:3] == [created["id"], "Nightly import", "completed"]


@pytest.mark.parametrize(
    ("args", "stdin", "code"),
    [
        (["create", "--nme", "x"], None, 2),  # click's usage error
        (["list", "--flow", "not-a-guid", "--endpoint", "sandbox"], None, 2),  # rundctl's
        (["validate", "-f", "-"], b'{"status": "nope"}', 3),  # invalid input on a real pipe
    ],
)
def test_the_process_exits_with_the_documented_code_and_no_traceback(args, stdin, code) -> None:
    proc = run_exe(args, input=stdin)
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith("rundctl: error:")
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_no_credential_for_graph_exits_4_quickly_with_a_hint() -> None:
    proc = run_exe(["list", "--flow", FLOW], env={"CI": "true"}, timeout=20)
    assert proc.returncode == 4
    assert "RUNDCTL_TOKEN" in proc.stderr


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


def test_on_a_terminal_create_shows_a_table() -> None:
    master, slave = pty.openpty()
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="120")
    with local_sandbox() as url:
        proc = subprocess.Popen(
            [rundctl_exe(), "create", "--flow", FLOW, "-f", "-", "--endpoint", url],
            stdin=subprocess.PIPE, stdout=slave, stderr=slave, env=env,
        )
        os.close(slave)
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({**RUN, "displayName": "[bold]x[/bold]\x1b]8;;http://e\x07"})
                         .encode())
        proc.stdin.close()
        raw = read_pty(master, 20)
        assert proc.wait(timeout=20) == 0
        assert stored(url) == {"[bold]x[/bold]\x1b]8;;http://e\x07": 1}
    screen = raw.decode("utf-8", "replace")
    assert "Status" in screen and "completed" in screen
    assert "[bold]x[/bold]" in screen  # markup printed as data, not interpreted
    assert "\x1b]8;" not in screen  # the OSC 8 escape was neutralised
    assert not screen.lstrip().startswith("{")
