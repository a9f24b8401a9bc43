"""The JSON Schema of a run as ``rundctl create`` / ``validate`` accept it (``rundctl schema``).

It mirrors :mod:`rundctl.model` (docs/commands.md) as far as JSON Schema can say it. What the schema
cannot express, rundctl still checks, and the descriptions say so:
- ``status`` is accepted in any case by rundctl (``Completed`` becomes ``completed``); the
  schema lists the canonical spelling only;
- ``endDateTime`` must not be before ``startDateTime``;
- an instant must stay within the years 0001-9999 once converted to UTC.

The patterns are written for both ECMA-262 (what JSON Schema validators use) and Python's
``re``: no named groups, no flags, no ``\\z``. ``$(?!\\n)`` ends them because Python's ``$``
would also match before a trailing newline.
"""

from __future__ import annotations

from rundctl.model import (
    MAX_FRACTION_DIGITS,
    REQUIRED_FIELDS,
    RESERVED_STATUS,
    RUN_ODATA_TYPE,
    RUN_STATUSES,
    SERVER_FIELDS,
)

SCHEMA_ID = "https://rundctl.invalid/schema/run.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

# Years 0001-9999 (0000 is out of range), then a day that exists in that month.
_YEAR = r"(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = (
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"  # every month has days 01-28
    r"|(?:0[13-9]|1[0-2])-(?:29|30)"  # all but February have 29 and 30
    r"|(?:0[13578]|1[02])-31)"  # the long months have 31
)
_DATE = rf"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_TIME = (
    r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"  # no hour 24, no leap second
    rf"(?:\.[0-9]{{1,{MAX_FRACTION_DIGITS}}})?"
)
_OFFSET = r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"

#: RFC 3339 date-time WITH an offset (Z or ±hh:mm), at most 7 fractional digits.
TIMESTAMP_PATTERN = rf"^{_DATE}{_TIME}{_OFFSET}$(?!\n)"
#: At least one character that is not white space (``displayName`` must not be blank).
DISPLAY_NAME_PATTERN = r"\S"
#: OData annotations (``@odata.type``, ``x@odata.type``, ...) are passed through.
ANNOTATION_PATTERN = r"@odata\."

_NULLABLE_STRING: dict[str, object] = {"type": ["string", "null"]}


