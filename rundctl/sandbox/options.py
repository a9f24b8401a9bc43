"""The sandbox's own settings that are not faults: which API surface it serves, the limit on
``start`` and the service's schedule — their values and how flag (or profile) text becomes
them. Pure parsing, importable without the server (``rundctl sandbox`` and
``--endpoint sandbox`` both use it).
"""

from __future__ import annotations

import re
from typing import Literal

Surface = Literal["both", "published", "draft"]
SURFACES: tuple[Surface, ...] = ("both", "published", "draft")
DEFAULT_SURFACE: Surface = "both"
# Microsoft: at most five successful on-demand runs per 12 hours.
DEFAULT_START_LIMIT: tuple[int, float] = (5, 12 * 3600.0)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d)?")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0,
                 None: 1.0}


def parse_surface(text: str) -> Surface:
    """``both``, ``published`` or ``draft`` (any case); ValueError otherwise."""
    value = text.strip().lower()
    for surface in SURFACES:
        if value == surface:
            return surface
    raise ValueError(f"surface '{text}': use one of {', '.join(SURFACES)}")


def parse_duration(text: str) -> float:
    """``90``, ``30s``, ``5m``, ``12h``, ``1d``, ``500ms`` → seconds (> 0); ValueError otherwise."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"duration '{text}': write a number with s, m, h or d, e.g. 30s, 5m or 12h")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not seconds > 0:
        raise ValueError(f"duration '{text}': must be longer than zero")
    return seconds


def parse_start_limit(text: str) -> tuple[int, float] | None:
    """``5/12h`` → (5, 43200.0): at most N successful on-demand runs per WINDOW; ``0`` (or
    ``none``/``off``) → None, no limit. ValueError otherwise."""
    value = text.strip().lower()
    if value in ("0", "none", "off"):
        return None
    count, slash, window = value.partition("/")
    if not slash or not count.strip().isdigit() or int(count) < 1:
        raise ValueError(f"start limit '{text}': write N/WINDOW, e.g. 5/12h, or 0 for no limit")
    try:
        seconds = parse_duration(window)
    except ValueError:
        raise ValueError(f"start limit '{text}': the window must look like 12h, 30m or 60s") from None
    return int(count), seconds
