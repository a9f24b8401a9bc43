"""Strict JSON reading (docs/commands.md, "JSON input is strict"): rundctl.jsonio."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from rundctl.errors import ExitCode, InvalidInput
from rundctl.jsonio import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    decode_utf8,
    iter_records,
    json_path,
    loads_strict,
    parse_json_arg,
    read_document,
)


def problems_of(exc: pytest.ExceptionInfo[InvalidInput]) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in exc.value.problems]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# --------------------------------------------------------------------------- loads_strict


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1, "b": [true, null, "x"]}', {"a": 1, "b": [True, None, "x"]}),
        ("9" * 60, int("9" * 60)),  # big integers are fine
        ("-0.5e-3", -0.0005),
        ("1e-400", 0.0),  # underflow is finite: fine
        ('"\\ud83d\\ude00"', "\U0001f600"),  # a surrogate PAIR is one character
        (" \r\n\t{}\n", {}),
        (nested(MAX_DEPTH), json.loads(nested(MAX_DEPTH))),
        ('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', {"a": "[" * 42}),
    ],
)
def test_loads_strict_accepts(text: str, expected: object) -> None:
    assert loads_strict(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"status": "a", "status": "b"}', [("status", "duplicate key 'status'")]),
        (
            '{"blockingError": {"details": [{}, {"code": "x", "code": "y"}]}}',
            [("blockingError.details[1].code", "duplicate key 'code'")],
        ),
        ('{"a": NaN}', [("a", "NaN is not valid JSON; use null or a string")]),
        ("[Infinity]", [("[0]", "Infinity is not valid JSON; use null or a string")]),
        ('{"x": -Infinity}', [("x", "-Infinity is not valid JSON; use null or a string")]),
        ('{"big": 1e400}', [("big", "number 1e400 is out of range")]),
        ('{"neg": -1E+400}', [("neg", "number -1E+400 is out of range")]),
        ('{"s": "\\udc00"}', [("s", "string contains a lone UTF-16 surrogate")]),
        (
            '{"a": 1, "a": 2, "b": NaN, "c": 1e999}',
            [
                ("a", "duplicate key 'a'"),
                ("b", "NaN is not valid JSON"),
                ("c", "number 1e999 is out of range"),
            ],
        ),
    ],
)
def test_loads_strict_rejects_with_paths(text: str, expected: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidInput) as exc:
        loads_strict(text)
    got = problems_of(exc)
    assert [p for p, _ in got] == [p for p, _ in expected]
    for (_, message), (_, fragment) in zip(got, expected, strict=True):
        assert fragment in message
    assert exc.value.exit_code == ExitCode.INVALID_INPUT


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"a": 1} x', "line 1 column 10: unexpected text after the end of the JSON document"),
        ('{"a": 1}{"b": 2}', "line 1 column 9: unexpected text after the end"),
        ('{\n  "a": 1,\n}', "line 3 column 1: "),
        ("{'a': 1}", "line 1 column 2: Expecting property name"),
        ("[1, 2,]", "line 1 column 7:"),
        ("", "line 1 column 1: Expecting value"),
        ('"tab\there"', "Invalid control character"),
    ],
)
def test_loads_strict_syntax_errors_say_line_and_column(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        loads_strict(text)
    [problem] = exc.value.problems
    assert problem.path == ""
    assert fragment in problem.message


def test_syntax_error_on_an_ndjson_line_reports_that_line() -> None:
    with pytest.raises(InvalidInput) as exc:
        loads_strict('{"a": }', line=7)
    [problem] = exc.value.problems
    assert problem.line == 7
    assert problem.message.startswith("column 7: ")
    assert str(problem).startswith("line 7: column 7: Expecting value")


def test_depth_limit_is_32_levels() -> None:
    loads_strict(nested(32))
    loads_strict('{"a":' * 31 + "{}" + "}" * 31)
    with pytest.raises(InvalidInput) as exc:
        loads_strict(nested(33))
    assert problems_of(exc) == [("", "line 1 column 33: nesting is deeper than 32 levels")]
    with pytest.raises(InvalidInput, match="deeper than 32"):
        loads_strict('{"a":' * 32 + "{}" + "}" * 32)


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_100000_deep_nesting_is_a_clean_problem(opener: str) -> None:
    with pytest.raises(InvalidInput) as exc:  # not RecursionError
        loads_strict(opener * 100_000)
    assert "nesting is deeper than 32 levels" in exc.value.problems[0].message


def test_integer_too_long_for_python_is_a_problem_not_a_crash() -> None:
    with pytest.raises(InvalidInput, match="integer with 5000 digits is too long"):
        loads_strict('{"n": ' + "9" * 5000 + "}")


def test_loads_strict_decodes_bytes() -> None:
    assert loads_strict(b'\xef\xbb\xbf{"caf\xc3\xa9": 1}') == {"café": 1}


# --------------------------------------------------------------------------- decode_utf8


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ('{"a": 1}'.encode("utf-16-le"), "UTF-16"),
        ('{"a": 1}'.encode("utf-16-be"), "UTF-16"),
        ('{"a": 1}'.encode("utf-16"), "UTF-16"),  # with BOM
        (b"\xfe\xff" + '{"a": 1}'.encode("utf-16-be"), "UTF-16"),
        ('{"a": 1}'.encode("utf-32"), "UTF-32"),  # with BOM
        ('{"a": 1}'.encode("utf-32-le"), "UTF-32"),
        ('{"a": 1}'.encode("utf-32-be"), "UTF-32"),
        (b"\x00\x00\xfe\xff" + '{"a": 1}'.encode("utf-32-be"), "UTF-32"),
        ("7".encode("utf-16-le"), "UTF-16"),  # shortest possible document
    ],
)
def test_utf16_and_utf32_are_named_and_rejected(raw: bytes, name: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        decode_utf8(raw, source="runs.json")
    assert problems_of(exc) == [("", f"runs.json is {name}, not UTF-8: re-save as UTF-8")]


def test_one_utf8_bom_is_tolerated_but_not_two() -> None:
    assert decode_utf8(b'\xef\xbb\xbf{"a": 1}') == '{"a": 1}'
    with pytest.raises(InvalidInput, match="byte order mark"):
        loads_strict(b'\xef\xbb\xbf\xef\xbb\xbf{"a": 1}')


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"a": "\xff"}', "byte 0xFF at byte offset 7 (line 1)"),
        (b'{\n"a":\n"caf\xe9"}', "byte 0xE9 at byte offset 11 (line 3)"),  # Latin-1 é
        (b'\xef\xbb\xbf{"a": "\xc0\xaf"}', "byte 0xC0 at byte offset 10 (line 1)"),  # overlong
        (b'"\xed\xa0\x80"', "byte 0xED at byte offset 1"),  # encoded surrogate
    ],
)
def test_invalid_utf8_names_the_byte_offset_and_line(raw: bytes, fragment: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        decode_utf8(raw)
    [problem] = exc.value.problems
    assert problem.message.startswith("input is not valid UTF-8: ")
    assert fragment in problem.message
    assert problem.message.endswith("re-save as UTF-8")


# --------------------------------------------------------------------------- read_document


def test_read_document_reads_one_document() -> None:
    assert read_document(io.BytesIO(b'{"displayName": "x"}\n')) == {"displayName": "x"}


@pytest.mark.parametrize("raw", [b"", b"   \n\t\r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf \n"])
def test_empty_or_whitespace_input_is_no_input(raw: bytes) -> None:
    with pytest.raises(InvalidInput) as exc:
        read_document(io.BytesIO(raw), source="stdin")
    assert problems_of(exc) == [("", "no input: stdin is empty")]


def test_document_limit_is_exactly_one_mib() -> None:
    body = b'{"a": "' + b"x" * (MAX_DOCUMENT_BYTES - 9) + b'"}'
    assert len(body) == MAX_DOCUMENT_BYTES
    assert read_document(io.BytesIO(body)) == {"a": "x" * (MAX_DOCUMENT_BYTES - 9)}
    with pytest.raises(InvalidInput) as exc:
        read_document(io.BytesIO(body + b" "), source="big.json")
    assert problems_of(exc) == [("", "big.json is larger than 1 MiB (the limit for one document)")]


def test_read_document_reports_every_problem() -> None:
    raw = b'{"status": 1, "status": 2, "statistics": {"x": NaN, "y": 1e400}}'
    with pytest.raises(InvalidInput) as exc:
        read_document(io.BytesIO(raw))
    assert [p.path for p in exc.value.problems] == ["status", "statistics.x", "statistics.y"]


class _Trickle(io.RawIOBase):
    """A raw stream that returns at most 3 bytes per read, like a slow pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        chunk = self._data.read(min(3, len(buffer)))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_read_document_keeps_reading_short_reads() -> None:
    assert read_document(_Trickle(b'{"displayName": "slow"}')) == {"displayName": "slow"}  # type: ignore[arg-type]


