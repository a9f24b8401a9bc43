"""OData query options: ONE engine for every collection the sandbox serves — pure, no I/O.

Every collection (runs on both surfaces, a run's activities, inbound flows, data connectors,
years) is answered by :func:`page` over :class:`Row` objects described by an
:class:`~.edm.EntityType`; single entities by :func:`shape`. The options, as Graph beta spells
them (the ``$`` prefix is optional):

- ``$filter``: ``eq ne gt ge lt le`` on every primitive property the type declares, and on
  members of complex ones (``blockingError/code``); enums by member value, quoted
  (``status eq 'completed'``, any case) or qualified
  (``microsoft.graph.industryData.industryDataRunStatus'completed'``); DateTimeOffset values
  **unquoted**; ``eq null`` / ``ne null``; ``in (...)``; ``has`` on enums; ``and or not`` and
  parentheses; ``startswith endswith contains`` and ``tolower toupper``.
- ``$orderby``: any of those properties, several, each ``asc`` or ``desc``.
- ``$top`` (0-999), ``$skip``, ``$count=true|false``, ``$select`` (properties; a navigation adds nothing),
  ``$expand`` (declared navigations, with nested ``$select $filter $orderby $top $skip
  $count $expand``), and the sandbox's own opaque ``$skiptoken`` (keyset paging).

Anything else is refused, never ignored: :class:`QueryError`, which the server turns into a
400 ``BadRequest`` naming the option.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import total_ordering
from typing import Any

from rundctl.sandbox.edm import EntityType, Navigation, target
from rundctl.sandbox.filters import _MAX_SKIPTOKEN, _FilterParser, _raw, _sortable
from rundctl.sandbox.filters import COLLECTION_OPTIONS as COLLECTION_OPTIONS
from rundctl.sandbox.filters import COUNT_OPTIONS as COUNT_OPTIONS
from rundctl.sandbox.filters import DEFAULT_PAGE_SIZE as DEFAULT_PAGE_SIZE
from rundctl.sandbox.filters import ITEM_OPTIONS as ITEM_OPTIONS
from rundctl.sandbox.filters import KNOWN_OPTIONS as KNOWN_OPTIONS
from rundctl.sandbox.filters import MAX_EXPAND_DEPTH as MAX_EXPAND_DEPTH
from rundctl.sandbox.filters import MAX_FILTER_DEPTH as MAX_FILTER_DEPTH
from rundctl.sandbox.filters import MAX_FILTER_TERMS as MAX_FILTER_TERMS
from rundctl.sandbox.filters import MAX_PAGE_SIZE as MAX_PAGE_SIZE
from rundctl.sandbox.filters import UNSUPPORTED as UNSUPPORTED
from rundctl.sandbox.filters import Expr as Expr
from rundctl.sandbox.filters import Logical as Logical
from rundctl.sandbox.filters import Not as Not
from rundctl.sandbox.filters import PropertyRef as PropertyRef
from rundctl.sandbox.filters import QueryError as QueryError
from rundctl.sandbox.filters import format_timestamp as format_timestamp
from rundctl.sandbox.filters import iso_seconds as iso_seconds
from rundctl.sandbox.filters import matches as matches
from rundctl.sandbox.filters import parse_filter as parse_filter
from rundctl.sandbox.filters import start_key as start_key
from rundctl.sandbox.filters import utc as utc

# ---------------------------------------------------------------------------------------------
# $orderby, $select, $expand


@dataclass(frozen=True)
class OrderItem:
    ref: PropertyRef
    descending: bool = False

    def canonical(self) -> str:
        return f"{self.ref.name} {'desc' if self.descending else 'asc'}"


def parse_orderby(text: str, entity: EntityType) -> tuple[OrderItem, ...]:
    items: list[OrderItem] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2:
            raise QueryError(f"Invalid $orderby '{text}': write property [asc|desc], comma-separated.")
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise QueryError(f"Invalid $orderby '{text}': direction must be asc or desc, not '{words[1]}'.")
        try:
            ref = _FilterParser("", entity).property_ref(words[0])
        except QueryError as exc:
            raise QueryError(f"Invalid $orderby '{text}': {str(exc).removeprefix('Invalid filter clause: ')}"
                             .replace("filtered on", "ordered by").replace("$filter", "$orderby")) from None
        items.append(OrderItem(ref, direction == "desc"))
    return tuple(items)


def parse_select(text: str, entity: EntityType) -> tuple[str, ...] | None:
    """The selected property names (canonical spelling); None for ``*`` (all of them)."""
    chosen: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if not name:
            raise QueryError(f"Invalid $select '{text}': empty property name.")
        if name == "*":
            return None
        prop = entity.property(name)
        navigation = entity.navigation(name) if prop is None else None
        if navigation is not None:
            # Legal OData: it selects the navigation link, which minimal metadata does not
            # write; the related entities come with $expand.
            if navigation.name not in chosen:
                chosen.append(navigation.name)
            continue
        if prop is None:
            known = ", ".join(p.name for p in entity.properties)
            raise QueryError(
                f"Invalid $select: could not find a property named '{name}' on type '{entity.name}'; "
                f"known: {known}."
            )
        if prop.name not in chosen:
            chosen.append(prop.name)
    return tuple(chosen)


@dataclass(frozen=True)
class Expand:
    navigation: Navigation
    query: Query


@dataclass
class Query:
    """The parsed options of one request (or of one ``$expand`` item)."""

    entity: EntityType
    filter: Expr | None = None
    orderby: tuple[OrderItem, ...] = ()
    top: int | None = None  # None: the default page size (nested: everything)
    skip: int = 0
    count: bool = False
    select: tuple[str, ...] | None = None
    expand: tuple[Expand, ...] = ()
    skiptoken: str | None = None
    # The options as received (canonical "$name" keys, minus $skiptoken/$skip), for nextLink.
    carried: list[tuple[str, str]] = field(default_factory=list)


def normalize_options(pairs: Iterable[tuple[str, str]], allowed: Sequence[str], where: str) -> dict[str, str]:
    """``{"filter": ..., ...}`` from query pairs; ``$`` optional (as on Graph beta). A system
    query option not in *allowed* is a QueryError naming it (``where`` says what the request
    is), as is one given twice; plain parameters that are no OData option are ignored."""
    options: dict[str, str] = {}
    for raw_name, value in pairs:
        name = raw_name.strip().lower()
        dollar = name.startswith("$")
        name = name.removeprefix("$")
        if name not in KNOWN_OPTIONS:
            if dollar:
                raise QueryError(f"Query option '{raw_name}' is not supported.")
            continue
        if name not in allowed:
            if name in UNSUPPORTED:
                raise QueryError(
                    f"Query option '${name}' is not supported by the sandbox ({UNSUPPORTED[name]})."
                )
            raise QueryError(f"Query option '${name}' is not allowed on {where}.")
        if name in options:
            raise QueryError(f"Query option '${name}' was specified more than once.")
        options[name] = value
    return options


def parse_collection(
    pairs: Iterable[tuple[str, str]], entity: EntityType, *, default_orderby: tuple[OrderItem, ...] = ()
) -> Query:
    """The options of a collection request."""
    options = normalize_options(pairs, COLLECTION_OPTIONS, "this collection")
    query = _collection_query(options, entity, default_orderby, nested_depth=0)
    query.carried = [(f"${n}", v) for n, v in options.items() if n not in ("skiptoken", "skip")]
    return query


def parse_item(pairs: Iterable[tuple[str, str]], entity: EntityType) -> Query:
    """Options on a single entity: ``$select`` and ``$expand``."""
    options = normalize_options(pairs, ITEM_OPTIONS, "a single entity")
    return _item_query(options, entity, nested_depth=0)


def parse_count(pairs: Iterable[tuple[str, str]], entity: EntityType) -> Query:
    """Options on ``.../$count``: ``$filter``."""
    options = normalize_options(pairs, COUNT_OPTIONS, "a $count request")
    query = Query(entity)
    if "filter" in options:
        query.filter = parse_filter(options["filter"], entity)
    return query


def refuse_options(pairs: Iterable[tuple[str, str]], where: str) -> None:
    """A function result (statistics) or an action takes no query option."""
    normalize_options(pairs, (), where)


def _collection_query(
    options: dict[str, str], entity: EntityType, default_orderby: tuple[OrderItem, ...], *, nested_depth: int
) -> Query:
    item_options = {k: v for k, v in options.items() if k in ITEM_OPTIONS}
    query = _item_query(item_options, entity, nested_depth=nested_depth)
    query.orderby = default_orderby
    if "filter" in options:
        query.filter = parse_filter(options["filter"], entity)
    if "orderby" in options:
        query.orderby = parse_orderby(options["orderby"], entity)
    if "top" in options:
        query.top = _parse_int("$top", options["top"], 0, MAX_PAGE_SIZE)
    if "skip" in options:
        query.skip = _parse_int("$skip", options["skip"], 0, 2**31 - 1)
    if "count" in options:
        value = options["count"].strip().lower()
        if value not in ("true", "false"):
            raise QueryError(f"Invalid $count '{options['count']}': use true or false.")
        query.count = value == "true"
    if "skiptoken" in options:
        query.skiptoken = options["skiptoken"]
    return query


def _item_query(options: dict[str, str], entity: EntityType, *, nested_depth: int) -> Query:
    query = Query(entity)
    if "select" in options:
        query.select = parse_select(options["select"], entity)
    if "expand" in options:
        query.expand = parse_expand(options["expand"], entity, nested_depth=nested_depth)
    return query


def _split(text: str, separator: str) -> list[str]:
    """*text* split at *separator* outside parentheses and quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(text):
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth < 0:
                raise QueryError(f"Invalid $expand '{text}': unbalanced parentheses.")
        elif not quoted and depth == 0 and char == separator:
            parts.append(text[start:index])
            start = index + 1
    if depth != 0 or quoted:
        raise QueryError(f"Invalid $expand '{text}': unbalanced parentheses or quotes.")
    parts.append(text[start:])
    return parts


