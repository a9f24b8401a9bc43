"""End to end: the CI pattern with real processes. A `rundctl wait` process polls while another
client finishes the run, and the waiting process's exit status says how the run ended.

Everything else about list, get, update, wait, stats, activities, start and flows runs
in-process in tests/test_inproc_inspect.py."""

from __future__ import annotations

import io
import json
import subprocess
import time

from tests.conftest import FLOW, invoke, rundctl_exe
from tests.test_inproc_support import RUNNING, local_sandbox


def polled(log: io.StringIO, run_id: str) -> bool:
    """True once the sandbox's request log shows a GET of the run (the waiter saw it running)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any("GET" in line and f"/runs/{run_id}" in line for line in log.getvalue().splitlines()):
            return True
        time.sleep(0.02)
    return False


def test_ci_pattern_create_running_update_in_another_process_wait_exits_13() -> None:
    log = io.StringIO()
    with local_sandbox(log=log) as url:
        made = invoke(["create", "--flow", FLOW, *RUNNING, "--endpoint", url, "-o", "id"])
        assert made.exit_code == 0, made.stderr
        run_id = made.stdout.strip()
        waiter = subprocess.Popen(
            [rundctl_exe(), "wait", run_id, "--flow", FLOW, "--interval", "200ms", "--endpoint",
             url, "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert polled(log, run_id), log.getvalue()
            upd = invoke(["update", run_id, "--flow", FLOW, "--status", "failed", "--end", "now",
                          "--error-code", "E42", "-o", "json", "--endpoint", url])
            assert upd.exit_code == 0, upd.stderr
            assert json.loads(upd.stdout)["status"] == "failed"
            out, err = waiter.communicate(timeout=30)
        finally:
            if waiter.poll() is None:
                waiter.kill()
                waiter.wait()
    assert waiter.returncode == 13, err
    assert json.loads(out)["blockingError"]["code"] == "E42"
    assert "ended failed" in err