def _annotated_object(
    properties: dict[str, object], description: str, required: list[str] | None = None
) -> dict[str, object]:
    """An object with the given properties, plus OData annotations, and nothing else."""
    schema: dict[str, object] = {
        "type": "object",
        "description": description,
        "properties": {**properties, "@odata.type": {"type": "string"}},
        "patternProperties": {ANNOTATION_PATTERN: {}},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def _timestamp(description: str, nullable: bool = False) -> dict[str, object]:
    return {
        "type": ["string", "null"] if nullable else "string",
        "format": "date-time",
        "pattern": TIMESTAMP_PATTERN,
        "description": description,
    }


def _open(schema: dict[str, object]) -> dict[str, object]:
    """An OData open type: properties beyond the declared ones are allowed."""
    return {**schema, "additionalProperties": True}


def run_schema() -> dict[str, object]:
    """The JSON Schema (draft 2020-12) of one run to create; a fresh dict on every call."""
    statuses = ", ".join(RUN_STATUSES)
    defs: dict[str, object] = {
        "timestamp": _timestamp(
            "RFC 3339 date-time with Z or ±hh:mm (no naive, date-only, week-date or basic-format "
            f"times), at most {MAX_FRACTION_DIGITS} fractional digits (100 ns). rundctl sends it "
            "as UTC ...Z, keeping the fraction exactly. The instant must stay within years "
            "0001-9999 in UTC."
        ),
        "errorDetail": _annotated_object(
            {"code": _NULLABLE_STRING, "message": _NULLABLE_STRING, "target": _NULLABLE_STRING},
            "One detail of an error: code, message, target.",
        ),
        "innerError": _open(_annotated_object(
            {
                "code": _NULLABLE_STRING,
                "message": _NULLABLE_STRING,
                "target": _NULLABLE_STRING,
                "details": {
                    "type": ["array", "null"],
                    "items": {"$ref": "#/$defs/errorDetail"},
                },
            },
            "The inner error of a publicError: code, message, target, details; an open "
            "type, so other properties are allowed too.",
        )),
        "publicError": _annotated_object(
            {
                "code": _NULLABLE_STRING,
                "message": _NULLABLE_STRING,
                "target": _NULLABLE_STRING,
                "details": {
                    "type": ["array", "null"],
                    "items": {"$ref": "#/$defs/errorDetail"},
                },
                "innerError": {
                    "anyOf": [{"type": "null"}, {"$ref": "#/$defs/innerError"}],
                },
            },
            "microsoft.graph.publicError: why the run was blocked.",
        ),
    }
    properties: dict[str, object] = {
        "@odata.type": {
            "type": "string",
            "description": f"The entity type; rundctl sends {RUN_ODATA_TYPE!r} when absent.",
            "default": RUN_ODATA_TYPE,
        },
        "displayName": {
            "type": "string",
            "minLength": 1,
            "pattern": DISPLAY_NAME_PATTERN,
            "description": "The run's name; required, not empty or blank.",
        },
        "startDateTime": _timestamp(
            "When the run started (required). RFC 3339 with Z or ±hh:mm; sent as UTC ...Z."
        ),
        "endDateTime": _timestamp(
            "When the run ended: null or absent while status is 'running'; not before "
            "startDateTime (checked by rundctl). RFC 3339 with Z or ±hh:mm.",
            nullable=True,
        ),
        "status": {
            "type": "string",
            "enum": list(RUN_STATUSES),
            "description": f"One of {statuses}. rundctl accepts any case and sends the "
            f"canonical spelling; '{RESERVED_STATUS}' is a reserved sentinel and is rejected.",
        },
        "blockingError": {
            "anyOf": [{"type": "null"}, {"$ref": "#/$defs/publicError"}],
            "description": "Optional publicError: code, message, target, details[], "
            "innerError.",
        },
        "statistics": {
            "type": "object",
            "description": "runStatistics: any JSON object (weakly typed; any keys).",
        },
    }
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": "rundctl run",
        "description": (
            "One run as `rundctl create` and `rundctl validate` accept it (a file may hold one "
            "such object, a JSON array of them, or NDJSON: one per line). Unknown fields are "
            "errors; OData annotations (keys containing '@odata.') pass through; the "
            f"server-assigned fields {', '.join(SERVER_FIELDS)} must not be given. Beyond this "
            "schema rundctl also checks that endDateTime is not before startDateTime, and it "
            "accepts status in any case."
        ),
        "type": "object",
        "required": list(REQUIRED_FIELDS),
        "properties": properties,
        "patternProperties": {ANNOTATION_PATTERN: {}},
        "additionalProperties": False,
        "not": {
            "description": "Server-assigned fields are not input.",
            "anyOf": [{"required": [name]} for name in SERVER_FIELDS],
        },
        "if": {"required": ["status"], "properties": {"status": {"const": "running"}}},
        "then": {"properties": {"endDateTime": {"type": "null"}}},
        "$defs": defs,
        "examples": [
            {
                "@odata.type": RUN_ODATA_TYPE,
                "displayName": "Nightly import",
                "startDateTime": "2026-11-01T10:00:00Z",
                "status": "running",
                "statistics": {"people": 0},
            },
            {
                "displayName": "Nightly import",
                "startDateTime": "2026-11-01T10:00:00+01:00",
                "endDateTime": "2026-11-01T10:30:00.1234567Z",
                "status": "completedWithErrors",
                "blockingError": {"code": "partial", "message": "3 rows rejected",
                                  "target": None, "details": []},
                "statistics": {"people": 1200, "inbound": {"rows": 1203}},
            },
        ],
    }