# --------------------------------------------------------------------------- iter_records


def records(raw: bytes) -> list[tuple[int, object]]:
    return list(iter_records(io.BytesIO(raw)))


def test_ndjson_with_blank_lines_and_crlf() -> None:
    raw = b'{"n": 1}\r\n\r\n{"n": 2}\n   \n{"n": 3}'
    assert records(raw) == [(1, {"n": 1}), (3, {"n": 2}), (5, {"n": 3})]


def test_array_elements_carry_the_line_they_start_on() -> None:
    raw = b'\n[\n  {"n": 1},\n\n  {"n": 2,\n   "s": "a,[b"}, {"n": 3}\n]\n'
    assert records(raw) == [(3, {"n": 1}), (5, {"n": 2, "s": "a,[b"}), (6, {"n": 3})]


def test_empty_array_yields_nothing() -> None:
    assert records(b"[]") == []


def test_pretty_printed_object_is_one_record() -> None:
    raw = b'\xef\xbb\xbf\n{\n  "displayName": "x",\n  "statistics": {}\n}\n'
    assert records(raw) == [(2, {"displayName": "x", "statistics": {}})]


def test_pretty_printed_object_with_an_error_reports_its_line() -> None:
    with pytest.raises(InvalidInput) as exc:
        records(b'{\n  "a": 1,\n  "b": tru\n}\n')
    [problem] = exc.value.problems
    assert problem.message.startswith("line 3 column 8: ")


