"""The run payload (docs/commands.md): statuses, timestamps, validation, normalisation, flag merging.

Pure: no I/O, no network, no rich. Validation never stops at the first problem: every
function that checks input returns (or raises :class:`InvalidInput` with) ALL problems, each
with its JSON path such as ``blockingError.details[1].code``.

Timestamps travel as strings in the UTC form ``YYYY-MM-DDTHH:MM:SS[.fffffff]Z``. The
fraction is kept exactly as given (up to 7 digits, the 100 ns resolution of .NET's
DateTimeOffset): offsets are whole minutes, so converting to UTC never touches it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rundctl import vocab
from rundctl.errors import InvalidInput, Problem
from rundctl.jsonio import expected as _expected
from rundctl.jsonio import json_path, json_type, loads_strict
from rundctl.timestamps import MAX_FRACTION_DIGITS as MAX_FRACTION_DIGITS
from rundctl.timestamps import _try_timestamp
from rundctl.timestamps import format_utc as format_utc
from rundctl.timestamps import parse_timestamp as parse_timestamp
from rundctl.timestamps import timestamp_key as timestamp_key

RUN_STATUSES: tuple[str, ...] = vocab.RUN_STATUSES
FINAL_STATUSES: frozenset[str] = frozenset(RUN_STATUSES) - {"running"}
RESERVED_STATUS = "unknownFutureValue"
RUN_ODATA_TYPE = "#microsoft.industryData.run"
RUN_FIELDS: tuple[str, ...] = (
    "displayName",
    "startDateTime",
    "endDateTime",
    "status",
    "blockingError",
    "statistics",
)
SERVER_FIELDS: tuple[str, ...] = ("id", "@odata.context", "@odata.etag")

REQUIRED_FIELDS: tuple[str, ...] = ("displayName", "startDateTime", "status", "statistics")
ODATA_TYPE = "@odata.type"

_STATUS_BY_LOWER = {s.lower(): s for s in RUN_STATUSES}
_STATUS_LIST = ", ".join(RUN_STATUSES)
_ERROR_FIELDS: tuple[str, ...] = ("code", "message", "target", "details", "innerError")
_INNER_ERROR_FIELDS: tuple[str, ...] = ("code", "message", "target", "details")
_DETAIL_FIELDS: tuple[str, ...] = ("code", "message", "target")
_SERVER_HINT = "assigned by the service; remove it from the input"
_MISSING = "required field is missing"


# --------------------------------------------------------------------------- helpers


def is_annotation(key: str) -> bool:
    """OData annotations (``@odata.type``, ``x@odata.type``, ...) are passed through."""
    return "@odata." in key


def suggest(word: str, choices: Sequence[str]) -> str | None:
    """The closest of ``choices`` to ``word`` (case-insensitive), or None."""
    import difflib  # only when there is something to suggest

    by_lower = {c.lower(): c for c in choices}
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[matches[0]] if matches else None


def _unknown_field(key: str, known: Sequence[str]) -> str:
    guess = suggest(key, known)
    if guess is not None:
        return f"unknown field '{key}' (did you mean '{guess}'?)"
    return f"unknown field '{key}' (known fields: {', '.join(known)})"


class _Problems:
    """Collects problems for one record (one NDJSON line)."""

    def __init__(self, line: int | None = None) -> None:
        self.line = line
        self.items: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(Problem(path, message, self.line))


def _sub(path: str, key: str | int) -> str:
    """Extend a JSON path by a key or an index."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    piece = json_path([key])
    if not path or piece.startswith("["):
        return path + piece
    return f"{path}.{piece}"


# --------------------------------------------------------------------------- status


def normalize_status(value: str) -> str | None:
    """``"COMPLETED"`` -> ``"completed"``; None when not one of RUN_STATUSES."""
    if not isinstance(value, str):
        return None
    return _STATUS_BY_LOWER.get(value.lower())


