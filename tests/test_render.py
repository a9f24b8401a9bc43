"""Output formats: what a script or a person reading stdout sees."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from rundctl.render import Renderer, human_duration, relative_time, to_json, tsv_line

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
RUN = {
    "id": "3f1c1e9a-1f2b-4c8d-9e0f-123456789abc",
    "displayName": "Night\tly\nimport \\ x",
    "status": "completed",
    "startDateTime": "2026-11-29T10:00:00Z",
    "endDateTime": "2026-11-29T11:30:05.1234567Z",
    "statistics": {"people": 3},
}


def render(fmt: str, runs: list[dict[str, object]] | dict[str, object], *, tty: bool = False,
           env: dict[str, str] | None = None) -> str:
    out = io.StringIO()
    r = Renderer(fmt, out, now=NOW, tty=tty, env=env or {"TERM": "xterm", "COLUMNS": "160"})
    if isinstance(runs, list):
        r.many(runs)
    else:
        r.one(runs)
    return out.getvalue()


def test_json_list_is_one_array_of_all_items() -> None:
    text = render("json", [RUN, {**RUN, "id": "2"}])
    assert [r["id"] for r in json.loads(text)] == [RUN["id"], "2"]
    assert json.loads(render("json", [])) == []


def test_ndjson_is_one_compact_object_per_line() -> None:
    lines = render("ndjson", [RUN, RUN]).splitlines()
    assert len(lines) == 2 and json.loads(lines[0]) == RUN


def test_tsv_has_five_columns_and_escapes_tabs_newlines_backslashes() -> None:
    line = render("tsv", [RUN]).rstrip("\n")
    cols = line.split("\t")
    assert cols == [RUN["id"], "Night\\tly\\nimport \\\\ x", "completed",
                    "2026-11-29T10:00:00Z", "2026-11-29T11:30:05.1234567Z"]
    assert tsv_line({"id": "x", "endDateTime": None}).split("\t")[4] == ""


def test_id_format_prints_ids_only() -> None:
    assert render("id", [RUN, {**RUN, "id": "b"}]) == f"{RUN['id']}\nb\n"


def test_none_prints_nothing() -> None:
    assert render("none", RUN) == ""


def test_json_escapes_terminal_controls_including_c1() -> None:
    text = to_json({"x": "a\x1b[2Jb\x9bc\u202e"})
    assert "\x1b" not in text and "\x9b" not in text and "\u202e" not in text
    assert json.loads(text) == {"x": "a\x1b[2Jb\x9bc\u202e"}


def test_table_neutralises_escapes_and_never_interprets_markup() -> None:
    hostile = {**RUN, "displayName": "[red]boom[/red] \x1b]8;;http://evil\x07link\x1b[2J"}
    text = render("table", hostile, tty=True, env={"TERM": "xterm", "NO_COLOR": "1"})
    assert "[red]boom[/red]" in text
    assert "\x1b]8" not in text and "\x07" not in text and "\x1b[2J" not in text
    assert "\\x1b" in text


def test_table_on_terminal_shows_relative_times_and_duration() -> None:
    text = render("table", RUN, tty=True, env={"TERM": "xterm", "NO_COLOR": "1"})
    assert "2h 00m ago" in text
    assert "1h 30m" in text  # duration start -> end


def test_table_when_piped_shows_iso_utc_times() -> None:
    text = render("table", [RUN], tty=False)
    assert "2026-11-29T10:00:00Z" in text and "ago" not in text


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (59, "59s"), (61, "1m 01s"),
                                                (3600, "1h 00m"), (3 * 86400, "3d 00h")])
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_relative_time_future_and_past() -> None:
    assert relative_time(datetime(2026, 11, 29, 11, 59, tzinfo=UTC), NOW) == "1m 00s ago"
    assert relative_time(datetime(2026, 11, 29, 12, 5, tzinfo=UTC), NOW) == "in 5m 00s"


def test_no_color_means_no_ansi_colour_codes() -> None:
    text = render("table", RUN, tty=True, env={"TERM": "xterm", "NO_COLOR": "1"})
    assert "\x1b[" not in text
    coloured = render("table", RUN, tty=True, env={"TERM": "xterm-256color"})
    assert "\x1b[" in coloured


def test_tsv_times_are_utc_even_when_the_service_sends_an_offset() -> None:
    run = {**RUN, "startDateTime": "2026-11-29T10:00:00.5+01:00", "endDateTime": None}
    cols = tsv_line(run).split("\t")
    assert cols[3] == "2026-11-29T09:00:00.5Z" and cols[4] == ""