def test_ndjson_problems_are_all_reported_with_lines_after_good_records() -> None:
    raw = b'{"n": 1}\n{"n": }\n{"n": 3}\n{"a": 1, "a": 2}\n{"x": NaN}\n{"n": "\xff"}\n'
    got: list[tuple[int, object]] = []
    with pytest.raises(InvalidInput) as exc:
        for item in iter_records(io.BytesIO(raw), source="runs.ndjson"):
            got.append(item)
    assert got == [(1, {"n": 1}), (3, {"n": 3})]
    assert [(p.line, p.path) for p in exc.value.problems] == [
        (2, ""),
        (4, "a"),
        (5, "x"),
        (6, ""),
    ]
    assert exc.value.problems[0].message == "column 7: Expecting value"
    offset = raw.index(b"\xff")  # counted from the start of the file, not of the line
    assert f"runs.ndjson is not valid UTF-8: byte 0xFF at byte offset {offset};" in str(exc.value.problems[3])


def test_ndjson_broken_first_line_still_reads_the_rest() -> None:
    raw = b'{"n": 1,\n{"n": 2}\n'
    with pytest.raises(InvalidInput) as exc:
        records(raw)
    # read as one document, the error is on line 2; as NDJSON, line 1 is incomplete
    assert "line 2 column 1" in exc.value.problems[0].message


def test_ndjson_syntax_error_on_the_first_line_then_good_lines() -> None:
    got: list[tuple[int, object]] = []
    with pytest.raises(InvalidInput) as exc:
        for item in iter_records(io.BytesIO(b'{"n": 1}}\n{"n": 2}\n')):
            got.append(item)
    assert got == [(2, {"n": 2})]
    assert [p.line for p in exc.value.problems] == [1]


