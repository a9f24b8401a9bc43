"""Bulk create: every record exactly once, nothing half-sent, resumable.

In-process against a sandbox served from this process (fake clock, so retries and the journal's
settle window take no real time). Two tests interrupt the installed binary with a real signal
(kill -9, Ctrl-C); only a real process can be killed half-way."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rundctl.client import Gate
from tests.conftest import FIXED_NOW, FLOW, FakeClock, invoke, rundctl_exe
from tests.test_inproc_support import listed, local_sandbox, records, stored


@pytest.fixture
def url() -> Iterator[str]:
    with local_sandbox() as base:
        yield base


@contextmanager
def sandbox_process(tmp_path: Path, *flags: str) -> Iterator[str]:
    """`rundctl sandbox FLAGS` as its own process (the client stays in this one)."""
    proc = subprocess.Popen([rundctl_exe(), "sandbox", "--port", "0", "--quiet", "--db",
                             str(tmp_path / "bulk.db"), *flags], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def results(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_500_records_make_500_runs_and_500_result_lines(sandbox_proc, tmp_path) -> None:
    # The client in-process, the service `rundctl sandbox` in its own process (throughput).
    url = sandbox_proc.url
    path = tmp_path / "runs.ndjson"
    path.write_text(records(500))
    res = invoke(["create", "--flow", FLOW, "-f", str(path), "--endpoint", url])
    assert res.exit_code == 0, res.stderr
    done = results(res.stdout)
    assert len(done) == 500
    assert {r["status"] for r in done} == {"created"}
    assert sorted(r["index"] for r in done) == list(range(500))
    assert all(r["line"] == r["index"] + 1 and r["id"] and r["error"] is None for r in done)
    assert "created 500, failed 0, skipped 0, unknown 0" in res.stderr
    counts = stored(url)
    assert len(counts) == 500 and set(counts.values()) == {1}


def test_an_invalid_line_251_exits_3_and_nothing_is_sent(url) -> None:
    res = invoke(["create", "--flow", FLOW, "-f", "-", "--endpoint", url],
                 stdin=records(500, bad_line=251).encode())
    assert res.exit_code == 3
    assert "line 251: status" in res.stderr
    assert res.stdout == ""
    assert stored(url) == {}


def test_a_json_array_on_stdin_is_bulk_too(url) -> None:
    array = "[" + ",".join(records(3).splitlines()) + "]"
    res = invoke(["create", "--flow", FLOW, "-f", "-", "--endpoint", url, "-o", "id"],
                 stdin=array.encode())
    assert res.exit_code == 0, res.stderr
    assert len(res.stdout.split()) == 3
    assert stored(url) == {"run 0": 1, "run 1": 1, "run 2": 1}


def test_flags_override_every_record_and_a_parent_takes_the_children(url) -> None:
    parent = invoke(["create", "--flow", FLOW, "--endpoint", url, "-n", "parent", "--start", "now",
                     "--status", "running", "--stat", "a=1", "-o", "id"]).stdout.strip()
    res = invoke(["create", "--flow", FLOW, "-f", "-", "--endpoint", url, "--parent", parent,
                  "--status", "failed", "--error-code", "E7", "-o", "ndjson"],
                 stdin=records(3).encode())
    assert res.exit_code == 0, res.stderr
    import requests

    kids = requests.get(f"{url}/industryData/incomingFlows/{FLOW}/runs/{parent}/process/runs",
                        timeout=10).json()["value"]
    assert sorted(k["displayName"] for k in kids) == ["run 0", "run 1", "run 2"]
    assert {k["status"] for k in kids} == {"failed"}
    assert {k["blockingError"]["code"] for k in kids} == {"E7"}


@pytest.mark.parametrize("parallel", ["1", "16"])
def test_json_output_is_one_array_of_every_outcome(url, parallel) -> None:
    res = invoke(["create", "--flow", FLOW, "-f", "-", "--endpoint", url, "-o", "json",
                  "--parallel", parallel], stdin=records(12).encode())
    assert res.exit_code == 0, res.stderr
    outcomes = json.loads(res.stdout)
    assert sorted(o["index"] for o in outcomes) == list(range(12))
    assert {o["status"] for o in outcomes} == {"created"}
    assert sorted(o["id"] for o in outcomes) == sorted(r["id"] for r in listed(url))


def test_a_parallel_above_64_is_a_usage_error(url) -> None:
    res = invoke(["create", "--flow", FLOW, "-f", "-", "--endpoint", url, "--parallel", "65"],
                 stdin=records(2).encode())
    assert res.exit_code == 2 and "--parallel" in res.stderr
    assert stored(url) == {}


def test_dry_run_validates_everything_and_sends_nothing(url) -> None:
    res = invoke(["create", "--flow", FLOW, "-f", "-", "--endpoint", url, "--dry-run"],
                 stdin=records(7).encode())
    assert res.exit_code == 0, res.stderr
    assert res.stdout == ""
    assert res.stderr == (f"rundctl: valid: 7 records; would POST each to "
                          f"{url}/industryData/incomingFlows/{FLOW}/runs\n")
    assert stored(url) == {}
    sandbox = invoke(["create", "--flow", FLOW, "-f", "-", "--endpoint", "sandbox", "--dry-run",
                      "--parent", "3f1c1e9a-1f2b-4c8d-9e0f-123456789abc"],
                     stdin=records(2).encode())
    assert sandbox.stderr == ("rundctl: valid: 2 records; would POST each to the sandbox"
                              f"/industryData/incomingFlows/{FLOW}/runs/"
                              "3f1c1e9a-1f2b-4c8d-9e0f-123456789abc/process/runs\n")


def test_id_output_and_progress_lines_when_not_a_terminal(url) -> None:
    clock = FakeClock()
    res = invoke(["create", "--flow", FLOW, "-f", "-", "--endpoint", url, "-o", "id",
                  "--parallel", "1"], stdin=records(4).encode(), clock=clock)
    assert res.exit_code == 0, res.stderr
    assert sorted(res.stdout.split()) == sorted(str(r["id"]) for r in listed(url))
    # The fake clock never moves without a sleep: no progress line, only the summary.
    [line] = res.stderr.splitlines()
    assert line.startswith("rundctl: 4/4: created 4, failed 0, skipped 0, unknown 0 in 0s (")


def test_on_a_terminal_a_progress_bar_is_drawn_on_stderr(url) -> None:
    res = invoke(["create", "--flow", FLOW, "-f", "-", "--endpoint", url],
                 stdin=records(5).encode(), tty=True, env={"TERM": "xterm", "NO_COLOR": "1"})
    assert res.exit_code == 0, res.stderr
    assert len(results(res.stdout)) == 5  # table on a tty still means NDJSON outcomes
    assert "created 5, failed 0, skipped 0, unknown 0" in res.stderr
    assert stored(url) == {f"run {i}": 1 for i in range(5)}


def test_validate_streams_a_bulk_file(tmp_path) -> None:
    path = tmp_path / "runs.ndjson"
    path.write_text(records(50))
    res = invoke(["validate", "-f", str(path), "-o", "ndjson"])
    assert res.exit_code == 0 and len(res.stdout.splitlines()) == 50
    assert json.loads(res.stdout.splitlines()[7])["displayName"] == "run 7"
    assert "valid: 50 records" in res.stderr


@pytest.mark.parametrize(("fmt", "stdout"), [
    ("json", '{\n  "valid": true,\n  "records": 3\n}\n'), ("id", ""), ("none", "")])
def test_validate_of_bulk_input_in_other_formats(fmt, stdout) -> None:
    res = invoke(["validate", "-f", "-", "-o", fmt], stdin=records(3).encode())
    assert res.exit_code == 0, res.stderr
    assert res.stdout == stdout
    assert res.stderr == "rundctl: valid: 3 records\n"


def test_validate_of_a_bad_bulk_file_lists_the_lines(tmp_path) -> None:
    path = tmp_path / "runs.ndjson"
    path.write_text(records(4, bad_line=2) + '{"displayName": "x"\n')
    res = invoke(["validate", "-f", str(path)])
    assert res.exit_code == 3
    assert "line 2: status" in res.stderr and "line 5" in res.stderr
    assert res.stdout == ""


def test_faulty_service_rerun_with_journal_until_exit_0_creates_each_record_once(tmp_path) -> None:
    with sandbox_process(tmp_path, "--fail-rate", "0.3", "--fail-codes", "429,500,503",
                         "--fault-after-commit", "--seed", "11", "--retry-after", "0") as url:
        data = tmp_path / "runs.ndjson"
        data.write_text(records(120))
        journal = tmp_path / "runs.journal"
        args = ["create", "--flow", FLOW, "-f", str(data), "--endpoint", url, "--journal",
                str(journal), "--parallel", "6", "--max-retry-wait", "1s"]
        codes = []
        for attempt in range(8):
            # Each re-run comes two minutes later, past the journal's settle window.
            clock = FakeClock(FIXED_NOW + timedelta(minutes=2 * attempt))
            res = invoke(args, clock=clock)
            codes.append(res.exit_code)
            assert res.exit_code in (0, 12), res.stderr
            if res.exit_code == 0:
                break
        assert codes[-1] == 0, codes
        counts = stored(url)
        assert len(counts) == 120 and set(counts.values()) == {1}
        # A further run with the same journal sends nothing and reports every record skipped.
        again = invoke(["create", "--flow", FLOW, "-f", str(data), "--endpoint", url,
                        "--journal", str(journal)])
        assert again.exit_code == 0
        assert {r["status"] for r in results(again.stdout)} == {"skipped"}
        assert stored(url) == counts


def test_the_journal_notices_when_the_input_changed(url, tmp_path) -> None:
    data = tmp_path / "runs.ndjson"
    data.write_text(records(5))
    journal = tmp_path / "j"
    first = invoke(["create", "--flow", FLOW, "-f", str(data), "--endpoint", url,
                    "--journal", str(journal)])
    assert first.exit_code == 0
    data.write_text(records(6))
    second = invoke(["create", "--flow", FLOW, "-f", str(data), "--endpoint", url,
                     "--journal", str(journal)])
    assert second.exit_code == 2 and "different input" in second.stderr
    flags = invoke(["create", "--flow", FLOW, "-f", str(data), "--endpoint", url,
                    "--journal", str(journal), "--status", "failed"])
    assert flags.exit_code == 2
    assert stored(url) == {f"run {i}": 1 for i in range(5)}


def test_a_file_that_is_not_a_journal_is_refused(url, tmp_path) -> None:
    data = tmp_path / "runs.ndjson"
    data.write_text(records(2))
    other = tmp_path / "notes.txt"
    other.write_text("shopping list\n")
    res = invoke(["create", "--flow", FLOW, "-f", str(data), "--endpoint", url,
                  "--journal", str(other)])
    assert res.exit_code == 2 and "is not a rundctl journal" in res.stderr
    assert stored(url) == {}
    assert other.read_text() == "shopping list\n"


def test_some_records_rejected_exit_12_with_per_record_errors() -> None:
    from tests.scripted_server import ScriptedServer, Step

    def answer(request) -> Step:
        if request.method != "POST":
            return Step(200, json={"value": []})  # lookups: nothing there yet
        name = request.json()["displayName"]
        if name == "run 1":
            return Step(409, json={"error": {"code": "conflict", "message": "dup"}})
        return Step(201, json={"id": f"id-{name[-1]}"})

    with ScriptedServer(answer) as server:
        res = invoke(["create", "--flow", FLOW, "-f", "-", "--endpoint", server.url,
                      "--parallel", "1"], stdin=records(3).encode())
        posts = server.count("POST")
    assert res.exit_code == 12
    done = results(res.stdout)
    assert [r["status"] for r in done] == ["created", "failed", "created"]
    assert [r["id"] for r in done] == ["id-0", None, "id-2"]
    assert "dup" in str(done[1]["error"])
    assert posts == 3
    assert "created 2, failed 1, skipped 0, unknown 0" in res.stderr


def test_a_rejected_credential_stops_sending_the_rest() -> None:
    from tests.scripted_server import ScriptedServer, Step

    def answer(request) -> Step:
        if request.method != "POST":
            return Step(200, json={"value": []})
        return Step(401, json={"error": {"code": "InvalidAuthenticationToken",
                                         "message": "expired"}})

    with ScriptedServer(answer) as server:
        res = invoke(["create", "--flow", FLOW, "-f", "-", "--endpoint", server.url,
                      "--parallel", "1"], stdin=records(4).encode(),
                     env={"RUNDCTL_TOKEN": "tok-abcdefgh12345678"})
        posts = server.count("POST")
    assert res.exit_code == 12
    done = results(res.stdout)
    assert [r["status"] for r in done] == ["failed"] * 4
    assert posts == 1  # after the 401 nothing more is sent
    assert all(str(r["error"]).startswith("not sent:") for r in done[1:])


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

    def answer(request) -> Step:
        if request.method == "POST" and b'"run 1"' in request.body:
            return Step(201, json={"id": "b"})
        return broken  # the POST of record 0 and every lookup fail

    data = tmp_path / "runs.ndjson"
    data.write_text(records(2))
    journal = tmp_path / "j"
    with ScriptedServer(answer) as server:
        args = ["create", "--flow", FLOW, "-f", str(data), "--endpoint", server.url, "--journal",
                str(journal), "--parallel", "1"]
        # Run 1: record 0's POST -> 500 (unknown) and its lookup fails; record 1 created.
        first = invoke(args)
        assert first.exit_code == 12, first.stderr
        # Run 2, much later: the lookup for record 0 fails again: it stays unknown, nothing
        # is re-sent.
        second = invoke(args, clock=FakeClock(FIXED_NOW + timedelta(hours=1)))
        assert second.exit_code == 12
        statuses = {r["index"]: r["status"] for r in results(second.stdout)}
        posts = [r for r in server.requests if r.method == "POST"]
    assert statuses == {0: "unknown", 1: "skipped"}
    assert sum(1 for r in posts if b'"run 0"' in r.body) == 1


# -- interrupted for real: signals to the installed binary -----------------------------------


def interrupt_bulk(tmp_path: Path, url: str, count: int, sig: signal.Signals,
                   after_created: int) -> tuple[list[str], subprocess.Popen[bytes]]:
    """Start a journaled bulk create of *count* records and send *sig* once *after_created*
    records are journaled as created. Returns the command (to re-run) and the stopped process."""
    data = tmp_path / "runs.ndjson"
    data.write_text(records(count))
    journal = tmp_path / "runs.journal"
    args = ["create", "--flow", FLOW, "-f", str(data), "--endpoint", url,
            "--journal", str(journal), "--parallel", "4"]
    proc = subprocess.Popen([rundctl_exe(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count('"created"') >= after_created:
            break
        time.sleep(0.05)
    proc.send_signal(sig)
    return args, proc


def rerun_later(args: list[str]) -> object:
    """The same command again, in-process, once the journal's settle window has passed."""
    return invoke(args, clock=FakeClock(datetime.now(UTC) + timedelta(minutes=2)))