def status_problem(value: object) -> str | None:
    """Why ``value`` is not a valid status (None when it is)."""
    if not isinstance(value, str):
        return _expected("a string", value)
    if normalize_status(value) is not None:
        return None
    if value.lower() == RESERVED_STATUS.lower():
        return f"'{value}' is a reserved sentinel, not a status; use one of {_STATUS_LIST}"
    message = f"'{value}' is not one of {_STATUS_LIST}"
    guess = suggest(value, RUN_STATUSES) if value else None
    return f"{message} (did you mean '{guess}'?)" if guess else message


# --------------------------------------------------------------------------- statistics


def parse_stat_assignment(text: str) -> tuple[list[str], object]:
    """``"inbound.people=42"`` -> ``(["inbound", "people"], 42)``.

    VALUE is parsed as strict JSON when it is valid JSON, else kept as a string.
    """
    key, sep, raw = text.partition("=")
    if not sep:
        raise ValueError(f"expected KEY=VALUE, got '{text}'")
    if not key:
        raise ValueError(f"the key is empty in '{text}'; expected KEY=VALUE")
    segments = key.split(".")
    if not all(segments):
        raise ValueError(f"key '{key}' has an empty segment; write dotted keys like a.b")
    value: object
    try:
        value = loads_strict(raw)
    except InvalidInput:
        value = raw
    return segments, value


def _set_stats(statistics: dict[str, object], stats: Sequence[str], problems: _Problems) -> dict[str, object]:
    """Apply each ``--stat K=V`` to ``statistics`` (modified in place and returned)."""
    for text in stats:
        try:
            segments, value = parse_stat_assignment(text)
        except ValueError as exc:
            problems.add("statistics", f"--stat: {exc}")
            continue
        target = statistics
        for depth, segment in enumerate(segments[:-1]):
            child = target.get(segment)
            if child is None:
                child = target[segment] = {}
            if not isinstance(child, dict):
                path = json_path(["statistics", *segments[: depth + 1]])
                problems.add(
                    path,
                    f"--stat {text}: cannot set a key inside {json_type(child)} (expected an object)",
                )
                break
            target = child
        else:
            target[segments[-1]] = value
    return statistics


# --------------------------------------------------------------------------- validation


def _check_string(value: object, path: str, problems: _Problems, *, nullable: bool) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        problems.add(path, _expected("a string", value))


def _check_annotation(key: str, value: object, path: str, problems: _Problems) -> None:
    if key == ODATA_TYPE and not isinstance(value, str):
        problems.add(path, _expected("a string", value))


def _check_error_object(value: object, path: str, problems: _Problems, known: Sequence[str],
                        *, open_type: bool = False) -> None:
    """blockingError (``known`` = _ERROR_FIELDS), its innerError, or one of the details.

    With *open_type* (innerError: ``publicInnerError`` is an OData open type in Microsoft's
    metadata) properties beyond *known* are allowed, with any JSON value."""
    if not isinstance(value, dict):
        problems.add(path, _expected("an object", value))
        return
    for key, item in value.items():
        sub = _sub(path, key)
        if is_annotation(key):
            _check_annotation(key, item, sub, problems)
        elif key not in known:
            if not open_type:
                problems.add(sub, _unknown_field(key, known))
        elif key == "details":
            if item is None:
                continue
            if not isinstance(item, list):
                problems.add(sub, _expected("an array", item))
                continue
            for index, detail in enumerate(item):
                _check_error_object(detail, _sub(sub, index), problems, _DETAIL_FIELDS)
        elif key == "innerError":
            if item is not None:
                _check_error_object(item, sub, problems, _INNER_ERROR_FIELDS, open_type=True)
        else:
            _check_string(item, sub, problems, nullable=True)


