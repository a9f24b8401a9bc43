"""list --watch: redrawn on a terminal, one NDJSON line per change when piped; Ctrl-C ends it."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import FLOW, FakeClock, invoke, rundctl_exe
from tests.scripted_server import ScriptedServer, Step

RUN = {"id": "0b8e2f3a-51a4-4e0c-9d5f-3a7c1c2b9e10", "displayName": "n", "status": "running",
       "startDateTime": "2026-11-29T10:00:00Z", "endDateTime": None, "statistics": {}}


class StopAfter(FakeClock):
    """A fake clock whose sleep ends the watch (Ctrl-C) after *polls* pauses."""

    def __init__(self, polls: int) -> None:
        super().__init__()
        self.polls = polls

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if len(self.slept) >= self.polls:
            raise KeyboardInterrupt


def test_piped_watch_prints_one_line_per_change_and_honours_retry_after() -> None:
    done = {**RUN, "status": "completed", "endDateTime": "2026-11-29T10:05:00Z"}
    busy = Step(429, json={"error": {"code": "TooManyRequests", "message": "slow"}},
                headers={"Retry-After": "30"})
    with ScriptedServer() as server:
        server.queue(Step(200, json={"value": [RUN]}), Step(200, json={"value": [RUN]}),
                     busy, Step(200, json={"value": [done]}))
        clock = StopAfter(4)
        res = invoke(["list", "--watch", "--interval", "2s", "--endpoint", server.url,
                      "--max-retry-wait", "1s"], clock=clock)
    assert res.exit_code == 0, res.stderr
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert [r["status"] for r in lines] == ["running", "completed"]
    assert clock.slept[:2] == [2.0, 2.0] and 30.0 in clock.slept


def test_the_terminal_table_shows_a_change_made_by_another_process(tmp_path: Path) -> None:
    server = subprocess.Popen([rundctl_exe(), "sandbox", "--port", "0", "--quiet", "--db",
                               str(tmp_path / "s.db")], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        made = invoke(["create", "--flow", FLOW, "-n", "watched", "--start", "now", "--status",
                       "running", "--statistics", "{}", "--endpoint", url, "-o", "id"])
        run_id = made.stdout.strip()
        master, slave = pty.openpty()
        proc = subprocess.Popen([rundctl_exe(), "list", "--flow", FLOW, "--watch", "--interval",
                                 "1s", "--endpoint", url], stdin=slave, stdout=slave,
                                stderr=slave, env={**os.environ, "TERM": "xterm",
                                                   "COLUMNS": "120"})
        os.close(slave)
        seen = _read_until(master, b"running", 20)
        assert b"running" in seen, seen
        updated = invoke(["update", run_id, "--flow", FLOW, "--status", "completed", "--end",
                          "now", "--endpoint", url])
        assert updated.exit_code == 0, updated.stderr
        seen = _read_until(master, b"completed", 20)
        assert b"completed" in seen, seen
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        os.close(master)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _read_until(master: int, needle: bytes, timeout: float) -> bytes:
    import select

    data = b""
    end = time.monotonic() + timeout
    while needle not in data and time.monotonic() < end:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data += os.read(master, 65536)
            except OSError:
                break
    return data