def test_ndjson_lines_of_any_length_up_to_the_limit() -> None:
    line = b'{"a": "' + b"x" * (MAX_DOCUMENT_BYTES - 9) + b'"}'
    raw = b'{"n": 1}\n' + line + b"\n" + line + b'x\n{"n": 4}\n'
    got: list[tuple[int, object]] = []
    with pytest.raises(InvalidInput) as exc:
        for item in iter_records(io.BytesIO(raw)):
            got.append(item)
    assert [n for n, _ in got] == [1, 2, 4]
    assert [(p.line, p.message) for p in exc.value.problems] == [(3, "line is larger than 1 MiB")]


def test_too_large_array_suggests_ndjson() -> None:
    raw = b"[" + b"1," * (MAX_DOCUMENT_BYTES // 2) + b"1]"
    with pytest.raises(InvalidInput) as exc:
        records(raw)
    assert "larger than 1 MiB" in exc.value.problems[0].message
    assert exc.value.hint is not None and "NDJSON" in exc.value.hint


@pytest.mark.parametrize("raw", [b"", b"\n\n  \n"])
def test_iter_records_empty_input(raw: bytes) -> None:
    with pytest.raises(InvalidInput, match="no input: input is empty"):
        records(raw)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16", "utf-32-be"])
def test_iter_records_rejects_wide_encodings(encoding: str) -> None:
    with pytest.raises(InvalidInput, match="not UTF-8: re-save as UTF-8"):
        records('{"n": 1}\n{"n": 2}\n'.encode(encoding))


def test_iter_records_stops_collecting_after_100_problems() -> None:
    with pytest.raises(InvalidInput) as exc:
        records(b"oops\n" * 500)
    assert len(exc.value.problems) == 101
    assert "too many problems; stopped reading input at line 100" in str(exc.value.problems[-1])


# --------------------------------------------------------------------------- parse_json_arg


def test_parse_json_arg_text_and_file(tmp_path: Path) -> None:
    assert parse_json_arg('{"people": 3}', name="statistics (--statistics)") == {"people": 3}
    stats = tmp_path / "stats.json"
    stats.write_bytes(b'\xef\xbb\xbf{"people": 4}\n')
    assert parse_json_arg(f"@{stats}", name="statistics (--statistics)") == {"people": 4}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"a": NaN}', "a: NaN is not valid JSON"),
        ("{", "line 1 column 2: Expecting property name"),
        ("", "expected JSON text or @FILE, got an empty value"),
        ("@-", "'@-' (stdin) is not supported"),
        ("@", "'@' needs a file name"),
        ("@/nonexistent/stats.json", "cannot read /nonexistent/stats.json: No such file"),
    ],
)
def test_parse_json_arg_problems_name_the_flag(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_json_arg(text, name="statistics (--statistics)")
    [problem] = exc.value.problems
    assert problem.path == "statistics (--statistics)"
    assert fragment in problem.message


def test_parse_json_arg_file_problems_name_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInput) as exc:
        parse_json_arg(f"@{empty}", name="blockingError (--blocking-error)")
    assert problems_of(exc) == [("blockingError (--blocking-error)", f"no input: {empty} is empty")]


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (["blockingError", "details", 1, "code"], "blockingError.details[1].code"),
        ([0, "a"], "[0].a"),
        (["statistics", "with space"], 'statistics["with space"]'),
        (["x", ""], 'x[""]'),
        (["@odata.type"], "@odata.type"),
    ],
)
def test_json_path(parts: list[str | int], expected: str) -> None:
    assert json_path(parts) == expected


# --------------------------------------------------------------------------- linear work
#
# The reader's own scanning (the depth pre-scan, the array line map, the blank-line skip)
# must be linear in the input: a crafted 80 KB input once took 36 s. These tests check the
# mechanism without timing; benchmarks/json_worst.py shows the figures.


