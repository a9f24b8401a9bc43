"""Bulk create end to end: every record exactly once, nothing half-sent, resumable."""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rundctl.client import Gate
from tests.conftest import FLOW, FakeClock, run_exe, rundctl_exe


def records(count: int, *, bad_line: int | None = None) -> str:
    lines = []
    for i in range(count):
        status = "complete" if bad_line == i + 1 else "completed"
        lines.append(json.dumps({"displayName": f"run {i}", "startDateTime": "2026-11-01T10:00:00Z",
                                 "status": status, "statistics": {"i": i}}))
    return "\n".join(lines) + "\n"


def stored(url: str) -> collections.Counter[str]:
    listed = run_exe(["list", "--flow", FLOW, "--all", "--endpoint", url, "-o", "json"])
    assert listed.returncode == 0, listed.stderr
    return collections.Counter(r["displayName"] for r in json.loads(listed.stdout))


def start_sandbox(tmp_path: Path, *flags: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([rundctl_exe(), "sandbox", "--port", "0", "--quiet", "--db",
                             str(tmp_path / "bulk.db"), *flags], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def test_500_records_make_500_runs_and_500_result_lines(sandbox_proc, tmp_path) -> None:
    path = tmp_path / "runs.ndjson"
    path.write_text(records(500))
    proc = run_exe(["create", "--flow", FLOW, "-f", str(path), "--endpoint", sandbox_proc.url])
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == 500
    assert {r["status"] for r in results} == {"created"}
    assert sorted(r["index"] for r in results) == list(range(500))
    assert all(r["line"] == r["index"] + 1 and r["id"] for r in results)
    assert "created 500, failed 0, skipped 0, unknown 0" in proc.stderr
    counts = stored(sandbox_proc.url)
    assert len(counts) == 500 and set(counts.values()) == {1}


def test_an_invalid_line_251_exits_3_and_nothing_is_sent(sandbox_proc) -> None:
    proc = run_exe(["create", "--flow", FLOW, "-f", "-", "--endpoint", sandbox_proc.url],
                   input=records(500, bad_line=251).encode())
    assert proc.returncode == 3
    assert "line 251: status" in proc.stderr
    assert proc.stdout == ""
    assert stored(sandbox_proc.url) == {}


def test_a_json_array_on_stdin_is_bulk_too(sandbox_proc) -> None:
    array = "[" + ",".join(records(3).splitlines()) + "]"
    proc = run_exe(["create", "--flow", FLOW, "-f", "-", "--endpoint", sandbox_proc.url,
                    "-o", "id"], input=array.encode())
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.split()) == 3


def test_validate_streams_a_bulk_file(tmp_path) -> None:
    path = tmp_path / "runs.ndjson"
    path.write_text(records(50))
    proc = run_exe(["validate", "-f", str(path), "-o", "ndjson"])
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 50
    assert "valid: 50 records" in proc.stderr


def test_faulty_service_rerun_with_journal_until_exit_0_creates_each_record_once(tmp_path) -> None:
    server, url = start_sandbox(tmp_path, "--fail-rate", "0.3", "--fail-codes", "429,500,503",
                                "--fault-after-commit", "--seed", "11", "--retry-after", "0")
    try:
        data = tmp_path / "runs.ndjson"
        data.write_text(records(120))
        journal = tmp_path / "runs.journal"
        codes = []
        for _ in range(8):
            proc = run_exe(["create", "--flow", FLOW, "-f", str(data), "--endpoint", url,
                            "--journal", str(journal), "--parallel", "6", "--max-retry-wait", "1s"])
            codes.append(proc.returncode)
            assert proc.returncode in (0, 12), proc.stderr
            if proc.returncode == 0:
                break
        assert codes[-1] == 0, codes
        counts = stored(url)
        assert len(counts) == 120 and set(counts.values()) == {1}
        # A further run with the same journal sends nothing and reports every record skipped.
        again = run_exe(["create", "--flow", FLOW, "-f", str(data), "--endpoint", url,
                         "--journal", str(journal)])
        assert again.returncode == 0
        assert {json.loads(x)["status"] for x in again.stdout.splitlines()} == {"skipped"}
        assert stored(url) == counts
    finally:
        server.terminate()
        server.wait(timeout=10)


def interrupt_bulk(tmp_path: Path, url: str, count: int, sig: signal.Signals,
                   after_created: int) -> tuple[list[str], subprocess.Popen[bytes]]:
    """Start a journaled bulk create of *count* records and send *sig* once *after_created*
    records are journaled as created. Returns the command (to re-run) and the stopped process."""
    data = tmp_path / "runs.ndjson"
    data.write_text(records(count))
    journal = tmp_path / "runs.journal"
    args = [rundctl_exe(), "create", "--flow", FLOW, "-f", str(data), "--endpoint", url,
            "--journal", str(journal), "--parallel", "4"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count('"created"') >= after_created:
            break
        time.sleep(0.05)
    proc.send_signal(sig)
    return args, proc


def assert_each_created_once(url: str, count: int) -> None:
    counts = stored(url)
    assert len(counts) == count and set(counts.values()) == {1}


def test_kill_9_in_the_middle_then_rerun_creates_every_record_exactly_once(tmp_path) -> None:
    server, url = start_sandbox(tmp_path, "--latency", "30")
    try:
        args, victim = interrupt_bulk(tmp_path, url, 200, signal.SIGKILL, after_created=40)
        victim.communicate(timeout=10)
        assert 0 < sum(stored(url).values()) < 200
        proc = run_exe(args[1:])
        assert proc.returncode == 0, proc.stderr
        assert_each_created_once(url, 200)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_journal_notices_when_the_input_changed(sandbox_proc, tmp_path) -> None:
    data = tmp_path / "runs.ndjson"
    data.write_text(records(5))
    journal = tmp_path / "j"
    first = run_exe(["create", "--flow", FLOW, "-f", str(data), "--endpoint", sandbox_proc.url,
                     "--journal", str(journal)])
    assert first.returncode == 0
    data.write_text(records(6))
    second = run_exe(["create", "--flow", FLOW, "-f", str(data), "--endpoint", sandbox_proc.url,
                      "--journal", str(journal)])
    assert second.returncode == 2 and "different input" in second.stderr
    flags = run_exe(["create", "--flow", FLOW, "-f", str(data), "--endpoint", sandbox_proc.url,
                     "--journal", str(journal), "--status", "failed"])
    assert flags.returncode == 2


def test_some_records_rejected_exit_12_with_per_record_errors(tmp_path) -> None:
    from tests.scripted_server import ScriptedServer, Step

    with ScriptedServer() as server:
        server.queue(Step(201, json={"id": "a"}),
                     Step(409, json={"error": {"code": "conflict", "message": "dup"}}),
                     Step(201, json={"id": "c"}))
        proc = run_exe(["create", "--flow", FLOW, "-f", "-", "--endpoint", server.url,
                        "--parallel", "1"], input=records(3).encode())
    assert proc.returncode == 12
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["status"] for r in results] == ["created", "failed", "created"]
    assert "dup" in results[1]["error"]


def test_gate_pauses_every_worker_until_the_latest_retry_after() -> None:
    clock = FakeClock()
    gate = Gate(clock.monotonic, clock.sleep)
    gate.pause(5)
    gate.pause(2)  # a shorter demand never shortens the pause
    gate.wait()
    assert sum(clock.slept) == pytest.approx(5)
    clock.slept.clear()
    gate.wait()  # the pause is over: no more waiting
    assert clock.slept == []


def test_a_failed_lookup_never_leads_to_a_second_post(tmp_path) -> None:
    from tests.scripted_server import ScriptedServer, Step

    broken = Step(500, json={"error": {"code": "generalException", "message": "x"}},
                  headers={"Retry-After": "0"})
    data = tmp_path / "runs.ndjson"
    data.write_text(records(2))
    journal = tmp_path / "j"
    with ScriptedServer() as server:
        # Run 1: record 0 POST -> 500 (unknown); its lookup fails 5 times; record 1 created.
        server.queue(broken, *([broken] * 5))
        args = ["create", "--flow", FLOW, "-f", str(data), "--endpoint", server.url,
                "--journal", str(journal), "--parallel", "1"]
        first = run_exe(args)
        assert first.returncode == 12, first.stderr
        # Run 2: the lookup for record 0 fails again: it stays unknown, nothing is re-sent.
        server.queue(*([broken] * 5))
        second = run_exe(args)
        assert second.returncode == 12
        statuses = {json.loads(x)["index"]: json.loads(x)["status"] for x in second.stdout.splitlines()}
        assert statuses[0] == "unknown"
        posts = [r for r in server.requests if r.method == "POST"]
        assert sum(1 for r in posts if b'"run 0"' in r.body) == 1


def test_ctrl_c_stops_sending_and_the_journal_resumes_exactly_once(tmp_path) -> None:
    server, url = start_sandbox(tmp_path, "--latency", "40")
    try:
        args, proc = interrupt_bulk(tmp_path, url, 150, signal.SIGINT, after_created=20)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err.decode()
        assert b"Traceback" not in err
        stopped = sum(stored(url).values())
        assert 0 < stopped < 150  # it stopped part-way, without sending the rest
        again = run_exe(args[1:])
        assert again.returncode == 0, again.stderr
        assert_each_created_once(url, 150)
    finally:
        server.terminate()
        server.wait(timeout=10)
