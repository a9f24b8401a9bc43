"""Strict JSON and NDJSON reading (docs/commands.md, "JSON input is strict").

UTF-8 only (one leading BOM tolerated, UTF-16/32 named and rejected), no duplicate keys, no
NaN/Infinity, no non-finite numbers, no lone surrogates, nesting at most ``MAX_DEPTH``, one
document at most ``MAX_DOCUMENT_BYTES``. Every failure is an :class:`InvalidInput` carrying
every problem found, each with a JSON path and, for NDJSON, the line number.

Bodies from the service go through the same reader, :func:`loads_service`, with limits of
their own (``RESPONSE_MAX_DEPTH``, ``RESPONSE_MAX_BYTES``).

Every scan is linear in the input (benchmarks/json_worst.py). Pure apart from reading the
binary stream it is given (and the file named by ``@FILE`` in :func:`parse_json_arg`).
Imports nothing from the project but ``errors``.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO

from rundctl.errors import InvalidInput, Problem

MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_DEPTH = 32
# A service body: a page of runs whose statistics may be MAX_DEPTH deep, with room to spare.
RESPONSE_MAX_DEPTH = 64
RESPONSE_MAX_BYTES = 64 * 1024 * 1024

_MAX_PROBLEMS = 100  # bulk input: stop collecting after this many, so garbage fails fast
_UTF8_BOM = b"\xef\xbb\xbf"
_WS_BYTES = b" \t\r\n"  # JSON whitespace, exactly (RFC 8259 §2)
_WS_TEXT = " \t\r\n"
_NEWLINE = b"\n"
_LIMIT_TEXT = "1 MiB"
_NDJSON_HINT = "for many runs, use NDJSON: one JSON object per line (no size limit on the file)"

# A JSON string (escapes included) or one structural character: enough to measure depth and
# find top-level commas without a recursive parser. Patterns are plain strings compiled on first use
# (re caches them), so importing this module stays cheap.
#
# The string alternative matches at EVERY quote: an unterminated string runs to the end of the
# text (ending in a lone backslash or not). It never fails after scanning, so re.finditer never
# retries one character further on, and no character is scanned twice: the scan is linear. (A
# pattern that required the closing quote made '"' + '\\"' * n quadratic: each escaped quote
# started a new failed scan to the end.) The quantifiers are possessive (``*+``): the loop has
# only one way to match anyway, and possessive ones keep no backtracking state per escape, so a
# megabyte of escapes costs what a megabyte of letters does.
_LEXEME = "(?s)" r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)|[\[\]{},]'
_WS_RUN = r"[ \t\r\n]*"
_PLAIN_KEY = r'[^\x00-\x20\x7f-\x9f\[\]"\\]+'
_SURROGATE = "[\ud800-\udfff]"
_SURROGATE_HINT = r"\\u[dD][89a-fA-F]|[\ud800-\udfff]"


def expected(what: str, value: object) -> str:
    """The problem text for a value of the wrong JSON type: ``expected X, got string``."""
    return f"expected {what}, got {json_type(value)}"


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type: object, array, string, number, boolean, null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def json_path(parts: Sequence[str | int]) -> str:
    """``["blockingError", "details", 1, "code"]`` -> ``blockingError.details[1].code``.

    Keys with spaces, brackets, quotes or control characters are written ``["..."]``.
    """
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(_PLAIN_KEY, part):
            out = f"{out}.{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


# --------------------------------------------------------------------------- encoding


def _wide_encoding(raw: bytes) -> str | None:
    """Name the UTF-16/UTF-32 flavour of ``raw`` from its BOM or NUL-byte pattern, else None.

    A NUL byte can never start a UTF-8 JSON text, so the patterns of RFC 4627 §3 are safe.
    """
    if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    head = raw[:4]
    if len(head) < 2 or b"\x00" not in head[:2]:
        return None
    if len(head) == 4 and (head[:3] == b"\x00\x00\x00" or head[1:] == b"\x00\x00\x00"):
        return "UTF-32"
    if head[:2] == b"\x00\x00":
        return "UTF-32"
    return "UTF-16"


def _decode(raw: bytes, *, source: str, line: int | None, offset: int, first: bool) -> str:
    """Decode strict UTF-8; ``offset`` is where ``raw`` starts in the whole input."""
    if first:
        wide = _wide_encoding(raw)
        if wide is not None:
            raise InvalidInput(
                [Problem("", f"{source} is {wide}, not UTF-8: re-save as UTF-8", line)],
                hint="e.g. iconv -f UTF-16 -t UTF-8, or pick UTF-8 in your editor's Save As",
            )
    skip = len(_UTF8_BOM) if first and raw.startswith(_UTF8_BOM) else 0
    try:
        return raw[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = skip + exc.start
        where = f"byte offset {offset + bad}"
        if line is None:
            where += f" (line {raw.count(_NEWLINE, 0, bad) + 1})"
        message = f"{source} is not valid UTF-8: byte 0x{raw[bad]:02X} at {where}; re-save as UTF-8"
        raise InvalidInput([Problem("", message, line)]) from None


def decode_utf8(raw: bytes, *, source: str = "input") -> str:
    """Decode UTF-8 input, tolerating ONE leading BOM; UTF-16/32 and bad bytes are rejected."""
    return _decode(raw, source=source, line=None, offset=0, first=True)


# --------------------------------------------------------------------------- parsing


class _Bad:
    """Placeholder for a rejected scalar (NaN, 1e400, ...), located by a walk after parsing."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _position(text: str, pos: int) -> tuple[int, int]:
    lineno = text.count("\n", 0, pos) + 1
    colno = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return lineno, colno