def _check_field(key: str, value: object, problems: _Problems) -> None:
    """Check one run field on its own (cross-field rules are in :func:`_check_consistency`)."""
    if key == "displayName":
        if not isinstance(value, str):
            problems.add(key, _expected("a string", value))
        elif not value.strip():
            problems.add(key, "must not be empty or blank")
    elif key in ("startDateTime", "endDateTime"):
        if key == "endDateTime" and value is None:
            return
        try:
            parse_timestamp(value)
        except ValueError as exc:
            problems.add(key, str(exc))
    elif key == "status":
        message = status_problem(value)
        if message is not None:
            problems.add(key, message)
    elif key == "blockingError":
        if value is not None:
            _check_error_object(value, key, problems, _ERROR_FIELDS)
    elif key == "statistics" and not isinstance(value, dict):
        problems.add(key, _expected("a JSON object", value))


def _check_other_key(key: str, value: object, problems: _Problems) -> None:
    """A top-level key that is not a run field: server field, annotation or unknown."""
    if key in SERVER_FIELDS:
        problems.add(key, f"'{key}' is {_SERVER_HINT}")
    elif is_annotation(key):
        _check_annotation(key, value, key, problems)
    else:
        problems.add(key, _unknown_field(key, RUN_FIELDS))


def _check_consistency(run: Mapping[str, object], problems: _Problems, *, why: str = "") -> None:
    """end ≥ start, and no end while running. Fields that are invalid on their own are skipped.

    ``why`` is appended to the "running" message (update: which value came from the stored run).
    """
    end_value = run.get("endDateTime")
    if end_value is None:
        return
    status = run.get("status")
    if isinstance(status, str) and normalize_status(status) == "running":
        problems.add("endDateTime", f"must be null while status is 'running'{why}")
    start = _try_timestamp(run.get("startDateTime"))
    end = _try_timestamp(end_value)
    if start is not None and end is not None and timestamp_key(end) < timestamp_key(start):
        problems.add("endDateTime", f"{end} is before startDateTime {start}")


def validate_run(record: object, *, line: int | None = None) -> list[Problem]:
    """Every problem of a run to create (docs/commands.md); an empty list means valid."""
    problems = _Problems(line)
    if not isinstance(record, dict):
        problems.add("", _expected("a JSON object", record))
        return problems.items
    for key in RUN_FIELDS:
        if key in record:
            _check_field(key, record[key], problems)
        elif key in REQUIRED_FIELDS:
            problems.add(key, _MISSING)
    for key, value in record.items():
        if key not in RUN_FIELDS:
            _check_other_key(key, value, problems)
    _check_consistency(record, problems)
    return problems.items


def normalize_run(record: dict[str, object]) -> dict[str, object]:
    """The wire form of a valid run: ``@odata.type`` first, UTC timestamps, canonical status.

    Nested values are shared with ``record``, not copied.
    """
    out: dict[str, object] = {ODATA_TYPE: record.get(ODATA_TYPE, RUN_ODATA_TYPE)}
    out["displayName"] = record["displayName"]
    out["startDateTime"] = parse_timestamp(record["startDateTime"])
    if "endDateTime" in record:
        end = record["endDateTime"]
        out["endDateTime"] = None if end is None else parse_timestamp(end)
    status = record["status"]
    out["status"] = normalize_status(status) if isinstance(status, str) else status
    if "blockingError" in record:
        out["blockingError"] = record["blockingError"]
    out["statistics"] = record["statistics"]
    for key, value in record.items():
        if key != ODATA_TYPE and key not in RUN_FIELDS and is_annotation(key):
            out[key] = value
    return out


# --------------------------------------------------------------------------- flags


@dataclass
class Overrides:
    """Values from command-line flags; None (or an empty list) means "not given"."""

    display_name: str | None = None
    start: str | None = None
    end: str | None = None
    status: str | None = None
    statistics: object | None = None
    stats: list[str] = field(default_factory=list)
    blocking_error: object | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_target: str | None = None

    def is_empty(self) -> bool:
        return not self.stats and all(
            value is None
            for value in (
                self.display_name,
                self.start,
                self.end,
                self.status,
                self.statistics,
                self.blocking_error,
                self.error_code,
                self.error_message,
                self.error_target,
            )
        )

    def has_error_fields(self) -> bool:
        return any(v is not None for v in (self.error_code, self.error_message, self.error_target))


