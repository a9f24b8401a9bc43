"""`rundctl api` end to end: the installed binary as a subprocess, against the embedded sandbox
(`--endpoint sandbox`, a real SQLite store shared by every process) and a scripted server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import FLOW, run_exe
from tests.scripted_server import ScriptedServer, Step

RUNS = "/external/industryData/runs"
START = f"{RUNS}/microsoft.graph.industryData.start"
CANARY = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJjYW5hcnkifQ.canary-SIGNATURE-0123456789"
MANY = 250  # the sandbox pages at 100: three pages


@pytest.fixture(scope="module")
def sandbox_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An embedded-sandbox store holding MANY runs, made by one bulk create."""
    folder = tmp_path_factory.mktemp("api-e2e")
    records = folder / "runs.ndjson"
    records.write_text("".join(json.dumps({
        "displayName": f"run {i}", "startDateTime": f"2026-11-01T{i // 60 % 24:02d}:{i % 60:02d}:00Z",
        "status": "completed", "statistics": {"i": i}}) + "\n" for i in range(MANY)))
    env = {"RUNDCTL_SANDBOX_DB": str(folder / "sandbox.db"), "RUNDCTL_ENDPOINT": "sandbox"}
    made = run_exe(["create", "--flow", FLOW, "-f", str(records), "--parallel", "8", "-o", "none"],
                   env=env, timeout=120)
    assert made.returncode == 0, made.stderr
    return env


def listed_ids(env: dict[str, str]) -> list[str]:
    proc = run_exe(["list", "--all", "-o", "json"], env=env)
    assert proc.returncode == 0, proc.stderr
    return [run["id"] for run in json.loads(proc.stdout)]


def test_paginate_with_a_query_gives_the_ids_list_all_gives(sandbox_env) -> None:
    proc = run_exe(["api", RUNS, "--paginate", "--query", "value[].id", "--debug"], env=sandbox_env)
    assert proc.returncode == 0, proc.stderr
    ids = json.loads(proc.stdout)
    assert len(ids) >= MANY and len(set(ids)) == len(ids)
    assert sorted(ids) == sorted(listed_ids(sandbox_env))
    gets = [line for line in proc.stderr.splitlines() if line.startswith("rundctl: debug: > GET")]
    assert len(gets) >= 3  # it really followed @odata.nextLink


def test_without_paginate_only_the_first_page_comes_back(sandbox_env) -> None:
    proc = run_exe(["api", RUNS, "-o", "ndjson"], env=sandbox_env)
    assert proc.returncode == 0, proc.stderr
    page = json.loads(proc.stdout)
    assert len(page["value"]) == 100 and "@odata.nextLink" in page


def test_count_is_text_written_as_it_came(sandbox_env) -> None:
    proc = run_exe(["api", f"{RUNS}/$count"], env=sandbox_env)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) == len(listed_ids(sandbox_env))


def test_post_start_answers_202_and_a_new_run_appears(sandbox_env) -> None:
    before = set(listed_ids(sandbox_env))
    proc = run_exe(["api", "-X", "POST", START, "-i"], env=sandbox_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("HTTP 202 Accepted\n") and proc.stdout.endswith("\n\n")
    assert "client-request-id: " in proc.stdout
    new = set(listed_ids(sandbox_env)) - before
    assert len(new) == 1


def test_a_404_exits_6_showing_graphs_error_code(sandbox_env) -> None:
    proc = run_exe(["api", f"{RUNS}/00000000-0000-4000-8000-000000000000"], env=sandbox_env)
    assert proc.returncode == 6
    assert proc.stderr.startswith("rundctl: error: not found: ")
    assert "HTTP 404; code: itemNotFound;" in proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr


def test_an_invalid_query_exits_2_with_the_parse_error(sandbox_env) -> None:
    proc = run_exe(["api", RUNS, "--query", "value[?"], env=sandbox_env)
    assert proc.returncode == 2
    assert "--query: invalid JMESPath expression" in proc.stderr


def test_a_post_is_sent_exactly_once_on_a_500_and_exits_9() -> None:
    with ScriptedServer([Step(500, json={"error": {"code": "generalException", "message": "x"}})]
                        ) as server:
        proc = run_exe(["api", "-X", "POST", START, "--endpoint", server.url])
        assert proc.returncode == 9, proc.stderr
        assert server.count("POST") == 1 and len(server.requests) == 1
    assert "outcome unknown" in proc.stderr


def test_include_and_debug_never_show_the_token() -> None:
    with ScriptedServer() as server:
        server.queue(Step(200, json={"value": []}, headers={"X-Echo": f"Bearer {CANARY}"}),
                     Step(200, json={"value": []}))
        env = {"RUNDCTL_TOKEN": CANARY}
        shown = run_exe(["api", RUNS, "-i", "--endpoint", server.url, "--auth", "token"], env=env)
        debug = run_exe(["api", RUNS, "--debug", "--endpoint", server.url, "--auth", "token"],
                        env=env)
        assert [r.headers["Authorization"] for r in server.requests] == [f"Bearer {CANARY}"] * 2
    assert shown.returncode == 0 and debug.returncode == 0
    assert shown.stdout.startswith("HTTP 200 OK\n") and "X-Echo: Bearer ***" in shown.stdout
    assert "Authorization=Bearer ***" in debug.stderr
    for proc in (shown, debug):
        assert CANARY not in proc.stdout + proc.stderr


def test_a_full_url_to_another_host_exits_10_and_the_token_never_reaches_it() -> None:
    with ScriptedServer() as graph, ScriptedServer() as other:
        env = {"RUNDCTL_TOKEN": CANARY}
        to_other = run_exe(["api", other.url + RUNS, "--endpoint", graph.url, "--auth", "token"],
                           env=env)
        from_cloud = run_exe(["api", other.url + RUNS, "--auth", "token"], env=env)
        entra = run_exe(["api", RUNS, "--endpoint", other.url, "--auth", "managed-identity"])
        assert other.requests == [] and graph.requests == []
    assert to_other.returncode == 10 and from_cloud.returncode == 10 and entra.returncode == 10
    assert "PATH points to another host" in to_other.stderr


def test_input_from_a_real_pipe(tmp_path: Path) -> None:
    with ScriptedServer([Step(201, json={"id": "y1"})]) as server:
        proc = run_exe(["api", "POST", "/external/industryData/years", "--input", "-",
                        "--endpoint", server.url, "--query", "id", "-o", "ndjson"],
                       input=b'{"displayName": "2026"}')
        assert server.requests[0].json() == {"displayName": "2026"}
    assert proc.returncode == 0 and proc.stdout == '"y1"\n'