def _located(lineno: int, colno: int, message: str, line: int | None) -> Problem:
    """A whole-text problem: "line L column C: msg", or for NDJSON line N "column C: msg"."""
    if line is None:
        return Problem("", f"line {lineno} column {colno}: {message}")
    return Problem("", f"column {colno}: {message}", line)


def _too_deep_at(text: str, max_depth: int = MAX_DEPTH) -> int | None:
    """Offset of the first bracket nested deeper than ``max_depth``, scanning iteratively."""
    if text.count("[") + text.count("{") <= max_depth:
        return None
    depth = 0
    for match in re.finditer(_LEXEME, text):
        char = text[match.start()]
        if char in "[{":
            depth += 1
            if depth > max_depth:
                return match.start()
        elif char in "]}":
            depth = max(depth - 1, 0)
    return None


def _deeper_than(value: object, max_depth: int) -> bool:
    """True when a parsed value nests arrays/objects more than ``max_depth`` levels deep.

    Iterative, and it visits containers only, so it costs far less than scanning the text.
    """
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children: Iterable[object] = node.values() if isinstance(node, dict) else node \
            if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth >= max_depth:
                    return True
                stack.append((child, depth + 1))
    return False


def _depth_problem(text: str, line: int | None, max_depth: int) -> Problem | None:
    """The "nesting is deeper" problem at the first too-deep bracket, or None."""
    deep = _too_deep_at(text, max_depth)
    if deep is None:
        return None
    lineno, colno = _position(text, deep)
    return _located(lineno, colno, f"nesting is deeper than {max_depth} levels", line)


def _friendly(msg: str) -> str:
    if msg == "Extra data":
        return "unexpected text after the end of the JSON document"
    if msg.startswith("Unexpected UTF-8 BOM"):
        return "unexpected byte order mark (BOM)"
    return msg


def _analyse(
    text: str, line: int | None, max_depth: int = MAX_DEPTH
) -> tuple[object, list[Problem], int | None]:
    """Parse one JSON text strictly.

    Returns ``(value, problems, syntax_error_line)``: the last is the (1-based, within
    ``text``) line of a JSON syntax error, or None when the text is well-formed JSON.
    Nesting deeper than ``max_depth`` is reported (with its position) before any syntax
    error. The C parser runs first; the text is scanned for the position only when the
    nesting is too deep or the text is not JSON, so a well-formed text is never scanned.
    """
    dups: list[tuple[dict[str, object], list[str]]] = []
    bads: list[_Bad] = []

    def pairs_hook(pairs: list[tuple[str, object]]) -> dict[str, object]:
        obj: dict[str, object] = {}
        repeated: list[str] = []
        for key, value in pairs:
            if key in obj:
                repeated.append(key)
            else:
                obj[key] = value
        if repeated:
            dups.append((obj, repeated))
        return obj

    def bad(message: str) -> _Bad:
        placeholder = _Bad(message)
        bads.append(placeholder)
        return placeholder

    def parse_constant(name: str) -> object:
        return bad(f"{name} is not valid JSON; use null or a string")

    def parse_float(literal: str) -> object:
        number = float(literal)
        return number if math.isfinite(number) else bad(f"number {literal} is out of range")

    def parse_int(literal: str) -> object:
        try:
            return int(literal)
        except ValueError:  # more digits than int() accepts (sys.get_int_max_str_digits)
            return bad(f"integer with {len(literal.lstrip('-'))} digits is too long")

    try:
        value = json.loads(
            text,
            object_pairs_hook=pairs_hook,
            parse_constant=parse_constant,
            parse_float=parse_float,
            parse_int=parse_int,
        )
    except json.JSONDecodeError as exc:
        deep = _depth_problem(text, line, max_depth)
        if deep is not None:
            return None, [deep], None
        problem = _located(exc.lineno, exc.colno, _friendly(exc.msg), line)
        return None, [problem], exc.lineno
    except RecursionError:  # far deeper than any limit: never let it escape
        deep = _depth_problem(text, line, max_depth)
        generic = Problem("", f"nesting is deeper than {max_depth} levels", line)
        return None, [deep or generic], None
    if text.count("[") + text.count("{") > max_depth and _deeper_than(value, max_depth):
        deep = _depth_problem(text, line, max_depth)
        return None, [deep or Problem("", f"nesting is deeper than {max_depth} levels", line)], None

    check_strings = re.search(_SURROGATE_HINT, text) is not None
    if not (dups or bads or check_strings):
        return value, [], None
    return value, _walk(value, dups, bads, check_strings, line), None


