"""One check's result, the checks in report order, and the one-line form of an exception."""

from __future__ import annotations

from typing import NamedTuple

from rundctl.redact import redact

PASS, WARN, FAIL = "pass", "warn", "fail"
STATUSES = (PASS, WARN, FAIL)
CHECK_NAMES: tuple[str, ...] = (
    "python",
    "config",
    "proxy",
    "dns",
    "reachability",
    "clock",
    "authority",
    "keyring",
    "credential",
    "surfaces",
    "terminal",
)
NETWORK_CHECKS = frozenset({"dns", "reachability", "authority"})


class Check(NamedTuple):
    name: str
    status: str  # "pass" | "warn" | "fail"
    detail: str
    fix: str | None = None


def first_line(exc: BaseException) -> str:
    """The first non-blank line of ``exc``, redacted and at most 300 characters."""
    text = str(exc) or type(exc).__name__
    for line in text.splitlines():
        if line.strip():
            return redact(line.strip())[:300]
    return type(exc).__name__
