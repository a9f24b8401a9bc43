"""CI pipelines: stdout complete or absent, readers that stop early, machine-readable errors."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FLOW, invoke, rundctl_exe
from tests.scripted_server import ScriptedServer, Step

RUN = {"displayName": "n", "startDateTime": "2026-11-01T10:00:00Z", "status": "completed",
       "statistics": {}}
RUN_ID = "0b8e2f3a-51a4-4e0c-9d5f-3a7c1c2b9e10"


def _run_item(i: int) -> dict[str, object]:
    return {**RUN, "id": f"00000000-0000-4000-8000-{i:012d}", "displayName": f"r{i}"}


def test_a_list_that_fails_on_page_2_leaves_stdout_empty(tmp_path: Path) -> None:
    with ScriptedServer() as server:
        busy = Step(503, json={"error": {"code": "serviceNotAvailable", "message": "down"}})
        server.queue(Step(200, json={"value": [_run_item(1)],
                                     "@odata.nextLink": server.url + "/x?$skiptoken=2"}),
                     *[busy] * 10)
        res = invoke(["list", "--all", "-o", "json", "--endpoint", server.url])
    assert res.exit_code == 8, res.stderr
    assert res.stdout == ""


def _many_runs(url: str, count: int) -> None:
    data = "".join(json.dumps({**RUN, "displayName": f"r{i}",
                               "startDateTime": f"2026-11-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z"})
                   + "\n" for i in range(count))
    res = subprocess.run([rundctl_exe(), "create", "--flow", FLOW, "-f", "-", "--endpoint", url,
                          "-o", "none", "--parallel", "8"], input=data.encode(),
                         capture_output=True, timeout=300)
    assert res.returncode == 0, res.stderr


@pytest.fixture(scope="module")
def thousand(tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("sb") / "s.db"
    proc = subprocess.Popen([rundctl_exe(), "sandbox", "--port", "0", "--quiet", "--db", str(db)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    try:
        _many_runs(url, 1000)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("fmt", ["id", "tsv", "ndjson", "json"])
def test_a_reader_that_stops_early_is_exit_0_under_pipefail(thousand: str, fmt: str) -> None:
    script = (f'set -o pipefail; "$EXE" list --all -o {fmt} --endpoint "$URL" | head -1 '
              '> /dev/null; echo "rc=$?"')
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "EXE": rundctl_exe(), "URL": thousand})
    assert proc.stdout.strip() == "rc=0", proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_bulk_create_piped_into_head_still_exits_141(thousand: str) -> None:
    data = "".join(json.dumps({**RUN, "displayName": f"p{i}"}) + "\n" for i in range(50))
    script = ('set -o pipefail; "$EXE" create --flow $FLOW -f - --endpoint "$URL" -o id '
              '--parallel 1 | head -1 > /dev/null; echo "rc=$?"')
    proc = subprocess.run(["bash", "-c", script], input=data, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "EXE": rundctl_exe(), "URL": thousand,
                                            "FLOW": FLOW})
    assert proc.stdout.strip() == "rc=141", proc.stderr
    assert "created" in proc.stderr  # what was done is said


def _err(status: int, code: str, **headers: str) -> Step:
    return Step(status, json={"error": {"code": code, "message": f"{code} said"}},
                headers=headers)


CASES: list[tuple[int, list[str], list[Step], bytes]] = [
    (2, ["list", "--limit", "x"], [], b""),
    (3, ["validate", "-f", "-"], [], b'{"status": "nope"}'),
    (5, ["get", RUN_ID], [_err(403, "accessDenied")], b""),
    (6, ["get", RUN_ID], [_err(404, "itemNotFound")], b""),
    (7, ["get", RUN_ID], [_err(400, "invalidRequest")], b""),
    (8, ["get", RUN_ID], [_err(429, "TooManyRequests", **{"Retry-After": "3600"})], b""),
    (9, ["create", "--flow", FLOW, "-f", "-"],
     [Step(200, json={"value": []}), *[_err(500, "generalException")] * 2,
      Step(200, json={"value": []})], json.dumps(RUN).encode()),
    (10, ["get", RUN_ID], [Step.redirect_to("http://127.0.0.1:9/x")], b""),
    (11, ["get", RUN_ID], [Step(200, body=b"<html>", headers={"Content-Type": "text/html"})], b""),
    (12, ["create", "--flow", FLOW, "-f", "-", "--parallel", "1"],
     [Step(200, json={"value": []}), Step(201, json={**RUN, "id": RUN_ID}),
      _err(409, "conflict")], (json.dumps(RUN) + "\n" + json.dumps(RUN) + "\n").encode()),
]


@pytest.mark.parametrize(("code", "args", "steps", "stdin"), CASES,
                         ids=[str(c[0]) for c in CASES])
def test_every_error_parses_as_json_with_error_format_json(code: int, args: list[str],
                                                           steps: list[Step], stdin: bytes) -> None:
    with ScriptedServer() as server:
        server.queue(*steps)
        target = [] if args[0] == "validate" else ["--endpoint", server.url]
        res = invoke([*args, *target, "--error-format", "json"], stdin=stdin)
    assert res.exit_code == code, res.stderr
    values = [json.loads(line) for line in res.stderr.splitlines()]
    errors = [v["error"] for v in values if "error" in v]
    if code != 12:
        assert len(errors) == 1 and errors[0]["exit"] == code
        assert set(errors[0]) >= {"exit", "message", "hint"}
    if code in (5, 6, 7, 8):
        assert errors[0]["status"] and errors[0]["code"]
        assert "clientRequestId" in errors[0]


def test_not_authenticated_is_json_too() -> None:
    res = invoke(["list", "--endpoint", "https://graph.microsoft.com/beta", "--auth", "token",
                  "--error-format", "json"])
    assert res.exit_code == 4
    assert json.loads(res.stderr.splitlines()[-1])["error"]["exit"] == 4


def test_the_binary_reports_a_flag_mistake_as_json() -> None:
    proc = subprocess.run([rundctl_exe(), "create", "--nme", "x", "--error-format", "json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert json.loads(proc.stderr)["error"]["exit"] == 2