def _walk(
    root: object,
    dups: list[tuple[dict[str, object], list[str]]],
    bads: list[_Bad],
    check_strings: bool,
    line: int | None,
) -> list[Problem]:
    """Locate duplicate keys, rejected scalars and lone surrogates, in document order."""
    problems: list[Problem] = []
    dup_keys = {id(obj): keys for obj, keys in dups}
    found: set[int] = set()
    lone = "contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid Unicode"
    stack: list[tuple[object, list[str | int]]] = [(root, [])]
    while stack:
        value, parts = stack.pop()
        if isinstance(value, dict):
            for key in dup_keys.get(id(value), ()):
                found.add(id(value))
                problems.append(Problem(json_path([*parts, key]), f"duplicate key '{key}'", line))
            children: list[tuple[object, list[str | int]]] = []
            for key, child in value.items():
                if check_strings and re.search(_SURROGATE, key):
                    problems.append(Problem(json_path([*parts, key]), f"key {lone}", line))
                children.append((child, [*parts, key]))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            stack.extend(reversed([(child, [*parts, i]) for i, child in enumerate(value)]))
        elif isinstance(value, _Bad):
            found.add(id(value))
            problems.append(Problem(json_path(parts), value.message, line))
        elif check_strings and isinstance(value, str) and re.search(_SURROGATE, value):
            problems.append(Problem(json_path(parts), f"string {lone}", line))
    # Inside the second value of a duplicate key (dropped): report without a path.
    for obj, keys in dups:
        if id(obj) not in found:
            problems.extend(Problem("", f"duplicate key '{key}'", line) for key in keys)
    problems.extend(Problem("", b.message, line) for b in bads if id(b) not in found)
    return problems


def loads_strict(data: bytes | str, *, line: int | None = None) -> object:
    """Parse one JSON document strictly; raise InvalidInput with every problem found.

    ``line`` is the NDJSON line the text came from: problems then carry it and say only
    the column.
    """
    if isinstance(data, bytes):
        text = _decode(data, source="input", line=line, offset=0, first=True)
    else:
        text = data
    value, problems, _ = _analyse(text, line)
    if problems:
        raise InvalidInput(problems)
    return value


