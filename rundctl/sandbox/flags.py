"""The sandbox's fault settings as command-line flags: ONE table (:data:`FAULT_SETTINGS`)
and the parsers of their values. Light on purpose (no random, threading or dataclasses):
every ``rundctl`` start reads it to declare ``rundctl sandbox``'s flags.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

DEFAULT_CODES = (429, 500, 503)


_WINDOW = re.compile(r"(\d+(?:\.\d+)?)?\s*(ms|s|sec|m|min|h)?")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, None: 1.0}


def parse_rate_limit(text: str) -> tuple[int, float]:
    """``"10/1s"``, ``"100/60"`` (seconds), ``"5/1m"``, ``"5/m"`` → (requests, window seconds)."""
    count_text, slash, window_text = text.strip().partition("/")
    if not slash:
        raise ValueError(f"rate limit '{text}': write N/WINDOW, e.g. 10/1s, 100/60 or 5/1m")
    count_text, window_text = count_text.strip(), window_text.strip().lower()
    if not count_text.isdigit() or int(count_text) < 1:
        raise ValueError(f"rate limit '{text}': the request count must be a whole number >= 1")
    match = _WINDOW.fullmatch(window_text)
    if not window_text or match is None or (match.group(1) is None and match.group(2) is None):
        raise ValueError(f"rate limit '{text}': the window must look like 1s, 60, 500ms, 1m or 1h")
    number = float(match.group(1)) if match.group(1) is not None else 1.0
    window = number * _UNIT_SECONDS[match.group(2)]
    if window <= 0:
        raise ValueError(f"rate limit '{text}': the window must be longer than zero")
    return int(count_text), window


def parse_latency(text: str) -> tuple[int, int]:
    """``"200"`` → (200, 200); ``"100-300"`` → (100, 300); milliseconds."""
    parts = [p.strip().removesuffix("ms").strip() for p in text.strip().split("-")]
    if len(parts) not in (1, 2) or not all(p.isdigit() for p in parts):
        raise ValueError(f"latency '{text}': write milliseconds MS or a range MS-MS, e.g. 200 or 100-300")
    low, high = int(parts[0]), int(parts[-1])
    if high < low:
        raise ValueError(f"latency '{text}': the range's low end {low} is above its high end {high}")
    return low, high


def parse_codes(text: str) -> tuple[int, ...]:
    """``"429,500,503"`` → (429, 500, 503): HTTP error statuses, duplicates dropped."""
    codes: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not 400 <= int(part) <= 599:
            shown = part or "(empty)"
            raise ValueError(
                f"fail codes '{text}': {shown} is not an HTTP error status (400-599); "
                "write a comma-separated list, e.g. 429,500,503"
            )
        if int(part) not in codes:
            codes.append(int(part))
    return tuple(codes)


# ---------------------------------------------------------------------------------------------
# The settings, written once


class FaultSetting(NamedTuple):
    """One fault setting: the option it sets and the command-line flag that sets it."""

    name: str  # the FaultOptions / SandboxOptions field, e.g. "latency_ms"
    flag: str  # "--latency"
    metavar: str  # "MS[-MS]"; "" for a boolean switch
    help: str
    default: object  # the flag's value when it is not given (before `parse`)
    kind: type  # the flag value's Python type (int, float, str or bool); None is allowed too
    parse: Callable[[Any], Any] | None = None  # flag value -> option value; None = as is
    min: float | None = None  # inclusive bounds of a numeric flag
    max: float | None = None

    def convert(self, raw: object) -> Any:
        """The option value for a flag value (None stays None); ValueError if it is invalid."""
        if raw is None:
            return None
        value = _as_kind(raw, self.kind)
        if self.min is not None and not value >= self.min:
            raise ValueError(f"{raw!r} is below the minimum {self.min:g}")
        if self.max is not None and not value <= self.max:
            raise ValueError(f"{raw!r} is above the maximum {self.max:g}")
        return value if self.parse is None else self.parse(value)

    def option_default(self) -> Any:
        return self.convert(self.default)


def _as_kind(raw: object, kind: type) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        raise ValueError(f"expected true or false, not {raw!r}")
    if isinstance(raw, bool):  # bool is an int subclass: never a number here
        raise ValueError(f"expected a {kind.__name__}, not {raw!r}")
    if kind is int and isinstance(raw, int):
        return raw
    if kind is float and isinstance(raw, int | float):
        return float(raw)
    if kind is str and isinstance(raw, str):
        return raw
    if isinstance(raw, str) and kind in (int, float):
        try:
            return kind(raw.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a {'whole number' if kind is int else kind.__name__}, not {raw!r}")


FAULT_SETTINGS: tuple[FaultSetting, ...] = (
    FaultSetting(
        name="seed",
        flag="--seed",
        metavar="N",
        help="Make the faults below repeatable.",
        default=None,
        kind=int,
    ),
    FaultSetting(
        name="fail_rate",
        flag="--fail-rate",
        metavar="R",
        help="Answer this share of requests (0-1) with one of --fail-codes.",
        default=0.0,
        kind=float,
        min=0.0,
        max=1.0,
    ),
    FaultSetting(
        name="fail_codes",
        flag="--fail-codes",
        metavar="CODES",
        help="Status codes for --fail-rate.",
        default=",".join(map(str, DEFAULT_CODES)),
        kind=str,
        parse=parse_codes,
    ),
    FaultSetting(
        name="retry_after",
        flag="--retry-after",
        metavar="S",
        help="Retry-After on injected 429/503.",
        default=None,
        kind=float,
        min=0.0,
    ),
    FaultSetting(
        name="latency_ms",
        flag="--latency",
        metavar="MS[-MS]",
        help="Delay every answer.",
        default=None,
        kind=str,
        parse=parse_latency,
    ),
    FaultSetting(
        name="rate_limit",
        flag="--rate-limit",
        metavar="N/WINDOW",
        help="e.g. 10/1s: RateLimit-* headers, then 429.",
        default=None,
        kind=str,
        parse=parse_rate_limit,
    ),
    FaultSetting(
        name="retry_after_strict",
        flag="--retry-after-strict",
        metavar="",
        help="429 again when a client comes back before Retry-After.",
        default=False,
        kind=bool,
    ),
    FaultSetting(
        name="fault_after_commit",
        flag="--fault-after-commit",
        metavar="",
        help="Injected failures on POST/PATCH happen after the change is stored "
        "(500 or a dropped connection).",
        default=False,
        kind=bool,
    ),
)
_BY_NAME = {setting.name: setting for setting in FAULT_SETTINGS}


def _default(name: str) -> Any:
    return _BY_NAME[name].option_default()
