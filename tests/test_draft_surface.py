"""Against a service without the draft Create-run surface (Microsoft's published API): one
clear exit 7 that points at 'rundctl start' (issue: honesty about the draft surface)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FLOW, invoke, rundctl_exe
from tests.scripted_server import ScriptedServer, Step

RUN = {"displayName": "n", "startDateTime": "2026-11-01T10:00:00Z", "status": "completed",
       "statistics": {}}
RUN_ID = "0b8e2f3a-51a4-4e0c-9d5f-3a7c1c2b9e10"
SEGMENT = Step(400, json={"error": {
    "code": "BadRequest", "message": "Resource not found for the segment 'incomingFlows'.",
    "innerError": {"date": "2026-12-01T08:02:31", "request-id": "r", "client-request-id": "c"}}})


def _says_published(res: object) -> None:
    assert res.exit_code == 7, res.stderr  # type: ignore[attr-defined]
    err = res.stderr  # type: ignore[attr-defined]
    assert "does not offer the draft" in err and "rundctl start" in err
    assert "read-only" in err


@pytest.mark.parametrize("args", [
    ["create", "--flow", FLOW, "-f", "-"],
    ["create", "--flow", FLOW, "--parent", RUN_ID, "-f", "-"],
])
def test_create_on_the_published_service_is_exit_7_pointing_at_start(args: list[str]) -> None:
    with ScriptedServer() as server:
        server.queue(*[SEGMENT] * 3)
        res = invoke([*args, "--endpoint", server.url], stdin=json.dumps(RUN).encode())
        posts = server.count("POST")
    _says_published(res)
    assert posts == 1


def test_bulk_on_the_published_service_stops_at_the_first_answer_with_exit_7() -> None:
    data = "".join(json.dumps({**RUN, "displayName": f"r{i}"}) + "\n" for i in range(20))
    with ScriptedServer() as server:
        server.queue(*[SEGMENT] * 30)
        res = invoke(["create", "--flow", FLOW, "-f", "-", "--endpoint", server.url,
                      "--parallel", "1"], stdin=data.encode())
        posts = server.count("POST")
    _says_published(res)
    assert posts == 1


@pytest.mark.parametrize("args", [
    ["update", RUN_ID, "--flow", FLOW, "--status", "completed", "--end", "now"],
    ["get", RUN_ID, "--flow", FLOW],
    ["list", "--flow", FLOW],
])
def test_draft_reads_and_updates_on_the_published_service_say_so(args: list[str]) -> None:
    with ScriptedServer() as server:
        server.queue(*[SEGMENT] * 3)
        res = invoke([*args, "--endpoint", server.url])
    _says_published(res)


def test_against_the_sandbox_published_surface(tmp_path: Path) -> None:
    proc = subprocess.Popen([rundctl_exe(), "sandbox", "--port", "0", "--quiet", "--db",
                             str(tmp_path / "s.db"), "--surface", "published"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url, proc.stderr.read() if proc.stderr else ""
        created = subprocess.run([rundctl_exe(), "create", "--flow", FLOW, "-f", "-",
                                  "--endpoint", url], input=json.dumps(RUN), text=True,
                                 capture_output=True, timeout=60)
        assert created.returncode == 7, created.stderr
        assert "does not offer the draft Create-run API" in created.stderr
        updated = subprocess.run([rundctl_exe(), "update", RUN_ID, "--flow", FLOW, "--status",
                                  "failed", "--endpoint", url], text=True, capture_output=True,
                                 timeout=60)
        assert updated.returncode == 7, updated.stderr
        assert "rundctl start" in updated.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_embedded_sandbox_takes_its_surface_from_the_environment(tmp_path: Path) -> None:
    env = {"RUNDCTL_SANDBOX_DB": str(tmp_path / "s.db"), "RUNDCTL_SANDBOX_SURFACE": "published"}
    res = invoke(["create", "--endpoint", "sandbox", "--flow", FLOW, "-f", "-"], env=env,
                 stdin=json.dumps(RUN).encode())
    _says_published(res)
    listed = invoke(["list", "--endpoint", "sandbox", "-o", "json"], env=env)
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
    bad = invoke(["list", "--endpoint", "sandbox"], env={**env, "RUNDCTL_SANDBOX_SURFACE": "x"})
    assert bad.exit_code == 2 and "RUNDCTL_SANDBOX_SURFACE" in bad.stderr
