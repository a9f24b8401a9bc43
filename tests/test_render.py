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


# -- every format of every kind ------------------------------------------------------------

ACTIVITY = {"id": "a1", "displayName": "Roster sync", "status": "completedWithErrors"}
FLOW_ITEM = {"id": "f1", "displayName": "SIS import", "readinessStatus": "ready",
             "dataDomain": "educationRostering",
             "@odata.type": "#microsoft.graph.industryData.inboundFileFlow"}
REQUEST = {"method": "POST", "url": "https://graph.example/beta/runs\x1b[2J",
           "headers": {"Content-Type": "application/json", "Authorization": "Bearer <redacted>"},
           "body": {"displayName": "x"}}
NO_COLOR = {"TERM": "xterm", "NO_COLOR": "1", "COLUMNS": "160"}


def rendered(fmt: str, call, *, tty: bool = False, env: dict[str, str] | None = None) -> str:
    out = io.StringIO()
    call(Renderer(fmt, out, now=NOW, tty=tty, env=env or NO_COLOR))
    return out.getvalue()


@pytest.mark.parametrize(("kind", "item", "tsv"), [
    ("activity", ACTIVITY, "a1\tRoster sync\tcompletedWithErrors\n"),
    ("flow", FLOW_ITEM, "f1\tSIS import\tready\teducationRostering\t"
                        "#microsoft.graph.industryData.inboundFileFlow\n"),
    ("stats", {"runId": "r1", "status": "failed"}, "r1\tfailed\n"),
])
def test_one_item_of_each_kind_in_the_machine_formats(kind, item, tsv) -> None:
    assert rendered("tsv", lambda r: r.one(item, kind=kind)) == tsv
    assert rendered("id", lambda r: r.one(item, kind=kind)) == tsv.split("\t")[0] + "\n"
    assert json.loads(rendered("json", lambda r: r.one(item, kind=kind))) == item
    assert rendered("ndjson", lambda r: r.one(item, kind=kind)) == json.dumps(
        item, separators=(",", ":")) + "\n"
    assert rendered("none", lambda r: r.one(item, kind=kind)) == ""


def test_activities_and_flows_as_tables_drop_the_graph_type_prefix() -> None:
    acts = rendered("table", lambda r: r.many([ACTIVITY, {**ACTIVITY, "id": "a2",
                                                           "status": None}], kind="activity"))
    assert [line.split() for line in acts.splitlines()] == [
        ["ID", "NAME", "STATUS"], ["a1", "Roster", "sync", "completedWithErrors"],
        ["a2", "Roster", "sync"]]
    flows = rendered("table", lambda r: r.one(FLOW_ITEM, kind="flow"))
    assert flows.splitlines()[1].split() == ["f1", "SIS", "import", "ready",
                                             "educationRostering", "inboundFileFlow"]
    assert rendered("table", lambda r: r.many([], kind="flow")) == ""
    assert rendered("table", lambda r: r.many([])) == ""


def test_many_counts_what_it_wrote_in_every_format() -> None:
    for fmt in ("json", "ndjson", "tsv", "id", "table", "none"):
        out = io.StringIO()
        count = Renderer(fmt, out, now=NOW, tty=False, env=NO_COLOR).many(iter([RUN, RUN, RUN]))
        assert count == 3, fmt
    assert rendered("none", lambda r: r.many([RUN])) == ""


def test_a_stats_table_lists_totals_roles_and_activities() -> None:
    stats = {"runId": "r1", "status": "completed",
             "inboundTotals": {"@odata.type": "x", "people": 10, "errors": 0,
                               "matchedPeopleByRole": [{"role": "student", "count": 8},
                                                       {"role": "teacher", "count": 2}],
                               "unmatchedPeopleByRole": [], "odd": [1, 2]},
             "activityStatistics": [{"activityId": "act-1", "status": "completed",
                                     "errors": 1, "warnings": 0, "people": {"total": 3}},
                                    "not a mapping"]}
    rows = [line.split() for line in rendered("table", lambda r: r.one(stats, kind="stats"))
            .splitlines()]
    assert rows == [["Run", "r1"], ["Status", "completed"], ["people", "10"], ["errors", "0"],
                    ["matchedPeopleByRole", "student", "8,", "teacher", "2"],
                    ["unmatchedPeopleByRole", "-"], ["odd", "[1,2]"],
                    ["Activity", "act-1", "status=completed", "errors=1", "warnings=0"]]


def test_a_run_table_shows_the_blocking_error_with_its_target_and_an_empty_end() -> None:
    run = {**RUN, "endDateTime": None, "status": "failed",
           "blockingError": {"code": "E42", "message": "file missing", "target": "people.csv"}}
    rows = {line.split()[0]: line.split(None, 1)[1].strip() if len(line.split()) > 1 else ""
            for line in rendered("table", lambda r: r.one(run)).splitlines()}
    assert rows["Ended"] == "-"
    assert rows["Blocking"] == "error  E42: file missing (target: people.csv)"
    assert "Duration" not in rows  # no end and not running: no duration
    only_code = {**run, "blockingError": {"code": "E1"}}
    assert "E1" in rendered("table", lambda r: r.one(only_code))


