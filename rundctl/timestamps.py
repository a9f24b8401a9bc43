"""Timestamps of a run: RFC 3339 with an offset, checked strictly, normalised to UTC ``…Z``
with up to 7 fractional digits kept exactly (docs/commands.md, "Timestamps"). Pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from rundctl.jsonio import expected

MAX_FRACTION_DIGITS = 7
_EXAMPLE_TS = "2026-11-01T10:00:00Z"


# Patterns are plain strings compiled on first use (re caches them): imports stay cheap.
_TIMESTAMP = (
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})(?P<sep>[Tt ])"
    r"(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})(?:\.(?P<frac>[0-9]+))?"
    r"(?P<off>[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
_DATE_ONLY = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_WEEK_DATE = r"[0-9]{4}-?[Ww][0-9]{2}.*"
_ORDINAL_DATE = r"[0-9]{4}-[0-9]{3}(?:[Tt].*)?"
_BASIC_FORMAT = r"[0-9]{8}(?:[Tt][0-9].*)?"


def format_utc(dt: datetime) -> str:
    """An aware datetime as ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` (microseconds if non-zero)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("format_utc needs an aware datetime")
    u = dt.astimezone(UTC)
    text = f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
    if u.microsecond:
        text += f".{u.microsecond:06d}"
    return text + "Z"


def parse_timestamp(value: object, *, allow_now: bool = False, now: datetime | None = None) -> str:
    """Check an RFC 3339 date-time with offset; return it in UTC ``...Z`` form.

    Raises ValueError whose message says what was expected. ``now`` (any case) is accepted
    only with ``allow_now`` (flags), and then means the aware datetime ``now``.
    """
    if not isinstance(value, str):
        raise ValueError(expected(f"a string (RFC 3339 timestamp like {_EXAMPLE_TS})", value))
    if value.lower() == "now":
        if not allow_now:
            raise ValueError(
                "'now' is accepted only on flags (--start, --end); "
                f"give an RFC 3339 timestamp like {_EXAMPLE_TS}"
            )
        if now is None or now.tzinfo is None:
            raise TypeError("parse_timestamp: 'now' needs an aware datetime")
        return format_utc(now)

    match = re.fullmatch(_TIMESTAMP, value)
    if match is None:
        raise ValueError(_shape_problem(value))
    sep, frac, off = match["sep"], match["frac"] or "", match["off"]
    if sep == " ":
        raise ValueError(f"'{value}' separates date and time with a space; use 'T' (RFC 3339)")
    if off is None:
        raise ValueError(f"'{value}' has no UTC offset; add Z or ±hh:mm (RFC 3339)")
    if off not in ("Z", "z") and (len(off) != 6 or off[3] != ":"):
        better = f"{off[:3]}:{off[3:] or '00'}"
        raise ValueError(f"'{value}' has offset '{off}'; write it as ±hh:mm, e.g. '{better}'")
    if len(frac) > MAX_FRACTION_DIGITS:
        raise ValueError(
            f"'{value}' has {len(frac)} fractional digits; at most {MAX_FRACTION_DIGITS} "
            "(100 ns) are supported"
        )
    year, month, day = int(match["y"]), int(match["mo"]), int(match["d"])
    hour, minute, second = int(match["h"]), int(match["mi"]), int(match["s"])
    if hour == 24:
        raise ValueError(f"'{value}': hour 24 is not allowed; use 00:00:00 of the next day")
    if second == 60:
        raise ValueError(f"'{value}': leap seconds (:60) are not supported; use :59")
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"'{value}' is not a valid time of day")
    if year < 1:
        raise ValueError(f"'{value}': year 0000 is out of range (0001-9999)")
    if not 1 <= month <= 12:
        raise ValueError(f"'{value}': month {month:02d} is out of range (01-12)")
    try:
        local = datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise ValueError(
            f"'{value}' is not a valid calendar date (day {day:02d} of month {month:02d})"
        ) from None
    if off in ("Z", "z"):
        utc = local
    else:
        off_hours, off_minutes = int(off[1:3]), int(off[4:6])
        if off_hours > 23 or off_minutes > 59:
            raise ValueError(f"'{value}' has offset '{off}', which is out of range")
        delta = timedelta(hours=off_hours, minutes=off_minutes)
        try:
            utc = local - delta if off[0] == "+" else local + delta
        except OverflowError:
            raise ValueError(f"'{value}' is out of range after conversion to UTC (years 0001-9999)") from None
    text = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    return f"{text}.{frac}Z" if frac else f"{text}Z"


def _shape_problem(value: str) -> str:
    """Explain why ``value`` does not even look like an RFC 3339 date-time."""
    rfc = f"give an RFC 3339 date-time like {_EXAMPLE_TS}"
    if re.fullmatch(_DATE_ONLY, value):
        return f"'{value}' is a date without a time; give a date-time like {value}T00:00:00Z"
    if re.fullmatch(_WEEK_DATE, value):
        return f"'{value}' is an ISO 8601 week date; {rfc}"
    if re.fullmatch(_ORDINAL_DATE, value):
        return f"'{value}' is an ISO 8601 ordinal date; {rfc}"
    if re.fullmatch(_BASIC_FORMAT, value):
        return f"'{value}' is in ISO 8601 basic format; use the extended form like {_EXAMPLE_TS}"
    return f"'{value}' is not an RFC 3339 timestamp; {rfc}"


def timestamp_key(utc: str) -> tuple[str, int]:
    """Sort key of a :func:`parse_timestamp` result, exact to the 7th fractional digit."""
    seconds, _, frac = utc.rstrip("Z").partition(".")
    return seconds, int(frac.ljust(MAX_FRACTION_DIGITS, "0"))


def _try_timestamp(value: object) -> str | None:
    try:
        return parse_timestamp(value)
    except ValueError:
        return None
