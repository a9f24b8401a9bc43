"""The OData query options the sandbox honours on run collections — pure parsing, no I/O.

Supported: ``$filter`` (``status eq|ne '<status>'``, ``startDateTime eq|ne|gt|ge|lt|le
<unquoted DateTimeOffset>``, joined with ``and`` / ``or``, ``not`` and parentheses),
``$orderby=startDateTime [asc|desc]``, ``$top``, ``$skip``, ``$count``, ``$select`` and the
sandbox's own opaque ``$skiptoken``. As on Graph beta the ``$`` prefix is optional. Anything
malformed raises :class:`QueryError` naming the clause, which the server turns into a 400.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 999
# Bounds on a $filter, so that parsing it, compiling it and SQLite's expression tree (at most
# 1000 deep) stay small whatever the client sends: nesting of parentheses and `not`, and the
# number of comparisons (a chain of `and`/`or` is a tree as deep as it is long).
MAX_FILTER_DEPTH = 32
MAX_FILTER_TERMS = 100
_MAX_SKIPTOKEN = 256  # characters; the sandbox's own tokens are about 70
SUPPORTED_OPTIONS = ("filter", "orderby", "top", "skip", "count", "select", "skiptoken")
UNSUPPORTED_OPTIONS = ("expand", "search", "format", "apply", "compute", "deltatoken")

_OPERATOR_KINDS = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
}


class QueryError(ValueError):
    """A query option the sandbox cannot honour; the message is Graph-style and user-facing."""


# ---------------------------------------------------------------------------------------------
# Timestamps
#
# Every timestamp the sandbox writes or compares goes through iso_seconds(): the year always has
# four digits. strftime("%Y") does not pad years before 1000 on glibc ("999-01-01"), and such a
# key sorts after "2024-..." as a string, i.e. as the newest run.


_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?"
    r"(Z|z|[+-]\d{2}:\d{2})"
)


def start_key(timestamp: str) -> str | None:
    """A sortable UTC key for an RFC 3339 timestamp (7 fractional digits), or None if invalid.

    Keys compare as strings in time order, keep the 7 fractional digits Graph allows (more than
    ``datetime`` holds) and are the same for ``...+05:30`` and its UTC equivalent.
    """
    match = _TIMESTAMP.fullmatch(timestamp.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=UTC
        )
        if zone not in ("Z", "z"):
            sign = 1 if zone[0] == "+" else -1
            moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    except (ValueError, OverflowError):  # no such date, or beyond 0001-9999 once in UTC
        return None
    digits = (fraction or "")[:7].ljust(7, "0")
    return f"{iso_seconds(moment)}.{digits}Z"


def iso_seconds(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` with a four-digit year, whatever the platform's strftime does."""
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )


def utc(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def format_timestamp(moment: float) -> str:
    """A POSIX time as Graph writes a DateTimeOffset: ``2024-05-01T10:00:00.000000Z``."""
    when = utc(moment)
    return f"{iso_seconds(when)}.{when.microsecond:06d}Z"


# ---------------------------------------------------------------------------------------------
# $filter


@dataclass(frozen=True)
class Compare:
    """``<field> <op> <value>``; for startDateTime *value* is a :func:`start_key`."""

    field: str  # "status" or "startDateTime"
    op: str  # eq ne gt ge lt le
    value: str


@dataclass(frozen=True)
class Logical:
    op: str  # "and" / "or"
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not:
    operand: Expr


Expr = Compare | Logical | Not

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<string>'(?:[^']|'')*')"
    r"|(?P<datetime>\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|z|[+-]\d{2}:\d{2}|\s\d{2}:\d{2})?)"
    r"|(?P<paren>[()])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_./]*)"
    r"|(?P<other>\S+)"
    r")"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:  # pragma: no cover - the regex always matches
            break
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "datetime" and value[-6] == " ":
            # An unencoded "+" in the query string arrives as a space: "...T10:00:00 05:30".
            value = value[:-6] + "+" + value[-5:]
        tokens.append((kind, value))
        position = match.end()
    return tokens