def parse_expand(text: str, entity: EntityType, *, nested_depth: int = 0) -> tuple[Expand, ...]:
    if nested_depth >= MAX_EXPAND_DEPTH:
        raise QueryError(f"Invalid $expand: nested deeper than {MAX_EXPAND_DEPTH} levels.")
    expands: list[Expand] = []
    for item in _split(text, ","):
        item = item.strip()
        name, paren, rest = item.partition("(")
        name = name.strip()
        if not name:
            raise QueryError(f"Invalid $expand '{text}': empty navigation property name.")
        inner: dict[str, str] = {}
        if paren:
            if not rest.endswith(")"):
                raise QueryError(f"Invalid $expand '{item}': ')' expected at the end.")
            body = rest[:-1].strip()
            pairs = []
            for option in _split(body, ";") if body else []:
                key, equals, value = option.partition("=")
                if not equals:
                    raise QueryError(f"Invalid $expand '{item}': write nested options as $name=value.")
                pairs.append((key.strip(), value.strip()))
        else:
            pairs = []
        if name == "*":
            if pairs:
                raise QueryError("Invalid $expand: the sandbox takes no options on '*'.")
            for declared in entity.navigations:
                expands.append(Expand(declared, Query(target(declared))))
            continue
        navigation = entity.navigation(name)
        if navigation is None:
            unserved = entity.unserved_navigation(name)
            if unserved is not None:
                raise QueryError(f"Invalid $expand: the sandbox does not serve '{unserved}' of type "
                                 f"'{entity.name}', so it cannot expand it.")
            known = ", ".join(n.name for n in entity.navigations) or "none"
            raise QueryError(
                f"Invalid $expand: could not find a navigation property named '{name}' on type "
                f"'{entity.name}'; it has: {known}."
            )
        allowed = (*COLLECTION_OPTIONS[:-1],) if navigation.collection else ITEM_OPTIONS
        inner = normalize_options(pairs, allowed, f"the $expand of '{navigation.name}'")
        nested_type = target(navigation)
        if navigation.collection:
            query = _collection_query(inner, nested_type, (), nested_depth=nested_depth + 1)
        else:
            query = _item_query(inner, nested_type, nested_depth=nested_depth + 1)
        expands.append(Expand(navigation, query))
    return tuple(expands)


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