def test_a_running_run_on_a_terminal_has_a_duration_so_far_and_odd_times_are_shown_as_text() -> None:
    run = {"id": "r", "displayName": "n", "status": "running", "startDateTime": "2026-11-29T11:59:58Z"}
    text = rendered("table", lambda r: r.one(run), tty=True)
    assert "just now (2026-11-29 11:59:58Z)" in text and "2s so far" in text
    odd = {"id": "r", "status": "weird", "startDateTime": "yesterday-ish"}
    rows = rendered("table", lambda r: r.one(odd)).splitlines()
    assert rows[3].split() == ["Started", "yesterday-ish"]
    assert rows[2].split() == ["Status", "weird"]


def test_statuses_have_colours_and_unknown_ones_magenta() -> None:
    env = {"TERM": "xterm-256color", "FORCE_COLOR": "1", "COLUMNS": "160"}
    green = rendered("table", lambda r: r.one({**RUN, "status": "completed"}), env=env)
    red = rendered("table", lambda r: r.one({**RUN, "status": "failed"}), env=env)
    odd = rendered("table", lambda r: r.one({**RUN, "status": "paused"}), env=env)
    assert "\x1b[1;32mcompleted" in green and "\x1b[1;31mfailed" in red
    assert "\x1b[1;35mpaused" in odd


def test_force_color_colours_a_pipe_and_term_dumb_never() -> None:
    forced = rendered("table", lambda r: r.one(RUN), tty=False,
                      env={"TERM": "xterm-256color", "FORCE_COLOR": "1"})
    assert "\x1b[" in forced
    dumb = rendered("table", lambda r: r.one(RUN), tty=True, env={"TERM": "dumb"})
    assert "\x1b[" not in dumb
    both = rendered("table", lambda r: r.one(RUN), tty=False,
                    env={"TERM": "xterm", "FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "\x1b[" not in both


def test_pairs_as_lines_json_and_the_other_formats() -> None:
    data = {"mode": "token", "roles": ["a", "b"], "tenant": None, "evil": "x\x1b[2Jy"}
    lines = rendered("table", lambda r: r.pairs(data)).splitlines()
    assert lines == ["mode    token", "roles   a, b", "tenant  -", "evil    x\\x1b[2Jy"]
    noted = rendered("tsv", lambda r: r.pairs({"a": "1", "b": None}, sep="=", missing="(unset)",
                                              notes={"a": "env A"}, lines_for_all=True))
    assert noted == "a=1\t# env A\nb=(unset)\n"
    assert json.loads(rendered("json", lambda r: r.pairs(data))) == data
    assert rendered("ndjson", lambda r: r.pairs(data)).count("\n") == 1
    assert rendered("tsv", lambda r: r.pairs({"mode": "token", "source": "env", "tenant": "t",
                                              "identity": "i", "expires": None})) == \
        "token\tenv\tt\ti\t\n"
    assert rendered("table", lambda r: r.pairs({})) == ""


def test_a_request_in_each_format() -> None:
    text = rendered("table", lambda r: r.request(REQUEST))
    assert text.splitlines()[:3] == ["POST https://graph.example/beta/runs\\x1b[2J",
                                     "Content-Type: application/json",
                                     "Authorization: Bearer <redacted>"]
    assert text.endswith('\n\n{\n  "displayName": "x"\n}\n')
    assert rendered("id", lambda r: r.request(REQUEST)) == "https://graph.example/beta/runs\\x1b[2J\n"
    assert json.loads(rendered("json", lambda r: r.request(REQUEST))) == REQUEST
    assert "\n" not in rendered("ndjson", lambda r: r.request(REQUEST)).rstrip("\n")
    assert rendered("none", lambda r: r.request(REQUEST)) == ""


def test_documents_and_text() -> None:
    assert rendered("json", lambda r: r.document({"a": [1]})) == '{\n  "a": [\n    1\n  ]\n}\n'
    assert rendered("ndjson", lambda r: r.document({"a": [1]})) == '{"a":[1]}\n'
    assert rendered("none", lambda r: r.document({"a": 1})) == ""
    assert rendered("table", lambda r: r.text("hello\n\n")) == "hello\n"


def test_human_times_edge_cases() -> None:
    from rundctl.render import parse_time, run_duration, utc_text

    assert relative_time(datetime(2026, 11, 29, 11, 59, 57, tzinfo=UTC), NOW) == "just now"
    assert parse_time("2026-11-29T10:00:00") == datetime(2026, 11, 29, 10, tzinfo=UTC)
    assert parse_time("not a time") is None and parse_time(42) is None
    assert run_duration({"startDateTime": None}, NOW) == ""
    assert utc_text("garbage") == "garbage" and utc_text(5) == 5
    assert tsv_line({"id": "r", "startDateTime": "nope+01:00"}).split("\t")[3] == "nope+01:00"
    assert tsv_line({"id": 7, "displayName": {"a": 1}}).split("\t")[:2] == ["7", '{"a":1}']
