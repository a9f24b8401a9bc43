"""The result of ``rundctl doctor``: plain text, a JSON list, and the exit code.

:func:`exit_code` turns the checks into the exit code of ``rundctl doctor``:

====  =================================================================================
0     no check failed (warnings allowed)
8     the endpoint or the sign-in authority is unreachable: DNS, TLS or connection failed
      (checked first: a network failure explains most other symptoms)
2     the configuration is wrong: a bad --endpoint, --cloud or --auth value
4     no usable credential for the endpoint
1     anything else failed (a broken installation: Python too old, a package missing)
====  =================================================================================
"""

from __future__ import annotations

from collections.abc import Iterable

from rundctl.doctor.check import FAIL, NETWORK_CHECKS, PASS, Check
from rundctl.errors import ExitCode


def exit_code(checks: Iterable[Check]) -> int:
    """0 when nothing failed; else 8 (network), 2 (config), 4 (credential), 1 (other)."""
    failed = {check.name for check in checks if check.status == FAIL}
    if not failed:
        return int(ExitCode.OK)
    if failed & NETWORK_CHECKS:
        return int(ExitCode.TEMPORARY)
    if "config" in failed:
        return int(ExitCode.USAGE)
    if "credential" in failed:
        return int(ExitCode.NOT_AUTHENTICATED)
    return int(ExitCode.INTERNAL)


def as_json(checks: Iterable[Check]) -> list[dict[str, str | None]]:
    """``[{"name", "status", "detail", "fix"}, ...]`` for ``rundctl doctor -o json``."""
    return [check._asdict() for check in checks]


def as_text(checks: Iterable[Check]) -> str:
    """Plain lines for a terminal or a log: ``pass  name  detail`` and an indented ``fix:``."""
    items = list(checks)
    width = max((len(check.name) for check in items), default=0)
    lines: list[str] = []
    for check in items:
        lines.append(f"{check.status:<4}  {check.name:<{width}}  {check.detail}")
        if check.fix and check.status != PASS:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    return "\n".join(lines) + ("\n" if lines else "")