def _flag_timestamp(raw: str, flag: str, path: str, now: datetime, problems: _Problems) -> str | None:
    try:
        return parse_timestamp(raw, allow_now=True, now=now)
    except ValueError as exc:
        problems.add(path, f"{flag}: {exc}")
        return None


def _flag_values(
    overrides: Overrides,
    now: datetime,
    problems: _Problems,
    base_statistics: object,
    base_error: object,
) -> tuple[dict[str, object], set[str]]:
    """The fields the flags set, and the fields whose flag value was bad (left out).

    ``base_statistics`` / ``base_error``: what ``--stat`` / ``--error-*`` build on when
    ``--statistics`` / ``--blocking-error`` are not given.
    """
    values: dict[str, object] = {}
    bad: set[str] = set()
    if overrides.display_name is not None:
        values["displayName"] = overrides.display_name
    for raw, flag, key in (
        (overrides.start, "--start", "startDateTime"),
        (overrides.end, "--end", "endDateTime"),
    ):
        if raw is not None:
            stamp = _flag_timestamp(raw, flag, key, now, problems)
            if stamp is None:
                bad.add(key)
            else:
                values[key] = stamp
    if overrides.status is not None:
        message = status_problem(overrides.status)
        if message is None:
            values["status"] = normalize_status(overrides.status)
        else:
            problems.add("status", f"--status: {message}")
            bad.add("status")

    statistics = overrides.statistics if overrides.statistics is not None else base_statistics
    if overrides.statistics is not None and not isinstance(overrides.statistics, dict):
        problems.add("statistics", f"--statistics: {_expected('a JSON object', statistics)}")
        bad.add("statistics")
    elif overrides.stats:
        if statistics is None:
            statistics = {}
        if isinstance(statistics, dict):
            values["statistics"] = _set_stats(copy.deepcopy(statistics), overrides.stats, problems)
        else:
            problems.add("statistics", f"--stat: cannot set keys in {json_type(statistics)}")
            bad.add("statistics")
    elif overrides.statistics is not None:
        values["statistics"] = copy.deepcopy(overrides.statistics)

    error = overrides.blocking_error if overrides.blocking_error is not None else base_error
    if overrides.blocking_error is not None and not isinstance(overrides.blocking_error, dict):
        problems.add("blockingError", f"--blocking-error: {_expected('a JSON object', error)}")
        bad.add("blockingError")
    elif overrides.has_error_fields():
        if error is None:
            error = {}
        if isinstance(error, dict):
            merged = copy.deepcopy(error)
            for key, raw_value in (
                ("code", overrides.error_code),
                ("message", overrides.error_message),
                ("target", overrides.error_target),
            ):
                if raw_value is not None:
                    merged[key] = raw_value
            values["blockingError"] = merged
        else:
            problems.add("blockingError", f"--error-*: cannot set keys in {json_type(error)}")
            bad.add("blockingError")
    elif overrides.blocking_error is not None:
        values["blockingError"] = copy.deepcopy(overrides.blocking_error)
    return values, bad


def apply_overrides(
    record: dict[str, object] | None, overrides: Overrides, *, now: datetime
) -> tuple[dict[str, object], list[Problem]]:
    """Merge flags over ``record`` (None: flags only); return it and the flags' own problems.

    ``record`` is not modified. A field whose flag value is bad is left out of the result.
    """
    merged: dict[str, object] = dict(record) if record is not None else {}
    problems = _Problems()
    values, bad = _flag_values(
        overrides, now, problems, merged.get("statistics"), merged.get("blockingError")
    )
    for key in bad:
        merged.pop(key, None)
    merged.update(values)
    return merged, problems.items


