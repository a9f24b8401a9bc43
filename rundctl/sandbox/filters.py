"""The ``$filter`` language of the sandbox (and the values it compares): tokens, a parser
with depth and size limits, typed comparisons against the metadata, and evaluation. Pure,
no I/O; :mod:`.odata` uses it for every collection."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rundctl.sandbox.edm import EntityType, Property

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 999
# Bounds on a $filter, so that parsing and evaluating it stay small whatever the client sends:
# nesting of parentheses and `not`, and the number of comparisons.
MAX_FILTER_DEPTH = 32
MAX_FILTER_TERMS = 100
MAX_EXPAND_DEPTH = 4
_MAX_SKIPTOKEN = 256  # characters; the sandbox's own tokens are about 60

# The system query options of OData, and which the sandbox honours (it refuses the others).
COLLECTION_OPTIONS = ("filter", "orderby", "top", "skip", "count", "select", "expand", "skiptoken")
ITEM_OPTIONS = ("select", "expand")
COUNT_OPTIONS = ("filter",)
KNOWN_OPTIONS = (*COLLECTION_OPTIONS, "search", "format", "apply", "compute", "deltatoken", "levels")
UNSUPPORTED = {
    "search": "the sandbox has no search index",
    "format": "the sandbox answers JSON only",
    "apply": "the sandbox does not aggregate",
    "compute": "the sandbox does not compute properties",
    "deltatoken": "the sandbox has no delta queries",
    "levels": "the sandbox expands one level at a time",
}

_OPERATOR_KINDS = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
    "has": "Has",
    "in": "In",
}
_BOOLEAN_FUNCTIONS = ("startswith", "endswith", "contains")
_STRING_FUNCTIONS = ("tolower", "toupper")



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


_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def _valid_date(text: str) -> bool:
    match = _DATE.fullmatch(text)
    if match is None:
        return False
    try:
        datetime(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Values: what a property of an entity is, for comparing and sorting


def _raw(path: tuple[Property, ...], entity: dict[str, Any]) -> object:
    value: object = entity
    for prop in path:
        if not isinstance(value, dict):
            return None
        value = value.get(prop.name)
    return value


def _normalized(prop: Property, raw: object) -> object:
    """A property's value in comparable form: text, a time key, an enum member's value, or
    None (null, missing, or not of the declared type)."""
    if raw is None:
        return None
    if prop.kind in ("String", "Date"):
        return raw if isinstance(raw, str) else None
    if prop.kind == "DateTimeOffset":
        return start_key(raw) if isinstance(raw, str) else None
    if prop.kind == "Enum":
        assert prop.enum is not None
        return prop.enum.value(raw) if isinstance(raw, str) and raw in prop.enum.members else None
    if prop.kind == "Complex":
        return raw if isinstance(raw, dict) else None
    return raw


def _sortable(prop: Property, raw: object) -> tuple[Any, ...]:
    """A sort key for one value: nulls first; a complex value member by member."""
    if prop.kind == "Complex":
        if not isinstance(raw, dict):
            return (0,)
        assert prop.complex is not None
        scalar = ("String", "Date", "DateTimeOffset", "Enum")
        members = [p for p in prop.complex.properties if p.kind in scalar]
        return (1, tuple(_sortable(p, raw.get(p.name)) for p in members))
    value = _normalized(prop, raw)
    return (0,) if value is None else (1, value)


# ---------------------------------------------------------------------------------------------
# $filter


@dataclass(frozen=True)
class PropertyRef:
    path: tuple[Property, ...]  # a property, then members of complex types

    @property
    def prop(self) -> Property:
        return self.path[-1]

    @property
    def name(self) -> str:
        return "/".join(p.name for p in self.path)


@dataclass(frozen=True)
class Transform:
    function: str  # tolower / toupper
    operand: Operand


@dataclass(frozen=True)
class Literal:
    kind: str  # string, enum, datetime, date, null, boolean, number
    text: str  # as written (for messages)
    value: object = None  # comparable form, once typed against the other operand
    qualifier: str | None = None  # the type name of a qualified enum literal


Operand = PropertyRef | Transform | Literal


@dataclass(frozen=True)
class Compare:
    op: str  # eq ne gt ge lt le has
    left: Operand
    right: Operand


@dataclass(frozen=True)
class In:
    operand: Operand
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class Call:
    function: str  # startswith / endswith / contains
    subject: Operand
    argument: Operand


@dataclass(frozen=True)
class Logical:
    op: str  # "and" / "or"
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not:
    operand: Expr


Expr = Compare | In | Call | Logical | Not

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<enum>[A-Za-z_][A-Za-z0-9_.]*'(?:[^']|'')*')"
    r"|(?P<string>'(?:[^']|'')*')"
    r"|(?P<datetime>\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|z|[+-]\d{2}:\d{2}|\s\d{2}:\d{2})?)"
    r"|(?P<date>\d{4}-\d{2}-\d{2}(?![T0-9]))"
    r"|(?P<number>-?\d+(?:\.\d+)?(?![\w-]))"
    r"|(?P<paren>[()])"
    r"|(?P<comma>,)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_./]*)"
    r"|(?P<other>[^\s(),']+|')"
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


def _unquote(text: str) -> str:
    return text[1:-1].replace("''", "'")


class _FilterParser:
    def __init__(self, text: str, entity: EntityType) -> None:
        self.text = text
        self.entity = entity
        self.tokens = _tokens(text)
        self.position = 0
        self.depth = 0  # parentheses and `not` around the current position
        self.terms = 0  # comparisons so far

    def fail(self, message: str) -> QueryError:
        return QueryError(f"Invalid filter clause: {message}")

    def peek(self, ahead: int = 0) -> tuple[str, str] | None:
        index = self.position + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise self.fail(f"unexpected end of expression in '{self.text}'.")
        self.position += 1
        return token

    def expect(self, kind: str, value: str) -> None:
        token = self.peek()
        if token != (kind, value):
            found = "the end of the expression" if token is None else f"'{token[1]}'"
            raise self.fail(f"'{value}' expected, found {found} in '{self.text}'.")
        self.position += 1

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
        return self.parse_predicate()

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

    def parse_predicate(self) -> Expr:
        self.terms += 1
        if self.terms > MAX_FILTER_TERMS:
            raise self.fail(f"the expression has more than {MAX_FILTER_TERMS} comparisons.")
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].lower() in _BOOLEAN_FUNCTIONS \
                and self.peek(1) == ("paren", "("):
            return self.parse_call()
        left = self.parse_operand()
        op_kind, op = self.take()
        op = op.lower()
        if op_kind != "word" or op not in _OPERATOR_KINDS:
            raise self.fail(f"unknown operator '{op}' after '{_shown(left)}'; use eq, ne, gt, ge, lt, le, "
                            "in or has.")
        if op == "in":
            return self.parse_in(left)
        right = self.parse_operand()
        return _typed_compare(op, left, right, self.fail)

    def parse_call(self) -> Expr:
        function = self.take()[1].lower()
        self.expect("paren", "(")
        subject = self.parse_operand()
        self.expect("comma", ",")
        argument = self.parse_operand()
        self.expect("paren", ")")
        for operand in (subject, argument):
            if _operand_kind(operand) not in ("String", "string"):
                raise self.fail(
                    f"{function}() compares strings; '{_shown(operand)}' is of type {_edm(operand)}."
                )
        if isinstance(argument, Literal):
            argument = Literal("string", argument.text, _unquote(argument.text))
        if isinstance(subject, Literal):
            subject = Literal("string", subject.text, _unquote(subject.text))
        return Call(function, subject, argument)

    def parse_in(self, left: Operand) -> Expr:
        self.expect("paren", "(")
        values: list[Literal] = []
        while True:
            operand = self.parse_operand()
            if not isinstance(operand, Literal):
                raise self.fail(f"'in' takes a list of literals, not '{_shown(operand)}'.")
            typed = _typed_compare("eq", left, operand, self.fail)
            assert isinstance(typed, Compare) and isinstance(typed.right, Literal)
            values.append(typed.right)
            if self.peek() == ("comma", ","):
                self.position += 1
                continue
            self.expect("paren", ")")
            return In(left, tuple(values))

    def parse_operand(self) -> Operand:
        kind, text = self.take()
        if kind == "word":
            lowered = text.lower()
            if lowered == "null":
                return Literal("null", text)
            if lowered in ("true", "false"):
                return Literal("boolean", text, lowered == "true")
            if self.peek() == ("paren", "("):
                if lowered not in _STRING_FUNCTIONS:
                    raise self.fail(
                        f"the function '{text}' is not supported by the sandbox; it supports "
                        f"{', '.join(_BOOLEAN_FUNCTIONS + _STRING_FUNCTIONS)}."
                    )
                self.position += 1
                with self.nested():
                    inner = self.parse_operand()
                self.expect("paren", ")")
                if _operand_kind(inner) not in ("String", "string"):
                    raise self.fail(f"{lowered}() takes a string, not '{_shown(inner)}'.")
                return Transform(lowered, inner)
            return self.property_ref(text)
        if kind == "enum":
            qualifier, _, quoted = text.partition("'")
            return Literal("enum", text, qualifier=qualifier, value="'" + quoted)
        if kind in ("string", "datetime", "date", "number"):
            return Literal(kind, text)
        raise self.fail(f"syntax error at '{text}' in '{self.text}'.")

    def property_ref(self, text: str) -> PropertyRef:
        names = text.split("/")
        path: list[Property] = []
        owner_name = self.entity.name
        found = self.entity.property(names[0])
        for index, name in enumerate(names):
            if index > 0:
                parent = path[-1]
                found = parent.complex.property(name) if parent.complex is not None else None
                owner_name = parent.edm_type
            if found is None:
                navigation = self.entity.navigation(name) if index == 0 else None
                if navigation is not None:
                    raise self.fail(f"'{name}' is a navigation property; the sandbox filters on "
                                    "properties only.")
                raise self.fail(
                    f"Could not find a property named '{name}' on type '{owner_name}' that can be "
                    "filtered on."
                )
            path.append(found)
            if found.kind in ("Json", "Collection"):
                raise self.fail(f"the property '{'/'.join(names[: index + 1])}' cannot be used in $filter.")
        return PropertyRef(tuple(path))


def _shown(operand: Operand) -> str:
    if isinstance(operand, PropertyRef):
        return operand.name
    if isinstance(operand, Transform):
        return f"{operand.function}({_shown(operand.operand)})"
    return operand.text


def _operand_kind(operand: Operand) -> str:
    """A property's EDM kind (capitalised), or a literal's token kind (lower case)."""
    if isinstance(operand, PropertyRef):
        return operand.prop.kind
    if isinstance(operand, Transform):
        return "String"
    return operand.kind


_LITERAL_EDM = {
    "string": "Edm.String",
    "datetime": "Edm.DateTimeOffset",
    "date": "Edm.Date",
    "number": "Edm.Int32",
    "boolean": "Edm.Boolean",
    "null": "null",
    "enum": "Edm.Enum",
}


def _edm(operand: Operand) -> str:
    if isinstance(operand, PropertyRef):
        return operand.prop.edm_type
    if isinstance(operand, Transform):
        return "Edm.String"
    if operand.kind == "enum" and operand.qualifier:
        return operand.qualifier
    return _LITERAL_EDM.get(operand.kind, "Edm.Untyped")


def _typed_compare(op: str, left: Operand, right: Operand, fail: Callable[[str], QueryError]) -> Expr:
    """``left op right`` with each literal turned into the comparable form of the property it
    is compared with; a QueryError for types that do not go together, as Graph words it."""

    def incompatible() -> QueryError:
        return fail(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{_edm(left)}' and '{_edm(right)}' for operator kind '{_OPERATOR_KINDS[op]}'."
        )

    typed_side = left if not isinstance(left, Literal) else right
    if isinstance(typed_side, Literal):
        raise fail(f"'{_shown(left)} {op} {typed_side.text}' compares two literals: a property name was "
                   "expected on one side.")
    kind = _operand_kind(typed_side)
    prop = typed_side.prop if isinstance(typed_side, PropertyRef) else None
    if op == "has" and kind != "Enum":
        raise fail(f"'has' applies to enumeration properties, not '{_shown(typed_side)}'.")

    def convert(operand: Operand) -> Operand:
        if not isinstance(operand, Literal):
            other_kind = _operand_kind(operand)
            same_enum = not (kind == "Enum" and prop is not None and isinstance(operand, PropertyRef)
                             and operand.prop.enum != prop.enum)
            if other_kind != kind or not same_enum:
                raise incompatible()
            return operand
        if operand.kind == "null":
            if op not in ("eq", "ne"):
                raise fail(f"only eq null and ne null can compare '{_shown(typed_side)}' with null.")
            return Literal("null", operand.text, None)
        if kind == "Complex":
            raise fail(f"the complex property '{_shown(typed_side)}' can only be compared with null "
                       "(eq null, ne null); filter on one of its members, e.g. "
                       f"{_shown(typed_side)}/code.")
        if kind == "String":
            if operand.kind != "string":
                raise incompatible()
            return Literal("string", operand.text, _unquote(operand.text))
        if kind == "DateTimeOffset":
            if operand.kind == "string":
                raise fail(
                    "A binary operator with incompatible types was detected. Found operand types "
                    f"'Edm.DateTimeOffset' and 'Edm.String' for operator kind '{_OPERATOR_KINDS[op]}'. "
                    f"Write the timestamp unquoted, e.g. {_shown(typed_side)} ge 2024-01-01T00:00:00Z."
                )
            key = start_key(operand.text) if operand.kind == "datetime" else None
            if key is None:
                raise fail(
                    f"'{operand.text}' is not a valid DateTimeOffset; use RFC 3339 with Z or an "
                    "offset, e.g. 2024-01-01T00:00:00Z."
                )
            return Literal("datetime", operand.text, key)
        if kind == "Date":
            if operand.kind != "date":
                if operand.kind == "string":
                    raise incompatible()
                raise fail(f"'{operand.text}' is not a valid Date; write it unquoted, e.g. 2024-01-01.")
            if not _valid_date(operand.text):
                raise fail(f"'{operand.text}' is not a valid Date.")
            return Literal("date", operand.text, operand.text)
        if kind == "Enum":
            assert prop is not None and prop.enum is not None
            if operand.kind == "enum":
                if (operand.qualifier or "").lower() != prop.enum.name.lower():
                    raise incompatible()
                literal = _unquote(str(operand.value))
            elif operand.kind == "string":
                literal = _unquote(operand.text)
            else:
                raise incompatible()
            member = prop.enum.member(literal)
            if member is None:
                raise fail(
                    f"The string '{literal}' is not a valid enumeration type constant; "
                    f"expected one of {', '.join(prop.enum.members)}."
                )
            return Literal("enum", operand.text, prop.enum.value(member))
        raise incompatible()  # pragma: no cover - every kind is handled above

    return Compare(op, convert(left), convert(right))


def parse_filter(text: str, entity: EntityType) -> Expr:
    """Parse a ``$filter`` expression over the properties of *entity*."""
    return _FilterParser(text, entity).parse()


def _value(operand: Operand, entity: dict[str, Any]) -> object:
    if isinstance(operand, Literal):
        return operand.value
    if isinstance(operand, Transform):
        inner = _value(operand.operand, entity)
        if not isinstance(inner, str):
            return None
        return inner.lower() if operand.function == "tolower" else inner.upper()
    return _normalized(operand.prop, _raw(operand.path, entity))


def matches(expr: Expr, entity: dict[str, Any]) -> bool:
    """Whether *entity* satisfies *expr* (a comparison with null is false, except eq/ne null)."""
    if isinstance(expr, Logical):
        if expr.op == "and":
            return matches(expr.left, entity) and matches(expr.right, entity)
        return matches(expr.left, entity) or matches(expr.right, entity)
    if isinstance(expr, Not):
        return not matches(expr.operand, entity)
    if isinstance(expr, In):
        value = _value(expr.operand, entity)
        return any(value == literal.value for literal in expr.values)
    if isinstance(expr, Call):
        subject, argument = _value(expr.subject, entity), _value(expr.argument, entity)
        if not isinstance(subject, str) or not isinstance(argument, str):
            return False
        if expr.function == "startswith":
            return subject.startswith(argument)
        if expr.function == "endswith":
            return subject.endswith(argument)
        return argument in subject
    left, right = _value(expr.left, entity), _value(expr.right, entity)
    op = expr.op
    if op in ("eq", "has"):
        return left == right
    if op == "ne":
        return left != right
    if left is None or right is None:
        return False
    try:
        if op == "gt":
            return bool(left > right)  # type: ignore[operator]
        if op == "ge":
            return bool(left >= right)  # type: ignore[operator]
        if op == "lt":
            return bool(left < right)  # type: ignore[operator]
        return bool(left <= right)  # type: ignore[operator]
    except TypeError:  # pragma: no cover - operands are typed alike by _typed_compare
        return False