def apply_select(entity: dict[str, Any], select: tuple[str, ...] | None) -> dict[str, Any]:
    """Keep the selected properties, ``id`` and ``@odata.*`` annotations."""
    if select is None:
        return entity
    keep = set(select) | {"id"}
    return {k: v for k, v in entity.items() if k in keep or k.startswith("@odata.")}


# ---------------------------------------------------------------------------------------------
# Rows and pages


@dataclass(frozen=True)
class Row:
    """One entity of a collection: its JSON view, its place in insertion order (the last
    tiebreak of every ordering, and the anchor of a $skiptoken), and what it was made from
    (where navigations start)."""

    entity: dict[str, Any]
    order: tuple[int | str, ...]
    source: object = None


# The rows a navigation leads to: a collection, one row, or None (an empty single navigation).
Navigator = Callable[[Navigation, Row], "list[Row] | Row | None"]


@total_ordering
class _Descending:
    """Reverses the order of a sort key part, for ``desc``."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.key == other.key

    def __lt__(self, other: _Descending) -> bool:
        return other.key < self.key

    def __hash__(self) -> int:  # pragma: no cover - keys are compared, never hashed
        return hash(self.key)


def _sort_key(row: Row, orderby: tuple[OrderItem, ...]) -> tuple[Any, ...]:
    parts: list[Any] = []
    for item in orderby:
        value = _sortable(item.ref.prop, _raw(item.ref.path, row.entity))
        parts.append(_Descending(value) if item.descending else value)
    last_descending = bool(orderby) and orderby[-1].descending
    parts.append(_Descending(row.order) if last_descending else row.order)
    return tuple(parts)


def shape(row: Row, query: Query, navigate: Navigator) -> dict[str, Any]:
    """One entity as answered: ``$select`` applied, ``$expand`` navigations added."""
    body = dict(apply_select(row.entity, query.select))
    for expand in query.expand:
        related = navigate(expand.navigation, row)
        name = expand.navigation.name
        if expand.navigation.collection:
            rows = related if isinstance(related, list) else []
            result = page(rows, expand.query, navigate, nested=True)
            if result.count is not None:
                body[f"{name}@odata.count"] = result.count
            body[name] = result.items
        else:
            body[name] = None if not isinstance(related, Row) else shape(related, expand.query, navigate)
    return body


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    count: int | None  # with $count=true: every match, not just this page
    skiptoken: str | None  # where the next page starts, when there is one


def count(rows: Sequence[Row], query: Query) -> int:
    if query.filter is None:
        return len(rows)
    expr = query.filter
    return sum(1 for row in rows if matches(expr, row.entity))


def page(rows: Sequence[Row], query: Query, navigate: Navigator, *, nested: bool = False) -> Page:
    """One page of *rows* (the whole collection) for *query*: filtered, ordered, from the
    $skiptoken's anchor or after $skip, at most $top (default 100) long. Nested (an $expand):
    every match, no paging."""
    expr = query.filter
    matching = [row for row in rows if expr is None or matches(expr, row.entity)]
    keyed = sorted(((_sort_key(row, query.orderby), row) for row in matching), key=lambda pair: pair[0])
    total = len(keyed) if query.count else None
    start = query.skip
    if query.skiptoken is not None and not nested:
        anchor_order = decode_skiptoken(query.skiptoken, query.orderby)
        anchor = next((row for row in rows if row.order == anchor_order), None)
        if anchor is None:
            raise QueryError("The $skiptoken names a position that no longer exists; list again.")
        anchor_key = _sort_key(anchor, query.orderby)
        start = next((i for i, (key, _) in enumerate(keyed) if key > anchor_key), len(keyed))
    size = query.top if query.top is not None else (len(keyed) if nested else DEFAULT_PAGE_SIZE)
    chosen = [row for _, row in keyed[start : start + size]]
    token = None
    if not nested and chosen and start + size < len(keyed):
        token = encode_skiptoken(chosen[-1].order, query.orderby)
    return Page([shape(row, query, navigate) for row in chosen], total, token)


# ---------------------------------------------------------------------------------------------
# $skiptoken: the insertion-order key of the last row served, tied to the ordering


def _fingerprint(orderby: tuple[OrderItem, ...]) -> str:
    canonical = ",".join(item.canonical().lower() for item in orderby)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def encode_skiptoken(order: tuple[int | str, ...], orderby: tuple[OrderItem, ...]) -> str:
    raw = json.dumps({"o": _fingerprint(orderby), "t": list(order)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


_MAX_ORDER = 2**63 - 1  # SQLite's INTEGER


def decode_skiptoken(token: str, orderby: tuple[OrderItem, ...]) -> tuple[int | str, ...]:
    """The anchor in a token made by :func:`encode_skiptoken` for the same ordering.

    A token is client input: bounded in size, strict JSON (no floats, no NaN), exactly the two
    keys with the types and ranges the sandbox writes.
    """
    invalid = QueryError(f"The $skiptoken '{token[:80]}' is not valid; follow @odata.nextLink.")
    if len(token) > _MAX_SKIPTOKEN:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw, parse_constant=_refuse, parse_float=_refuse)
    except (binascii.Error, ValueError, RecursionError):
        raise invalid from None
    if not isinstance(data, dict) or set(data) != {"o", "t"}:
        raise invalid
    fingerprint, order = data["o"], data["t"]
    if not isinstance(order, list) or not 1 <= len(order) <= 4:
        raise invalid
    for part in order:
        if type(part) is int:
            if not -_MAX_ORDER <= part <= _MAX_ORDER:
                raise invalid
        elif not (isinstance(part, str) and len(part) <= 100):
            raise invalid
    if fingerprint != _fingerprint(orderby):
        raise QueryError("The $skiptoken does not match $orderby; follow @odata.nextLink.")
    return tuple(order)


def _refuse(literal: str) -> object:
    raise ValueError(f"{literal} is not allowed in a $skiptoken")