class _FilterParser:
    def __init__(self, text: str, statuses: Sequence[str]) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.position = 0
        self.statuses = {s.lower(): s for s in statuses}
        self.depth = 0  # parentheses and `not` around the current position
        self.terms = 0  # comparisons so far

    def fail(self, message: str) -> QueryError:
        return QueryError(f"Invalid filter clause: {message}")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise self.fail(f"unexpected end of expression in '{self.text}'.")
        self.position += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].lower() in words:
            self.position += 1
            return token[1].lower()
        return None

    def parse(self) -> Expr:
        if not self.tokens:
            raise self.fail("the expression is empty.")
        expr = self.parse_or()
        token = self.peek()
        if token is not None:
            raise self.fail(f"syntax error at '{token[1]}' in '{self.text}'.")
        return expr

    def parse_or(self) -> Expr:
        expr = self.parse_and()
        while self.keyword("or"):
            expr = Logical("or", expr, self.parse_and())
        return expr

    def parse_and(self) -> Expr:
        expr = self.parse_unary()
        while self.keyword("and"):
            expr = Logical("and", expr, self.parse_unary())
        return expr

    def parse_unary(self) -> Expr:
        if self.keyword("not"):
            with self.nested():
                return Not(self.parse_unary())
        if self.peek() == ("paren", "("):
            self.position += 1
            with self.nested():
                expr = self.parse_or()
            if self.peek() != ("paren", ")"):
                raise self.fail(f"')' expected in '{self.text}'.")
            self.position += 1
            return expr
        return self.parse_compare()

    @contextmanager
    def nested(self) -> Iterator[None]:
        self.depth += 1
        if self.depth > MAX_FILTER_DEPTH:
            raise self.fail(
                f"the expression nests parentheses and 'not' deeper than {MAX_FILTER_DEPTH} levels."
            )
        try:
            yield
        finally:
            self.depth -= 1

    def parse_compare(self) -> Expr:
        self.terms += 1
        if self.terms > MAX_FILTER_TERMS:
            raise self.fail(f"the expression has more than {MAX_FILTER_TERMS} comparisons.")
        kind, name = self.take()
        if kind != "word":
            raise self.fail(f"a property name was expected at '{name}'.")
        field_name = {"status": "status", "startdatetime": "startDateTime"}.get(name.lower())
        if field_name is None:
            raise self.fail(
                f"Could not find a property named '{name}' on type "
                "'microsoft.graph.industryData.industryDataRun' that can be filtered on; "
                "the sandbox filters on status and startDateTime."
            )
        op_kind, op = self.take()
        op = op.lower()
        if op_kind != "word" or op not in _OPERATOR_KINDS:
            raise self.fail(f"unknown operator '{op}' after '{name}'.")
        value_kind, value = self.take()
        if field_name == "status":
            return self.status_compare(op, value_kind, value)
        return self.datetime_compare(op, value_kind, value)

    def status_compare(self, op: str, kind: str, value: str) -> Expr:
        if op not in ("eq", "ne"):
            raise self.fail(f"status supports only eq and ne, not '{op}'.")
        if kind != "string":
            found = "Edm.DateTimeOffset" if kind == "datetime" else "Edm.Untyped"
            raise self.fail(
                "A binary operator with incompatible types was detected. Found operand types "
                f"'microsoft.graph.industryData.industryDataRunStatus' and '{found}' for "
                f"operator kind '{_OPERATOR_KINDS[op]}'."
            )
        literal = value[1:-1].replace("''", "'")
        canonical = self.statuses.get(literal.lower())
        if canonical is None:
            raise self.fail(
                f"The string '{literal}' is not a valid enumeration type constant; "
                f"expected one of {', '.join(self.statuses.values())}."
            )
        return Compare("status", op, canonical)

    def datetime_compare(self, op: str, kind: str, value: str) -> Expr:
        if kind == "string":
            raise self.fail(
                "A binary operator with incompatible types was detected. Found operand types "
                "'Edm.DateTimeOffset' and 'Edm.String' for operator kind "
                f"'{_OPERATOR_KINDS[op]}'. Write the timestamp unquoted, "
                "e.g. startDateTime ge 2024-01-01T00:00:00Z."
            )
        key = start_key(value) if kind == "datetime" else None
        if key is None:
            raise self.fail(
                f"'{value}' is not a valid DateTimeOffset; use RFC 3339 with Z or an offset, "
                "e.g. 2024-01-01T00:00:00Z."
            )
        return Compare("startDateTime", op, key)