def build_create_payload(
    record: object | None, overrides: Overrides, *, now: datetime, line: int | None = None
) -> dict[str, object]:
    """The body of a create: flags merged over ``record``, validated, normalised.

    Raises InvalidInput with every problem (flags first, then the record's).
    """
    if record is not None and not isinstance(record, dict):
        _, flag_problems = apply_overrides(None, overrides, now=now)
        raise InvalidInput([Problem("", _expected("a JSON object", record), line), *flag_problems])
    merged, flag_problems = apply_overrides(record, overrides, now=now)
    flagged = {p.path for p in flag_problems}
    problems = [
        *flag_problems,
        *(p for p in validate_run(merged, line=line) if not (p.path in flagged and p.message == _MISSING)),
    ]
    if problems:
        raise InvalidInput(problems)
    return normalize_run(merged)


def _nothing_to_update() -> InvalidInput:
    return InvalidInput(
        [
            Problem(
                "",
                "nothing to update: give --status, --end, --start, --name, --statistics, "
                "--stat, --blocking-error or --error-code/--error-message/--error-target",
            )
        ]
    )


def build_patch_payload(
    overrides: Overrides, stored: dict[str, object] | None, *, now: datetime
) -> dict[str, object]:
    """The body of ``rundctl update``: only the fields given, validated.

    ``--stat`` alone builds on the stored statistics (or ``{}``), ``--error-*`` alone on the
    stored blockingError. With ``stored``, the run as it would be after the patch is checked
    (end ≥ start, no end while running).
    """
    if overrides.is_empty():
        raise _nothing_to_update()
    problems = _Problems()
    base = stored or {}
    values, _ = _flag_values(overrides, now, problems, base.get("statistics"), base.get("blockingError"))
    patch = {key: values[key] for key in RUN_FIELDS if key in values}
    for key, value in patch.items():
        _check_field(key, value, problems)
    if not problems.items:
        _check_patched(patch, stored, problems)
    if problems.items:
        raise InvalidInput(problems.items)
    if not patch:
        raise _nothing_to_update()
    return patch


def _check_patched(
    patch: Mapping[str, object], stored: Mapping[str, object] | None, problems: _Problems
) -> None:
    if stored is None:
        _check_consistency(patch, problems)
        return
    if not {"startDateTime", "endDateTime", "status"} & patch.keys():
        return  # the patch cannot make the run inconsistent (and we don't blame stored data)
    why = ""
    if "status" not in patch:
        why = " (the run's status is 'running'; give a final status too)"
    elif "endDateTime" not in patch:
        why = f" (the run already has endDateTime {stored.get('endDateTime')})"
    _check_consistency(merge_patch(dict(stored), dict(patch)), problems, why=why)


def validate_patch(patch: object, stored: dict[str, object] | None = None) -> list[Problem]:
    """Every problem of a PATCH body (server side, used by the sandbox)."""
    problems = _Problems()
    if not isinstance(patch, dict):
        problems.add("", _expected("a JSON object", patch))
        return problems.items
    for key, value in patch.items():
        if key in RUN_FIELDS:
            if value is None and key in REQUIRED_FIELDS:
                problems.add(key, "must not be null")
            else:
                _check_field(key, value, problems)
        else:
            _check_other_key(key, value, problems)
    if not problems.items:
        _check_patched(patch, stored, problems)
    return problems.items


def merge_patch(stored: dict[str, object], patch: dict[str, object]) -> dict[str, object]:
    """``stored`` updated by ``patch`` (shallow), with the patch's timestamps in UTC form and
    its status canonical. Values that do not parse are kept as given."""
    merged = dict(stored)
    for key, value in patch.items():
        if key in ("startDateTime", "endDateTime") and value is not None:
            value = _try_timestamp(value) or value
        elif key == "status" and isinstance(value, str):
            value = normalize_status(value) or value
        merged[key] = value
    return merged
