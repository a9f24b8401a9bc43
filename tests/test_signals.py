"""Ctrl-C, SIGTERM and SIGHUP against a hung service; a service that never answers
(adversarial #9, #10, #12)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from rundctl import bulk, model
from rundctl.errors import TemporaryFailure
from tests.conftest import FIXED_NOW, FLOW, rundctl_exe
from tests.scripted_server import ScriptedServer, Step


def _records(n: int) -> bytes:
    return b"".join(json.dumps({"displayName": f"r{i}", "startDateTime": "2026-11-01T10:00:00Z",
                                "status": "completed", "statistics": {}}).encode() + b"\n"
                    for i in range(n))


def _hung_bulk(server: ScriptedServer, tmp_path: Path) -> subprocess.Popen[bytes]:
    server.queue(Step(200, json={"value": []}), *[Step(201, json={}, delay=120)] * 8)
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(
        [rundctl_exe(), "create", "--flow", FLOW, "-f", "-", "--endpoint", server.url,
         "--journal", str(tmp_path / "j"), "--parallel", "2"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    proc.stdin.write(_records(6))
    proc.stdin.close()
    proc.stdin = None
    deadline = time.monotonic() + 30
    while server.count("POST") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.count("POST") == 2
    return proc


@pytest.mark.parametrize(("sig", "code", "name"), [(signal.SIGINT, 130, ""),
                                                   (signal.SIGTERM, 143, "SIGTERM"),
                                                   (signal.SIGHUP, 129, "SIGHUP")])
def test_a_signal_stops_a_hung_bulk_promptly_and_cleans_up(tmp_path: Path, sig: int, code: int,
                                                           name: str) -> None:
    with ScriptedServer() as server:
        proc = _hung_bulk(server, tmp_path)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=15)  # not the 120 s the service would take
        text = err.decode()
        assert proc.returncode == code, text
        assert "rundctl: interrupted" in text and name in text
        assert "a create was in flight" in text
        assert server.count("POST") == 2  # nothing more was sent
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("rundctl-")]
    lines = (tmp_path / "j").read_text().splitlines()
    assert sum('"s":"sending"' in ln for ln in lines) == 2  # unknown on a re-run


def test_a_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    with ScriptedServer() as server:
        proc = _hung_bulk(server, tmp_path)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 130, err.decode()


class _HungClient:
    """A client whose every request hangs until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.posts = 0

    def url(self, path: str) -> str:
        return "http://127.0.0.1:9" + path

    def iter_collection(self, *_a: object, **_k: object) -> list[object]:
        return []

    def send(self, *_a: object, **_k: object) -> object:
        self.posts += 1
        self.release.wait(30)
        raise TemporaryFailure("released")


def test_a_service_that_answers_nothing_stops_the_bulk_with_exit_8(tmp_path: Path) -> None:
    data = tmp_path / "in.ndjson"
    data.write_bytes(_records(10))
    plan = bulk.validate(str(data), model.Overrides(), now=FIXED_NOW, source="in")
    client = _HungClient()
    ticks = iter(range(0, 10_000, 50))  # every look at the clock: 50 s later
    try:
        with pytest.raises(TemporaryFailure) as stopped:
            bulk.send_all(client, plan, flow=FLOW, parent=None, parallel=2, journal=None,
                          emit=lambda _o: None, monotonic=lambda: float(next(ticks)),
                          stall=120.0)
    finally:
        client.release.set()
        os.unlink(plan.spool)
    assert int(stopped.value.exit_code) == 8
    assert "stopped answering" in stopped.value.message
    assert client.posts == 2  # nothing beyond the two requests already out
