"""Concurrent updates never lose each other's changes: If-Match, and the merge again on 412
(adversarial #6)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import FLOW, invoke, rundctl_exe
from tests.scripted_server import ScriptedServer, Step

RUN_ID = "0b8e2f3a-51a4-4e0c-9d5f-3a7c1c2b9e10"


def _run(stats: dict[str, object], etag: str | None) -> dict[str, object]:
    run: dict[str, object] = {"id": RUN_ID, "displayName": "n", "status": "running",
                              "startDateTime": "2026-11-01T10:00:00Z", "endDateTime": None,
                              "statistics": stats}
    if etag:
        run["@odata.etag"] = etag
    return run


def test_a_stale_update_is_read_and_merged_again() -> None:
    with ScriptedServer() as server:
        server.queue(
            Step(200, json=_run({"a": 1}, 'W/"1"')),
            Step(412, json={"error": {"code": "preconditionFailed", "message": "changed"}}),
            Step(200, json=_run({"a": 1, "other": 5}, 'W/"2"')),
            Step(200, json=_run({"a": 1, "other": 5, "b": 2}, 'W/"3"')),
        )
        res = invoke(["update", RUN_ID, "--flow", FLOW, "--stat", "b=2", "--endpoint",
                      server.url, "-o", "json"])
        patches = [r for r in server.requests if r.method == "PATCH"]
    assert res.exit_code == 0, res.stderr
    assert [p.headers.get("If-Match") for p in patches] == ['W/"1"', 'W/"2"']
    assert json.loads(patches[-1].body)["statistics"] == {"a": 1, "other": 5, "b": 2}


def test_without_an_etag_the_update_is_sent_as_before() -> None:
    with ScriptedServer() as server:
        server.queue(Step(200, json=_run({}, None)), Step(200, json=_run({"b": 2}, None)))
        res = invoke(["update", RUN_ID, "--flow", FLOW, "--stat", "b=2", "--endpoint",
                      server.url])
        patch = next(r for r in server.requests if r.method == "PATCH")
    assert res.exit_code == 0, res.stderr
    assert "If-Match" not in patch.headers


def test_a_run_that_keeps_changing_is_exit_8_and_nothing_applied() -> None:
    conflict = Step(412, json={"error": {"code": "preconditionFailed", "message": "changed"}})
    with ScriptedServer() as server:
        server.queue(*[s for n in range(8) for s in (Step(200, json=_run({}, f'W/"{n}"')),
                                                     conflict)])
        res = invoke(["update", RUN_ID, "--flow", FLOW, "--stat", "b=2", "--endpoint",
                      server.url])
    assert res.exit_code == 8, res.stderr
    assert "kept changing" in res.stderr


def test_ten_processes_updating_statistics_keep_every_key(tmp_path: Path) -> None:
    proc = subprocess.Popen([rundctl_exe(), "sandbox", "--port", "0", "--quiet", "--db",
                             str(tmp_path / "s.db")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        created = invoke(["create", "--flow", FLOW, "-n", "c", "--start", "now", "--status",
                          "running", "--statistics", "{}", "--endpoint", url, "-o", "id"])
        run_id = created.stdout.strip()
        shown = invoke(["get", run_id, "--flow", FLOW, "--endpoint", url, "-o", "json"])
        assert "@odata.etag" in json.loads(shown.stdout)
        workers = [subprocess.Popen([rundctl_exe(), "update", run_id, "--flow", FLOW, "--stat",
                                     f"k{i}={i}", "--endpoint", url, "-o", "none"],
                                    stderr=subprocess.PIPE) for i in range(10)]
        assert [w.wait(timeout=120) for w in workers] == [0] * 10
        final = invoke(["get", run_id, "--flow", FLOW, "--endpoint", url, "-o", "json"])
        assert json.loads(final.stdout)["statistics"] == {f"k{i}": i for i in range(10)}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