def _reference_too_deep(text: str) -> int | None:
    """Offset of the first bracket nested deeper than MAX_DEPTH: a plain state machine."""
    depth, in_string, escaped = 0, False, False
    for pos, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return pos
        elif char in "]}":
            depth = max(depth - 1, 0)
    return None


def _hostile_texts(count: int, seed: int = 8) -> list[str]:
    """Random texts over JSON's structural alphabet, heavy in quotes, escapes and brackets."""
    import random

    rng = random.Random(seed)
    alphabet = ['"', "\\", "[", "[", "[", "{", "]", "}", ",", "a", " ", "\n", ":"]
    texts = []
    for _ in range(count):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 120)))
        texts.append(rng.choice(["", "[" * 33, '"']) + body + rng.choice(["", "[" * 33, '"', "\\"]))
    return texts


def test_depth_check_agrees_with_a_state_machine_on_hostile_texts() -> None:
    """Brackets inside a string, even an unterminated one, are not nesting."""
    for text in [*_hostile_texts(3000), '"' + '\\"' * 50 + "[" * 33, '["' + "\\\\\\\"" * 9 + "[" * 40]:
        expected = _reference_too_deep(text)
        try:
            loads_strict(text)
            problems = []
        except InvalidInput as exc:
            problems = [p.message for p in exc.problems]
        deep = [m for m in problems if "nesting is deeper" in m]
        if expected is None:
            assert deep == [], text
        else:
            lineno = text.count("\n", 0, expected) + 1
            colno = expected - (text.rfind("\n", 0, expected) + 1) + 1
            assert deep == [f"line {lineno} column {colno}: nesting is deeper than 32 levels"], text


def test_unterminated_string_full_of_escaped_quotes_is_a_syntax_error() -> None:
    text = '"' + '\\"' * 2000 + "[" * 40
    with pytest.raises(InvalidInput) as exc:
        loads_strict(text)
    [problem] = exc.value.problems
    assert "Unterminated string" in problem.message


def test_the_scanner_never_rescans_a_string() -> None:
    """Linear by construction: the string lexeme matches at EVERY quote, terminated or not,
    so re.finditer never fails at a quote and retries one character further on (which made
    an unterminated string of escaped quotes quadratic)."""
    import re

    from rundctl import jsonio

    lexeme = re.compile(jsonio._LEXEME)
    for text in _hostile_texts(1500, seed=9):
        for pos, char in enumerate(text):
            if char == '"':
                match = lexeme.match(text, pos)
                assert match is not None and match.end() > pos, (text, pos)
        ends = [m.end() for m in lexeme.finditer(text)]
        assert ends == sorted(ends)


class _CountedChunk(bytes):
    """A chunk read from the stream that counts the bytes copied when appended to."""

    copied = 0

    def __radd__(self, other: bytes) -> bytes:
        _CountedChunk.copied += len(other)
        return bytes(other) + bytes(self)


class _CountingStream(io.BytesIO):
    def readline(self, limit: int | None = -1) -> bytes:  # type: ignore[override]
        return _CountedChunk(super().readline(limit))

    def read(self, limit: int | None = -1) -> bytes:  # type: ignore[override]
        return _CountedChunk(super().read(limit))


@pytest.mark.parametrize("blank", [b"\n", b" \r\n", b"\t\n"])
def test_leading_blank_lines_are_not_copied_again_and_again(blank: bytes) -> None:
    lines = (MAX_DOCUMENT_BYTES - 16) // len(blank)
    raw = blank * lines + b'{"n": 1}\n{"n": 2}\n'
    _CountedChunk.copied = 0
    assert list(iter_records(_CountingStream(raw))) == [(lines + 1, {"n": 1}), (lines + 2, {"n": 2})]
    assert _CountedChunk.copied <= 4 * len(raw)  # a bounded number of passes, not one per line


def test_array_after_many_blank_lines_keeps_its_line_numbers() -> None:
    raw = b"\n" * 50_000 + b'[{"n": 1},\n {"n": 2}]'
    assert records(raw) == [(50_001, {"n": 1}), (50_002, {"n": 2})]
