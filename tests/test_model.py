"""The run payload (docs/commands.md): rundctl.model."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest

from rundctl.errors import InvalidInput, Problem
from rundctl.model import (
    FINAL_STATUSES,
    RUN_ODATA_TYPE,
    RUN_STATUSES,
    Overrides,
    apply_overrides,
    build_create_payload,
    build_patch_payload,
    format_utc,
    merge_patch,
    normalize_run,
    normalize_status,
    parse_stat_assignment,
    parse_timestamp,
    validate_patch,
    validate_run,
)

NOW = datetime(2026, 11, 1, 12, 30, 45, 123456, tzinfo=UTC)
NOW_TEXT = "2026-11-01T12:30:45.123456Z"


def good_run(**changes: object) -> dict[str, object]:
    run: dict[str, object] = {
        "displayName": "nightly sync",
        "startDateTime": "2026-11-01T10:00:00Z",
        "status": "running",
        "statistics": {"inbound": {"people": 3}},
    }
    run.update(changes)
    return run


def without(key: str) -> dict[str, object]:
    run = good_run()
    del run[key]
    return run


def assert_problems(problems: Sequence[Problem], expected: list[tuple[str, str]]) -> None:
    """Exact paths, in order; each message contains its expected fragment."""
    got = [(p.path, p.message) for p in problems]
    assert [p for p, _ in got] == [p for p, _ in expected], got
    for (_, message), (_, fragment) in zip(got, expected, strict=True):
        assert fragment in message, (message, fragment)


# --------------------------------------------------------------------------- status


def test_status_constants() -> None:
    assert FINAL_STATUSES == set(RUN_STATUSES) - {"running"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("running", "running"),
        ("COMPLETED", "completed"),
        ("completedwitherrors", "completedWithErrors"),
        ("CompletedWithWarnings", "completedWithWarnings"),
        ("Failed", "failed"),
        ("complete", None),
        ("unknownFutureValue", None),
        ("", None),
        (" running", None),
    ],
)
def test_normalize_status(value: str, expected: str | None) -> None:
    assert normalize_status(value) == expected


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-01T10:00:00Z", "2026-11-01T10:00:00Z"),
        ("2026-11-01T10:00:00+05:30", "2026-11-01T04:30:00Z"),
        ("2026-11-01T22:15:00-03:00", "2026-11-02T01:15:00Z"),
        ("2026-11-01T00:00:00.1234567+05:30", "2026-10-31T18:30:00.1234567Z"),
        ("2026-12-31T23:59:59.9999999-00:30", "2027-01-01T00:29:59.9999999Z"),
        ("2026-11-01T10:00:00.123Z", "2026-11-01T10:00:00.123Z"),
        ("2026-11-01T10:00:00.123456+01:00", "2026-11-01T09:00:00.123456Z"),
        ("2026-11-01T10:00:00.500Z", "2026-11-01T10:00:00.500Z"),  # digits kept as given
        ("2026-11-01t10:00:00z", "2026-11-01T10:00:00Z"),
        ("2026-11-01T10:00:00-00:00", "2026-11-01T10:00:00Z"),
        ("2028-02-29T00:00:00Z", "2028-02-29T00:00:00Z"),
        ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"),
        ("0001-01-01T00:30:00-01:00", "0001-01-01T01:30:00Z"),
    ],
)
def test_parse_timestamp_converts_to_utc(value: str, expected: str) -> None:
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2026-11-01T10:00:00", "has no UTC offset; add Z or ±hh:mm (RFC 3339)"),
        ("2026-11-01T10:00:00.5", "has no UTC offset"),
        ("2026-11-01", "is a date without a time"),
        ("2026-W48-1", "is an ISO 8601 week date"),
        ("2026W481", "is an ISO 8601 week date"),
        ("2026-305", "is an ISO 8601 ordinal date"),
        ("2026-305T10:00:00Z", "is an ISO 8601 ordinal date"),
        ("20261101T100000Z", "is in ISO 8601 basic format"),
        ("20261101", "is in ISO 8601 basic format"),
        ("2026-11-01T10:00:00+05", "has offset '+05'; write it as ±hh:mm, e.g. '+05:00'"),
        ("2026-11-01T10:00:00+0530", "e.g. '+05:30'"),
        ("2026-11-01T10:00:00+24:00", "offset '+24:00', which is out of range"),
        ("2026-11-01T10:00:00.12345678Z", "has 8 fractional digits; at most 7"),
        ("2026-11-01T24:00:00Z", "hour 24 is not allowed"),
        ("2026-02-30T10:00:00Z", "is not a valid calendar date"),
        ("2027-02-29T10:00:00Z", "is not a valid calendar date"),
        ("2026-13-01T10:00:00Z", "month 13 is out of range"),
        ("2026-12-31T23:59:60Z", "leap seconds (:60) are not supported"),
        ("2026-11-01T10:61:00Z", "is not a valid time of day"),
        ("2026-11-01 10:00:00Z", "separates date and time with a space; use 'T'"),
        ("0000-01-01T00:00:00Z", "year 0000 is out of range"),
        ("0001-01-01T00:30:00+01:00", "out of range after conversion to UTC"),
        ("9999-12-31T23:30:00-01:00", "out of range after conversion to UTC"),
        ("2026-11-01T10:00Z", "is not an RFC 3339 timestamp"),
        ("2026-11-01T10:00:00.Z", "is not an RFC 3339 timestamp"),
        (" 2026-11-01T10:00:00Z", "is not an RFC 3339 timestamp"),
        ("2026-11-01T10:00:00Z\n", "is not an RFC 3339 timestamp"),
        ("２０２６-11-01T10:00:00Z", "is not an RFC 3339 timestamp"),  # full-width digits
        ("now", "'now' is accepted only on flags"),
        (1730455200, "expected a string (RFC 3339 timestamp"),
        (None, "got null"),
    ],
)
def test_parse_timestamp_rejects(value: object, fragment: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_timestamp(value)
    assert fragment in str(exc.value)


@pytest.mark.parametrize("word", ["now", "NOW", "Now"])
def test_now_on_flags(word: str) -> None:
    assert parse_timestamp(word, allow_now=True, now=NOW) == NOW_TEXT


def test_now_uses_utc_of_an_aware_clock() -> None:
    clock = datetime(2026, 11, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert parse_timestamp("now", allow_now=True, now=clock) == "2026-11-01T12:00:00Z"


def test_now_needs_a_clock() -> None:
    with pytest.raises(TypeError):
        parse_timestamp("now", allow_now=True)


@pytest.mark.parametrize(
    ("dt", "expected"),
    [
        (datetime(2026, 11, 1, 10, 0, tzinfo=UTC), "2026-11-01T10:00:00Z"),
        (datetime(2026, 11, 1, 10, 0, 0, 1, tzinfo=UTC), "2026-11-01T10:00:00.000001Z"),
        (datetime(5, 1, 2, 3, 4, 5, tzinfo=UTC), "0005-01-02T03:04:05Z"),
        (
            datetime(2026, 11, 1, 10, 0, tzinfo=timezone(timedelta(hours=-5))),
            "2026-11-01T15:00:00Z",
        ),
    ],
)
def test_format_utc(dt: datetime, expected: str) -> None:
    assert format_utc(dt) == expected


def test_format_utc_rejects_naive() -> None:
    with pytest.raises(ValueError, match="aware"):
        format_utc(datetime(2026, 11, 1))


# --------------------------------------------------------------------------- --stat


@pytest.mark.parametrize(
    ("text", "keys", "value"),
    [
        ("people=3", ["people"], 3),
        ("inbound.people=3", ["inbound", "people"], 3),
        ("ratio=0.5", ["ratio"], 0.5),
        ("ok=true", ["ok"], True),
        ("gone=null", ["gone"], None),
        ('list=[1, "a"]', ["list"], [1, "a"]),
        ('obj={"a": 1}', ["obj"], {"a": 1}),
        ("note=hello world", ["note"], "hello world"),
        ("eq=a=b", ["eq"], "a=b"),
        ("empty=", ["empty"], ""),
        ("n=NaN", ["n"], "NaN"),  # not strict JSON: kept as text
        ("n=1e400", ["n"], "1e400"),
        ('dup={"a": 1, "a": 2}', ["dup"], '{"a": 1, "a": 2}'),
        ('quoted="3"', ["quoted"], "3"),
    ],
)
def test_parse_stat_assignment(text: str, keys: list[str], value: object) -> None:
    assert parse_stat_assignment(text) == (keys, value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("people", "expected KEY=VALUE, got 'people'"),
        ("=3", "the key is empty"),
        ("a..b=3", "key 'a..b' has an empty segment"),
        (".a=3", "has an empty segment"),
        ("a.=3", "has an empty segment"),
    ],
)
def test_parse_stat_assignment_rejects(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment.replace(".", r"\.")):
        parse_stat_assignment(text)


# --------------------------------------------------------------------------- validate_run


def test_overrides_is_empty() -> None:
    assert Overrides().is_empty()
    assert not Overrides(stats=["a=1"]).is_empty()
    assert not Overrides(error_target="x").is_empty()
    assert not Overrides(statistics={}).is_empty()


@pytest.mark.parametrize(
    "record",
    [
        good_run(),
        good_run(status="COMPLETED", endDateTime="2026-11-01T10:00:00Z"),  # end == start
        good_run(status="failed", endDateTime="2026-11-01T15:30:00+05:30"),  # == start in UTC
        good_run(endDateTime=None),
        good_run(blockingError=None),
        good_run(
            status="failed",
            blockingError={
                "code": "E1",
                "message": "boom",
                "target": None,
                "details": [{"code": "d", "message": "m", "target": "t"}],
                "innerError": {"code": "i", "details": [], "@odata.type": "#x.innerError"},
                "@odata.type": "#microsoft.industryData.publicError",
            },
        ),
        good_run(**{"@odata.type": "#microsoft.industryData.run", "status@odata.type": "x"}),
        good_run(**{"@odata.id": "runs/1"}),
        good_run(statistics={}),
        good_run(statistics={"anything": [1, {"deep": None}], "": "ok"}),
        good_run(startDateTime="2026-11-01T10:00:00.1234567+01:00"),
    ],
)
def test_validate_run_accepts(record: dict[str, object]) -> None:
    assert validate_run(record) == []


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ([good_run()], [("", "expected a JSON object, got array")]),
        ("run", [("", "expected a JSON object, got string")]),
        (without("displayName"), [("displayName", "required field is missing")]),
        (without("startDateTime"), [("startDateTime", "required field is missing")]),
        (without("status"), [("status", "required field is missing")]),
        (without("statistics"), [("statistics", "required field is missing")]),
        (good_run(displayName=""), [("displayName", "must not be empty or blank")]),
        (good_run(displayName=" \t"), [("displayName", "must not be empty or blank")]),
        (good_run(displayName=7), [("displayName", "expected a string, got number")]),
        (good_run(displayName=None), [("displayName", "expected a string, got null")]),
        (good_run(startDateTime="2026-11-01T10:00:00"), [("startDateTime", "no UTC offset")]),
        (good_run(startDateTime="now"), [("startDateTime", "accepted only on flags")]),
        (good_run(startDateTime=None), [("startDateTime", "got null")]),
        (
            good_run(status="failed", endDateTime="2026-11-01"),
            [("endDateTime", "date without a time")],
        ),
        (
            good_run(endDateTime="2026-11-01"),  # both are true: the fix is to drop it
            [
                ("endDateTime", "date without a time"),
                ("endDateTime", "must be null while status is 'running'"),
            ],
        ),
        (
            good_run(status="complete"),
            [
                (
                    "status",
                    "'complete' is not one of running, failed, completed, completedWithErrors, "
                    "completedWithWarnings (did you mean 'completed'?)",
                )
            ],
        ),
        (good_run(status="runing"), [("status", "(did you mean 'running'?)")]),
        (good_run(status="unknownFutureValue"), [("status", "is a reserved sentinel")]),
        (good_run(status="UNKNOWNFUTUREVALUE"), [("status", "is a reserved sentinel")]),
        (good_run(status=3), [("status", "expected a string, got number")]),
        (good_run(status="xyzzy"), [("status", "'xyzzy' is not one of running")]),
        (
            good_run(endDateTime="2026-11-01T11:00:00Z"),
            [("endDateTime", "must be null while status is 'running'")],
        ),
        (
            good_run(status="completed", endDateTime="2026-11-01T09:59:59.9999999Z"),
            [("endDateTime", "2026-11-01T09:59:59.9999999Z is before startDateTime")],
        ),
        (
            good_run(
                status="completed",
                startDateTime="2026-11-01T10:00:00.0000001Z",
                endDateTime="2026-11-01T10:00:00Z",
            ),
            [("endDateTime", "is before startDateTime 2026-11-01T10:00:00.0000001Z")],
        ),
        (
            good_run(status="completed", endDateTime="2026-11-01T10:00:00+00:01"),
            [("endDateTime", "2026-11-01T09:59:00Z is before")],
        ),
        (good_run(statistics=[1]), [("statistics", "expected a JSON object, got array")]),
        (good_run(statistics=None), [("statistics", "expected a JSON object, got null")]),
        (good_run(blockingError="boom"), [("blockingError", "expected an object, got string")]),
        (
            good_run(blockingError={"cod": "E1"}),
            [("blockingError.cod", "unknown field 'cod' (did you mean 'code'?)")],
        ),
        (
            good_run(blockingError={"code": 1, "message": ["x"]}),
            [
                ("blockingError.code", "expected a string, got number"),
                ("blockingError.message", "expected a string, got array"),
            ],
        ),
        (
            good_run(blockingError={"details": [{"code": "a"}, {"code": 2}, "x"]}),
            [
                ("blockingError.details[1].code", "expected a string, got number"),
                ("blockingError.details[2]", "expected an object, got string"),
            ],
        ),
        (
            good_run(blockingError={"details": {"code": "a"}}),
            [("blockingError.details", "expected an array, got object")],
        ),
        (
            good_run(blockingError={"details": [{"innerError": {}}]}),
            [("blockingError.details[0].innerError", "unknown field 'innerError'")],
        ),
        (
            good_run(blockingError={"innerError": {"code": 5, "date": "2026-12-01T08:02:31"}}),
            [("blockingError.innerError.code", "expected a string, got number")],
        ),
        (
            good_run(blockingError={"innerError": {"details": [{"target": False}]}}),
            [("blockingError.innerError.details[0].target", "expected a string, got boolean")],
        ),
        (
            good_run(blockingError={"innerError": "x"}),
            [("blockingError.innerError", "expected an object, got string")],
        ),
        (
            good_run(blockingError={"zzz": 1}),
            [("blockingError.zzz", "unknown field 'zzz' (known fields: code, message")],
        ),
        (
            good_run(dispalyName="x"),
            [("dispalyName", "unknown field 'dispalyName' (did you mean 'displayName'?)")],
        ),
        (good_run(StartDateTime="x"), [("StartDateTime", "(did you mean 'startDateTime'?)")]),
        (good_run(foo=1), [("foo", "unknown field 'foo' (known fields: displayName, ")]),
        (
            good_run(id="5a1f0b52-0000-0000-0000-000000000000"),
            [("id", "'id' is assigned by the service; remove it from the input")],
        ),
        (
            good_run(**{"@odata.context": "x"}),
            [("@odata.context", "assigned by the service; remove it from the input")],
        ),
        (good_run(**{"@odata.etag": "W/1"}), [("@odata.etag", "assigned by the service")]),
        (good_run(**{"@odata.type": 5}), [("@odata.type", "expected a string, got number")]),
        (
            good_run(blockingError={"@odata.type": None}),
            [("blockingError.@odata.type", "expected a string, got null")],
        ),
    ],
)
def test_validate_run_rejects(record: object, expected: list[tuple[str, str]]) -> None:
    assert_problems(validate_run(record), expected)


def test_validate_run_reports_every_problem_with_its_line() -> None:
    record = {
        "dispalyName": "nightly",
        "startDateTime": "2026-11-01T10:00:00",
        "status": "complete",
        "statistics": {},
    }
    problems = validate_run(record, line=3)
    assert_problems(
        problems,
        [
            ("displayName", "required field is missing"),
            ("startDateTime", "has no UTC offset"),
            ("status", "(did you mean 'completed'?)"),
            ("dispalyName", "(did you mean 'displayName'?)"),
        ],
    )
    assert {p.line for p in problems} == {3}
    assert str(problems[2]).startswith("line 3: status: 'complete' is not one of running, ")


# --------------------------------------------------------------------------- normalize_run


def test_normalize_run_wire_form() -> None:
    record: dict[str, object] = {
        "statistics": {"a": 1},
        "x@odata.type": "#y",
        "status": "COMPLETEDWITHWARNINGS",
        "endDateTime": "2026-11-01T12:00:00.1234567+02:00",
        "startDateTime": "2026-11-01t09:00:00+02:00",
        "displayName": "n",
    }
    assert validate_run(record) == []
    out = normalize_run(record)
    assert list(out.items()) == [
        ("@odata.type", RUN_ODATA_TYPE),
        ("displayName", "n"),
        ("startDateTime", "2026-11-01T07:00:00Z"),
        ("endDateTime", "2026-11-01T10:00:00.1234567Z"),
        ("status", "completedWithWarnings"),
        ("statistics", {"a": 1}),
        ("x@odata.type", "#y"),
    ]


def test_normalize_run_keeps_given_odata_type_null_end_and_blocking_error() -> None:
    record = good_run(
        **{"@odata.type": "#microsoft.graph.industryData.run"},
        endDateTime=None,
        blockingError=None,
    )
    out = normalize_run(record)
    assert out["@odata.type"] == "#microsoft.graph.industryData.run"
    assert next(iter(out)) == "@odata.type"
    assert "endDateTime" in out and out["endDateTime"] is None
    assert "blockingError" in out and out["blockingError"] is None
    assert "endDateTime" not in normalize_run(good_run())


# --------------------------------------------------------------------------- apply_overrides


def test_flags_override_record_fields() -> None:
    record = good_run(blockingError={"code": "old", "message": "keep"})
    before = copy.deepcopy(record)
    merged, problems = apply_overrides(
        record,
        Overrides(
            display_name="renamed",
            start="2026-11-01T11:00:00+01:00",
            end="now",
            status="Completed",
            stats=["inbound.people=5", "inbound.groups=2", "outbound.n=1"],
            error_code="E2",
            error_target="people.csv",
        ),
        now=NOW,
    )
    assert problems == []
    assert record == before  # not modified
    assert merged == {
        "displayName": "renamed",
        "startDateTime": "2026-11-01T10:00:00Z",
        "endDateTime": NOW_TEXT,
        "status": "completed",
        "statistics": {"inbound": {"people": 5, "groups": 2}, "outbound": {"n": 1}},
        "blockingError": {"code": "E2", "message": "keep", "target": "people.csv"},
    }


def test_statistics_flag_replaces_and_stat_sets_keys_inside() -> None:
    given = {"x": {"y": 1}}
    merged, problems = apply_overrides(good_run(), Overrides(statistics=given, stats=["x.z=2"]), now=NOW)
    assert problems == []
    assert merged["statistics"] == {"x": {"y": 1, "z": 2}}
    assert given == {"x": {"y": 1}}  # shared by every record of a bulk run: never modified


def test_flags_alone_without_a_record() -> None:
    merged, problems = apply_overrides(
        None, Overrides(stats=["a.b.c=1"], blocking_error={"code": "X"}, error_message="m"), now=NOW
    )
    assert problems == []
    assert merged == {
        "statistics": {"a": {"b": {"c": 1}}},
        "blockingError": {"code": "X", "message": "m"},
    }


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (Overrides(start="2026-11-01T10:00:00"), [("startDateTime", "--start: ")]),
        (Overrides(end="yesterday"), [("endDateTime", "--end: 'yesterday' is not an RFC 3339")]),
        (Overrides(status="done"), [("status", "--status: 'done' is not one of running")]),
        (Overrides(status="unknownfuturevalue"), [("status", "--status: ")]),
        (Overrides(stats=["people"]), [("statistics", "--stat: expected KEY=VALUE")]),
        (
            Overrides(stats=["inbound.people.x=1"]),
            [("statistics.inbound.people", "cannot set a key inside number")],
        ),
        (Overrides(statistics=[1]), [("statistics", "--statistics: expected a JSON object")]),
        (
            Overrides(blocking_error="boom"),
            [("blockingError", "--blocking-error: expected a JSON object, got string")],
        ),
    ],
)
def test_bad_flag_values_are_problems_naming_the_flag(
    overrides: Overrides, expected: list[tuple[str, str]]
) -> None:
    _, problems = apply_overrides(good_run(), overrides, now=NOW)
    assert_problems(problems, expected)


def test_stat_into_a_record_whose_statistics_is_not_an_object() -> None:
    _, problems = apply_overrides(good_run(statistics=[]), Overrides(stats=["a=1"]), now=NOW)
    assert_problems(problems, [("statistics", "--stat: cannot set keys in array")])


# --------------------------------------------------------------------------- build_create_payload


def test_build_create_payload_from_flags_only() -> None:
    payload = build_create_payload(
        None,
        Overrides(display_name="ci job", start="now", status="RUNNING", stats=["jobs=1"]),
        now=NOW,
    )
    assert payload == {
        "@odata.type": RUN_ODATA_TYPE,
        "displayName": "ci job",
        "startDateTime": NOW_TEXT,
        "status": "running",
        "statistics": {"jobs": 1},
    }


def test_build_create_payload_reports_flag_and_record_problems_together() -> None:
    record = good_run(startDateTime="garbage", displayName="", extra=1)
    with pytest.raises(InvalidInput) as exc:
        build_create_payload(record, Overrides(start="soon", end="now"), now=NOW, line=9)
    problems = exc.value.problems
    assert_problems(
        problems,
        [
            ("startDateTime", "--start: 'soon'"),
            ("displayName", "must not be empty"),
            ("extra", "unknown field 'extra'"),
            ("endDateTime", "must be null while status is 'running'"),
        ],
    )
    assert [p.line for p in problems] == [None, 9, 9, 9]
    assert exc.value.message == "invalid input: 4 problems"


def test_build_create_payload_rejects_non_objects() -> None:
    with pytest.raises(InvalidInput) as exc:
        build_create_payload([1], Overrides(status="nope"), now=NOW, line=2)
    assert_problems(
        exc.value.problems,
        [("", "expected a JSON object, got array"), ("status", "--status: 'nope'")],
    )
    assert exc.value.problems[0].line == 2


def test_build_create_payload_flag_fixes_a_record() -> None:
    record = good_run(status="complete", endDateTime="2026-11-01T12:00:00Z")
    payload = build_create_payload(record, Overrides(status="failed"), now=NOW)
    assert payload["status"] == "failed"
    assert payload["endDateTime"] == "2026-11-01T12:00:00Z"


# --------------------------------------------------------------------------- update (PATCH)

STORED: dict[str, object] = {
    "id": "5a1f0b52-0000-0000-0000-000000000000",
    "displayName": "nightly",
    "startDateTime": "2026-11-01T10:00:00Z",
    "endDateTime": None,
    "status": "running",
    "statistics": {"inbound": {"people": 3}, "note": "x"},
}


def test_patch_finish_a_run() -> None:
    patch = build_patch_payload(Overrides(status="COMPLETED", end="now"), STORED, now=NOW)
    assert patch == {"endDateTime": NOW_TEXT, "status": "completed"}


def test_patch_stat_alone_builds_on_stored_statistics() -> None:
    stored = copy.deepcopy(STORED)
    patch = build_patch_payload(Overrides(stats=["inbound.groups=4"]), stored, now=NOW)
    assert patch == {"statistics": {"inbound": {"people": 3, "groups": 4}, "note": "x"}}
    assert stored == STORED


def test_patch_statistics_flag_replaces_and_error_flags_build_a_blocking_error() -> None:
    patch = build_patch_payload(
        Overrides(statistics={"a": 1}, stats=["b=2"], error_code="E", status="failed"),
        STORED,
        now=NOW,
    )
    assert patch == {"status": "failed", "blockingError": {"code": "E"}, "statistics": {"a": 1, "b": 2}}


def test_patch_without_stored_run() -> None:
    assert build_patch_payload(Overrides(stats=["a=1"]), None, now=NOW) == {"statistics": {"a": 1}}


@pytest.mark.parametrize(
    ("overrides", "stored", "expected"),
    [
        (Overrides(), STORED, [("", "nothing to update: give --status, --end")]),
        (
            Overrides(end="now"),
            STORED,
            [("endDateTime", "must be null while status is 'running' (the run's status is")],
        ),
        (
            Overrides(status="running"),
            {**STORED, "status": "completed", "endDateTime": "2026-11-01T11:00:00Z"},
            [("endDateTime", "(the run already has endDateTime 2026-11-01T11:00:00Z)")],
        ),
        (
            Overrides(status="completed", end="2026-11-01T09:00:00Z"),
            STORED,
            [("endDateTime", "2026-11-01T09:00:00Z is before startDateTime 2026-11-01T10:00:00Z")],
        ),
        (
            Overrides(start="2026-11-01T13:00:00Z"),
            {**STORED, "status": "completed", "endDateTime": "2026-11-01T12:00:00Z"},
            [("endDateTime", "is before startDateTime 2026-11-01T13:00:00Z")],
        ),
        (
            Overrides(status="running", end="now"),
            None,
            [("endDateTime", "must be null while status is 'running'")],
        ),
        (
            Overrides(status="finished", end="2026-11-01", display_name=" "),
            STORED,
            [
                ("endDateTime", "--end: '2026-11-01' is a date without a time"),
                ("status", "--status: 'finished' is not one of"),
                ("displayName", "must not be empty or blank"),
            ],
        ),
    ],
)
def test_patch_problems(
    overrides: Overrides, stored: dict[str, object] | None, expected: list[tuple[str, str]]
) -> None:
    with pytest.raises(InvalidInput) as exc:
        build_patch_payload(overrides, stored, now=NOW)
    assert_problems(exc.value.problems, expected)


def test_patch_of_statistics_does_not_blame_an_inconsistent_stored_run() -> None:
    stored = {**STORED, "endDateTime": "2026-11-01T11:00:00Z"}  # running with an end: not ours
    assert build_patch_payload(Overrides(stats=["a=1"]), stored, now=NOW)["statistics"]


@pytest.mark.parametrize(
    ("patch", "stored", "expected"),
    [
        ({"status": "completed", "endDateTime": "2026-11-01T12:00:00+01:00"}, STORED, []),
        ({"endDateTime": None, "blockingError": None, "@odata.type": "#x"}, STORED, []),
        ({}, STORED, []),
        ([], None, [("", "expected a JSON object, got array")]),
        (
            {"displayName": None, "startDateTime": None, "status": None, "statistics": None},
            None,
            [
                ("displayName", "must not be null"),
                ("startDateTime", "must not be null"),
                ("status", "must not be null"),
                ("statistics", "must not be null"),
            ],
        ),
        ({"id": "x"}, None, [("id", "assigned by the service")]),
        ({"stauts": "failed"}, None, [("stauts", "(did you mean 'status'?)")]),
        ({"status": "Failed", "statistics": 3}, None, [("statistics", "expected a JSON object")]),
        ({"endDateTime": "2026-11-01T12:00:00Z"}, STORED, [("endDateTime", "while status is")]),
        (
            {"status": "completed", "endDateTime": "2026-11-01T09:00:00Z"},
            STORED,
            [("endDateTime", "is before startDateTime")],
        ),
        (
            {"status": "completed", "endDateTime": "2026-11-01T09:00:00Z"},
            None,
            [],  # nothing to compare with
        ),
    ],
)
def test_validate_patch(
    patch: object, stored: dict[str, object] | None, expected: list[tuple[str, str]]
) -> None:
    assert_problems(validate_patch(patch, stored), expected)


def test_merge_patch_normalises_the_patch() -> None:
    merged = merge_patch(STORED, {"status": "COMPLETED", "endDateTime": "2026-11-01T12:00:00.5+01:00"})
    assert merged == {**STORED, "status": "completed", "endDateTime": "2026-11-01T11:00:00.5Z"}
    assert STORED["status"] == "running"


def test_inner_error_is_an_open_type_extra_properties_pass_through() -> None:
    """publicInnerError is OpenType="true" in Microsoft's metadata."""
    from rundctl.model import Overrides, build_create_payload, validate_run

    extra = {"code": "x", "date": "2026-12-01T08:02:31", "request-id": "r1",
             "nested": {"any": [1, {"deep": True}]}, "count": 3}
    run = good_run(blockingError={"code": "E", "innerError": extra})
    assert validate_run(run) == []
    payload = build_create_payload(run, Overrides(), now=NOW)
    assert payload["blockingError"]["innerError"] == extra
    from rundctl.schema import run_schema

    assert run_schema()["$defs"]["innerError"]["additionalProperties"] is True
