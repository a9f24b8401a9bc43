"""--query, --columns, -o wide, a table that reads at 80 columns, ID prefixes, time ranges."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FakeClock, invoke, read_pty, rundctl_exe
from tests.scripted_server import ScriptedServer, Step

RUNS = [
    {"id": "0b8e2f3a-51a4-4e0c-9d5f-3a7c1c2b9e10", "displayName": "A very long nightly import "
     "name for the north campus", "status": "completedWithWarnings",
     "startDateTime": "2026-11-29T10:00:00Z", "endDateTime": "2026-11-29T10:05:00Z",
     "statistics": {"people": 7}},
    {"id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "displayName": "South", "status": "failed",
     "startDateTime": "2026-11-29T09:00:00Z", "endDateTime": "2026-11-29T09:01:00Z",
     "statistics": {"people": 3}, "blockingError": {"code": "E42", "message": "gone"}},
]


def page(server: ScriptedServer) -> None:
    server.queue(*[Step(200, json={"value": RUNS})] * 4)


def test_query_shapes_list_output_as_az_does() -> None:
    with ScriptedServer(lambda _r: Step(200, json={"value": RUNS})) as server:
        ids = invoke(["list", "--endpoint", server.url, "--query", "[?status=='failed'].id",
                      "-o", "tsv"])
        doc = invoke(["list", "--endpoint", server.url, "--query", "[].statistics.people",
                      "-o", "json"])
        bad = invoke(["list", "--endpoint", server.url, "--query", "[?status=="])
    assert ids.exit_code == 0 and ids.stdout == RUNS[1]["id"] + "\n"
    assert json.loads(doc.stdout) == [7, 3]
    assert bad.exit_code == 2 and "--query" in bad.stderr


def test_query_on_get_stats_activities_and_flows() -> None:
    with ScriptedServer(lambda _r: Step(200, json=RUNS[1])) as server:
        res = invoke(["get", RUNS[1]["id"], "--endpoint", server.url, "--query",
                      "blockingError.code", "-o", "tsv"])
    assert res.stdout == "E42\n"
    with ScriptedServer(lambda _r: Step(200, json={"value": [{"id": "a", "displayName": "x"}]})
                        ) as server:
        for args in (["activities", RUNS[0]["id"]], ["flows", "list"]):
            res = invoke([*args, "--endpoint", server.url, "--query", "[0].displayName",
                          "-o", "tsv"])
            assert res.stdout == "x\n", (args, res.stderr)


def test_columns_pick_dotted_paths_for_tsv_and_table() -> None:
    with ScriptedServer(lambda _r: Step(200, json={"value": RUNS})) as server:
        tsv = invoke(["list", "--endpoint", server.url, "--columns",
                      "id,status,statistics.people", "-o", "tsv"])
        table = invoke(["list", "--endpoint", server.url, "--columns", "displayName,status",
                        "-o", "table"], tty=True, env={"COLUMNS": "100"})
        bad = invoke(["list", "--endpoint", server.url, "--columns", "id,,x"])
    assert tsv.stdout.splitlines() == [f"{RUNS[0]['id']}\tcompletedWithWarnings\t7",
                                       f"{RUNS[1]['id']}\tfailed\t3"]
    assert "displayName" in table.stdout and "South" in table.stdout
    assert bad.exit_code == 2


def test_wide_shows_every_column() -> None:
    with ScriptedServer(lambda _r: Step(200, json={"value": RUNS})) as server:
        res = invoke(["list", "--endpoint", server.url, "-o", "wide"], tty=True,
                     env={"COLUMNS": "250"})
    text = res.stdout
    for header in ("ID", "displayName", "STATUS", "duration", "statistics", "blockingError.code"):
        assert header in text, header
    assert RUNS[0]["id"] in text and "E42" in text


def test_at_80_columns_every_name_reads_and_the_id_shown_is_accepted(tmp_path: Path) -> None:
    run = RUNS[0]

    def answer(request: object) -> Step:
        path = getattr(request, "path", "")
        if path.rstrip("/").endswith(run["id"]):
            return Step(200, json=run)
        return Step(200, json={"value": RUNS})

    with ScriptedServer(answer) as server:
        master, slave = pty.openpty()
        os.system(f"stty cols 80 rows 40 < {os.ttyname(slave)}")
        proc = subprocess.Popen([rundctl_exe(), "list", "--endpoint", server.url],
                                stdin=slave, stdout=slave, stderr=slave,
                                env={**os.environ, "TERM": "xterm", "COLUMNS": "80"})
        os.close(slave)
        out = read_pty(master).decode()
        proc.wait(timeout=30)
        os.close(master)
        plain = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", out)
        assert "…" not in plain, plain  # nothing cut: long names wrap inside their column
        name_words = [w for line in plain.splitlines()[1:4] for w in line.split()
                      if w in run["displayName"].split()]
        assert name_words == run["displayName"].split(), plain
        assert "completedWithWarnings" in plain and "South" in plain
        assert max(len(line) for line in plain.splitlines()) <= 80
        shown = re.search(r"^([0-9a-f]{8})\s", plain, re.M)
        assert shown and run["id"].startswith(shown.group(1)), plain
        got = invoke(["get", shown.group(1), "--endpoint", server.url, "-o", "json"])
    assert got.exit_code == 0, got.stderr
    assert json.loads(got.stdout)["id"] == run["id"]


def test_an_ambiguous_or_unknown_prefix_is_refused() -> None:
    twins = [dict(RUNS[0]), {**RUNS[1], "id": RUNS[0]["id"][:8] + RUNS[1]["id"][8:]}]
    with ScriptedServer(lambda _r: Step(200, json={"value": twins})) as server:
        ambiguous = invoke(["get", RUNS[0]["id"][:8], "--endpoint", server.url])
        unknown = invoke(["get", "ffffffff", "--endpoint", server.url])
    assert ambiguous.exit_code == 2 and "is the start of 2 run IDs" in ambiguous.stderr
    assert unknown.exit_code == 6


@pytest.mark.parametrize(("since", "until", "first"), [
    ("2026-11-01", None, "startDateTime ge 2026-11-01T00:00:00Z"),
    ("1w", None, "startDateTime ge 2026-11-22T12:00:00Z"),
    ("1d2h", None, "startDateTime ge 2026-11-28T10:00:00Z"),
])
def test_since_takes_dates_and_compound_ages(since: str, until: str | None, first: str) -> None:
    with ScriptedServer(lambda _r: Step(200, json={"value": []})) as server:
        res = invoke(["list", "--endpoint", server.url, "--since", since], clock=FakeClock())
        sent = server.requests[0].query.get("$filter", "")
    assert res.exit_code == 0, res.stderr
    assert first in sent


def test_an_inverted_range_is_a_usage_error() -> None:
    res = invoke(["list", "--endpoint", "http://127.0.0.1:9", "--since", "1h", "--until", "2d"],
                 clock=FakeClock())
    assert res.exit_code == 2 and "after --until" in res.stderr


def test_an_empty_list_on_a_terminal_says_no_runs() -> None:
    with ScriptedServer(lambda _r: Step(200, json={"value": []})) as server:
        tty = invoke(["list", "--endpoint", server.url], tty=True)
        piped = invoke(["list", "--endpoint", server.url, "-o", "json"])
    assert tty.exit_code == 0 and "no runs" in tty.stderr and tty.stdout == ""
    assert piped.stdout == "[]\n" and "no runs" not in piped.stderr