def loads_service(
    raw: bytes,
    *,
    max_bytes: int = RESPONSE_MAX_BYTES,
    max_depth: int = RESPONSE_MAX_DEPTH,
) -> object:
    """Parse a JSON body from the service as strictly as input, with its own limits.

    The same reader as :func:`loads_strict`: UTF-8 only (one BOM tolerated), no duplicate
    keys (which ``id``?), no NaN/Infinity or out-of-range numbers, no lone surrogates (so
    whatever rundctl prints from it is valid JSON and valid UTF-8), nesting at most
    ``max_depth``, at most ``max_bytes``. Never raises anything but InvalidInput, with every
    problem found; the client reports it as an unreadable response (exit 11) or, for a
    create, as outcome unknown (exit 9).
    """
    if len(raw) > max_bytes:
        raise InvalidInput([Problem("", f"the body is larger than {max_bytes} bytes")])
    wide = _wide_encoding(raw)
    if wide is not None:
        raise InvalidInput([Problem("", f"the body is {wide}, not UTF-8")])
    skip = len(_UTF8_BOM) if raw.startswith(_UTF8_BOM) else 0
    try:
        text = raw[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = skip + exc.start
        message = f"the body is not valid UTF-8: byte 0x{raw[bad]:02X} at byte offset {bad}"
        raise InvalidInput([Problem("", message)]) from None
    if not text.strip(_WS_TEXT):
        raise InvalidInput([Problem("", "the body is empty")])
    value, problems, _ = _analyse(text, None, max_depth)
    if problems:
        raise InvalidInput(problems)
    return value


# --------------------------------------------------------------------------- streams


def _read_upto(stream: BinaryIO, limit: int) -> bytes:
    """Read until EOF or ``limit`` bytes (raw streams may return fewer bytes per read)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = stream.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _too_large(source: str, hint: str | None = None) -> InvalidInput:
    message = f"{source} is larger than {_LIMIT_TEXT} (the limit for one document)"
    return InvalidInput([Problem("", message)], hint=hint)


def _no_input(source: str) -> InvalidInput:
    return InvalidInput([Problem("", f"no input: {source} is empty")])


def read_document(stream: BinaryIO, *, source: str = "input") -> object:
    """Read ONE JSON document (at most 1 MiB) from a binary stream, strictly."""
    raw = _read_upto(stream, MAX_DOCUMENT_BYTES + 1)
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise _too_large(source)
    if not raw.strip(_WS_BYTES):
        raise _no_input(source)
    text = decode_utf8(raw, source=source)
    if not text.strip(_WS_TEXT):  # a BOM and whitespace
        raise _no_input(source)
    return loads_strict(text)


def _element_lines(text: str) -> list[int]:
    """Line on which each element of the top-level array in ``text`` starts."""
    starts: list[int] = []
    depth = 0
    for match in re.finditer(_LEXEME, text):
        char = text[match.start()]
        if char in "[{":
            depth += 1
            if depth == 1:
                starts.append(match.end())
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 1:
            starts.append(match.end())
    lines: list[int] = []
    lineno, counted = 1, 0
    whitespace = re.compile(_WS_RUN)
    for start in starts:
        run = whitespace.match(text, start)
        pos = run.end() if run is not None else start
        lineno += text.count("\n", counted, pos)
        counted = pos
        lines.append(lineno)
    return lines


def _chain(buffer: bytes, stream: BinaryIO) -> Callable[[int], bytes]:
    """A ``readline(limit)`` that reads ``buffer`` first, then continues with ``stream``."""
    buf = io.BytesIO(buffer)

    def readline(limit: int) -> bytes:
        got = buf.readline(limit)
        if got.endswith(b"\n") or len(got) >= limit:
            return got
        return got + stream.readline(limit - len(got))

    return readline


def iter_records(stream: BinaryIO, *, source: str = "input") -> Iterator[tuple[int, object]]:
    """Yield ``(line_number, record)`` from a JSON array, NDJSON, or one (pretty) JSON value.

    - first non-whitespace byte ``[``: one array document (≤ 1 MiB); each element comes with
      the line it starts on;
    - otherwise NDJSON, read line by line (flat memory): blank lines skipped, each line
      ≤ 1 MiB. When the first line is not complete JSON, the input is read as ONE document
      (a pretty-printed object) and yielded with the line it starts on.

    Problems in NDJSON lines do not stop the reading: the good records are yielded and
    InvalidInput with every problem (up to 100) is raised at the end. Encoding (UTF-16/32) and
    size problems of a single document are raised at once.
    """
    limit = MAX_DOCUMENT_BYTES + 1
    # The lines up to the first non-blank one. Kept as a list and joined once: ``head += chunk``
    # copied everything read so far on every blank line (quadratic in the number of lines).
    head_lines: list[bytes] = []
    head_size = 0
    lineno = 0
    first_line = b""
    while True:
        chunk = stream.readline(limit)
        if not chunk:
            raise _no_input(source)
        lineno += 1
        head_lines.append(chunk)
        head_size += len(chunk)
        body = chunk[len(_UTF8_BOM) :] if lineno == 1 and chunk.startswith(_UTF8_BOM) else chunk
        if body.strip(_WS_BYTES):
            first_line = body
            break
        if head_size > MAX_DOCUMENT_BYTES:  # a megabyte of blank lines is not input either
            raise _no_input(source)
    head = b"".join(head_lines)
    del head_lines

    if _wide_encoding(head) is not None:
        decode_utf8(head, source=source)  # raises, naming the encoding

    if first_line.lstrip(_WS_BYTES).startswith(b"["):
        data = head + _read_upto(stream, limit - len(head))
        if len(data) > MAX_DOCUMENT_BYTES:
            raise _too_large(source, _NDJSON_HINT)
        text = decode_utf8(data, source=source)
        value, doc_problems, _ = _analyse(text, None)
        if doc_problems:
            raise InvalidInput(doc_problems)
        assert isinstance(value, list)
        lines = _element_lines(text)
        for index, item in enumerate(value):
            yield (lines[index] if index < len(lines) else 1, item)
        return

    problems: list[Problem] = []
    readline: Callable[[int], bytes] = stream.readline
    consumed = len(head)
    head_text: str | None = None
    if len(first_line) > MAX_DOCUMENT_BYTES and not first_line.endswith(b"\n"):
        problems.append(Problem("", f"line is larger than {_LIMIT_TEXT}", lineno))
        consumed += _skip_line(stream, first_line)
    else:
        try:
            head_text = _decode(head, source=source, line=lineno, offset=0, first=True)
        except InvalidInput as exc:
            problems.extend(exc.problems)
    if head_text is not None:
        value, line_problems, syntax_line = _analyse(head_text.rstrip(_WS_TEXT), lineno)
        if syntax_line is None:
            problems.extend(line_problems)
            if not line_problems:
                yield lineno, value
        else:
            # Not one complete line: maybe one pretty-printed document.
            rest = _read_upto(stream, limit - len(head))
            whole = head + rest
            fits = len(whole) <= MAX_DOCUMENT_BYTES
            document = _whole_document(whole, lineno, source) if fits else None
            if document is not None:
                yield lineno, document
                return
            problems.extend(line_problems)
            readline = _chain(rest, stream)

    while len(problems) < _MAX_PROBLEMS:
        raw = readline(limit)
        if not raw:
            break
        lineno += 1
        offset = consumed
        consumed += len(raw)
        if not raw.strip(_WS_BYTES):
            continue
        if len(raw) > MAX_DOCUMENT_BYTES and not raw.endswith(b"\n"):
            problems.append(Problem("", f"line is larger than {_LIMIT_TEXT}", lineno))
            while raw and not raw.endswith(b"\n"):
                raw = readline(1 << 16)
                consumed += len(raw)
            continue
        try:
            text = _decode(raw, source=source, line=lineno, offset=offset, first=False)
        except InvalidInput as exc:
            problems.extend(exc.problems)
            continue
        value, line_problems, _ = _analyse(text.rstrip(_WS_TEXT), lineno)
        if line_problems:
            problems.extend(line_problems)
        else:
            yield lineno, value
    else:
        if readline(limit):
            problems.append(Problem("", f"too many problems; stopped reading {source} at line {lineno}"))
    if problems:
        raise InvalidInput(problems)


def _skip_line(stream: BinaryIO, started: bytes) -> int:
    """Discard the rest of an over-long line; return how many more bytes were read."""
    skipped = 0
    tail = started
    while tail and not tail.endswith(b"\n"):
        tail = stream.readline(1 << 16)
        skipped += len(tail)
    return skipped


def _whole_document(data: bytes, first_line: int, source: str) -> object | None:
    """Parse ``data`` as one (multi-line) document for :func:`iter_records`.

    Returns None when it looks like NDJSON with a broken first line instead (the syntax error
    is on that first line); raises InvalidInput for a document with problems further down.
    """
    try:
        text = decode_utf8(data, source=source)
    except InvalidInput:
        return None  # NDJSON mode reports the bad byte with its line
    value, problems, syntax_line = _analyse(text, None)
    if syntax_line is not None and syntax_line <= first_line:
        return None
    if problems:
        raise InvalidInput(problems)
    return value


# --------------------------------------------------------------------------- flag values


def parse_json_arg(text: str, *, name: str) -> object:
    """Parse a flag value given as JSON text or ``@FILE`` (e.g. ``--statistics @stats.json``).

    Problems get ``name`` as their path (e.g. ``"statistics (--statistics)"``).
    """

    def fail(message: str) -> InvalidInput:
        return InvalidInput([Problem(name, message)])

    if text.startswith("@"):
        path = text[1:]
        if path == "-":
            raise fail("'@-' (stdin) is not supported here; give @FILE or the JSON text")
        if not path:
            raise fail("'@' needs a file name: @FILE")
        try:
            with open(path, "rb") as handle:
                value = read_document(handle, source=path)
        except OSError as exc:
            raise fail(f"cannot read {path}: {exc.strerror or exc}") from None
        except InvalidInput as exc:
            raise InvalidInput([Problem(name, str(p)) for p in exc.problems], exc.hint) from None
        return value
    if not text.strip(_WS_TEXT):
        raise fail("expected JSON text or @FILE, got an empty value")
    try:
        return loads_strict(text)
    except InvalidInput as exc:
        raise InvalidInput([Problem(name, str(p)) for p in exc.problems], exc.hint) from None