def assert_each_created_once(url: str, count: int) -> None:
    counts = stored(url)
    assert len(counts) == count and set(counts.values()) == {1}


def test_kill_9_in_the_middle_then_rerun_creates_every_record_exactly_once(tmp_path) -> None:
    db = str(tmp_path / "service.db")
    with local_sandbox(db=db, latency_ms=(30, 30)) as slow:  # slow, so the kill lands mid-way
        args, victim = interrupt_bulk(tmp_path, slow, 200, signal.SIGKILL, after_created=40)
        victim.communicate(timeout=10)
        assert victim.returncode == -signal.SIGKILL
        assert 0 < sum(stored(slow).values()) < 200
    with local_sandbox(db=db) as url:  # the same service, now answering at full speed
        args[args.index("--endpoint") + 1] = url
        res = rerun_later(args)
        assert res.exit_code == 0, res.stderr  # type: ignore[attr-defined]
        assert_each_created_once(url, 200)


def test_ctrl_c_stops_sending_and_the_journal_resumes_exactly_once(tmp_path) -> None:
    db = str(tmp_path / "service.db")
    with local_sandbox(db=db, latency_ms=(40, 40)) as slow:
        args, proc = interrupt_bulk(tmp_path, slow, 150, signal.SIGINT, after_created=20)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err.decode()
        assert b"Traceback" not in err
        stopped = sum(stored(slow).values())
        assert 0 < stopped < 150  # it stopped part-way, without sending the rest
    with local_sandbox(db=db) as url:
        args[args.index("--endpoint") + 1] = url
        again = rerun_later(args)
        assert again.exit_code == 0, again.stderr  # type: ignore[attr-defined]
        assert_each_created_once(url, 150)