def parse_filter(text: str, statuses: Sequence[str]) -> Expr:
    """Parse a ``$filter`` expression over a run's ``status`` and ``startDateTime``."""
    return _FilterParser(text, statuses).parse()


# ---------------------------------------------------------------------------------------------
# Paging token


@dataclass(frozen=True)
class Cursor:
    """Keyset position: the last row served, in the direction of the listing."""

    descending: bool
    start_key: str
    seq: int


def encode_skiptoken(cursor: Cursor) -> str:
    raw = json.dumps(
        {"d": int(cursor.descending), "k": cursor.start_key, "s": cursor.seq},
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


_KEY = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z")
_MAX_SEQ = 2**63 - 1  # SQLite's INTEGER


def decode_skiptoken(token: str) -> Cursor:
    """The cursor in a token made by :func:`encode_skiptoken`; QueryError for anything else.

    A token is client input: bounded in size, strict JSON (no floats, no NaN), exactly the
    three keys with the types and ranges the sandbox writes.
    """
    invalid = QueryError(f"The $skiptoken '{token[:80]}' is not valid; follow @odata.nextLink.")
    if len(token) > _MAX_SKIPTOKEN:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw, parse_constant=_refuse, parse_float=_refuse)
    except (binascii.Error, ValueError, RecursionError):
        raise invalid from None
    if not isinstance(data, dict) or set(data) != {"d", "k", "s"}:
        raise invalid
    descending, key, seq = data["d"], data["k"], data["s"]
    if type(descending) is not int or descending not in (0, 1):
        raise invalid
    if not isinstance(key, str) or not (key == "" or _KEY.fullmatch(key)):
        raise invalid
    if type(seq) is not int or not 0 <= seq <= _MAX_SEQ:
        raise invalid
    return Cursor(bool(descending), key, seq)


def _refuse(literal: str) -> object:
    raise ValueError(f"{literal} is not allowed in a $skiptoken")


# ---------------------------------------------------------------------------------------------
# The whole query


@dataclass
class ListQuery:
    """The parsed options of one collection request."""

    filter: Expr | None = None
    descending: bool = True
    top: int = DEFAULT_PAGE_SIZE
    skip: int = 0
    count: bool = False
    select: tuple[str, ...] | None = None
    cursor: Cursor | None = None
    # The options as received (canonical "$name" keys, minus $skiptoken/$skip), for nextLink.
    carried: list[tuple[str, str]] = field(default_factory=list)


def normalize_options(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``{"filter": ..., ...}`` from query pairs; ``$`` optional, duplicates and unknown
    ``$``-options rejected, unknown plain parameters ignored (as Graph does)."""
    options: dict[str, str] = {}
    for raw_name, value in pairs:
        name = raw_name.lower()
        dollar = name.startswith("$")
        name = name.removeprefix("$")
        if name in UNSUPPORTED_OPTIONS:
            raise QueryError(f"Query option '${name}' is not supported by the sandbox.")
        if name not in SUPPORTED_OPTIONS:
            if dollar:
                raise QueryError(f"Query option '{raw_name}' is not supported.")
            continue
        if name in options:
            raise QueryError(f"Query option '${name}' was specified more than once.")
        options[name] = value
    return options


def parse_select(text: str, properties: Sequence[str]) -> tuple[str, ...]:
    known = {p.lower(): p for p in properties}
    chosen: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if not name:
            raise QueryError(f"Invalid $select '{text}': empty property name.")
        canonical = known.get(name.lower())
        if canonical is None:
            raise QueryError(
                f"Invalid $select: could not find a property named '{name}' on type "
                f"'microsoft.graph.industryData.industryDataRun'; known: {', '.join(properties)}."
            )
        if canonical not in chosen:
            chosen.append(canonical)
    return tuple(chosen)


def parse_list_query(
    pairs: Iterable[tuple[str, str]], *, statuses: Sequence[str], properties: Sequence[str]
) -> ListQuery:
    """Parse the query string of a run collection request."""
    options = normalize_options(pairs)
    query = ListQuery()
    if "filter" in options:
        query.filter = parse_filter(options["filter"], statuses)
    if "orderby" in options:
        query.descending = _parse_orderby(options["orderby"])
    if "top" in options:
        query.top = _parse_int("$top", options["top"], 0, MAX_PAGE_SIZE)
    if "skip" in options:
        query.skip = _parse_int("$skip", options["skip"], 0, 2**31 - 1)
    if "count" in options:
        value = options["count"].strip().lower()
        if value not in ("true", "false"):
            raise QueryError(f"Invalid $count '{options['count']}': use true or false.")
        query.count = value == "true"
    if "select" in options:
        query.select = parse_select(options["select"], properties)
    if "skiptoken" in options:
        query.cursor = decode_skiptoken(options["skiptoken"])
        if query.cursor.descending != query.descending:
            raise QueryError("The $skiptoken does not match $orderby; follow @odata.nextLink.")
    query.carried = [
        (f"${name}", value) for name, value in options.items() if name not in ("skiptoken", "skip")
    ]
    return query


def parse_item_query(pairs: Iterable[tuple[str, str]], *, properties: Sequence[str]) -> ListQuery:
    """Options on a single entity: only ``$select``."""
    options = normalize_options(pairs)
    for name in options:
        if name != "select":
            raise QueryError(f"Query option '${name}' is not allowed on a single entity.")
    query = ListQuery()
    if "select" in options:
        query.select = parse_select(options["select"], properties)
    return query


def _parse_orderby(text: str) -> bool:
    parts = text.split()
    if not parts or len(parts) > 2 or parts[0].lower() != "startdatetime":
        raise QueryError(f"Invalid $orderby '{text}': the sandbox orders by startDateTime [asc|desc] only.")
    direction = parts[1].lower() if len(parts) == 2 else "asc"
    if direction not in ("asc", "desc"):
        raise QueryError(f"Invalid $orderby '{text}': direction must be asc or desc.")
    return direction == "desc"


def _parse_int(name: str, text: str, low: int, high: int) -> int:
    value = text.strip()
    if not value.isascii() or not value.isdigit():
        raise QueryError(f"Invalid value '{text[:40]}' for {name}: a whole number is required.")
    if len(value.lstrip("0")) > len(str(high)):  # before int(): 5000 digits is a ValueError
        raise QueryError(f"Invalid value '{text[:40]}' for {name}: must be between {low} and {high}.")
    number = int(value)
    if not low <= number <= high:
        raise QueryError(f"Invalid value '{text}' for {name}: must be between {low} and {high}.")
    return number


def apply_select(entity: dict[str, object], select: tuple[str, ...] | None) -> dict[str, object]:
    """Keep the selected properties, ``id`` and ``@odata.*`` annotations."""
    if select is None:
        return entity
    keep = set(select) | {"id"}
    return {k: v for k, v in entity.items() if k in keep or k.startswith("@odata.")}
