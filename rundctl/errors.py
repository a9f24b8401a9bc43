"""Exit codes and the exception hierarchy: the one place where failures become exit codes.

Every failure rundctl reports is a :class:`RundctlError` subclass carrying its exit code and
an optional hint. ``cli`` catches them once and prints ``rundctl: error: ...``. This module
imports nothing from the project so every other module may depend on it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple


class ExitCode(enum.IntEnum):
    """docs/exit-codes.md. Fixed: scripts branch on these numbers."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    INVALID_INPUT = 3
    NOT_AUTHENTICATED = 4
    FORBIDDEN = 5
    NOT_FOUND = 6
    REJECTED = 7
    TEMPORARY = 8
    OUTCOME_UNKNOWN = 9
    SECURITY = 10
    BAD_RESPONSE = 11
    BULK_PARTIAL = 12
    WAIT_FAILED = 13
    WAIT_ERRORS = 14
    WAIT_WARNINGS = 15
    WAIT_UNKNOWN_STATUS = 16
    WAIT_TIMEOUT = 17
    OUTPUT_LOST = 18
    HANGUP = 129
    INTERRUPTED = 130
    TERMINATED = 143
    BROKEN_PIPE = 141


EXIT_CODE_TABLE: tuple[tuple[int, str, str], ...] = (
    (0, "success (also an empty list, a valid dry-run, a wait that ended well)", "-"),
    (1, "internal error (a bug)", "no"),
    (2, "usage error: bad flag or argument, bad ID, bad endpoint; nothing sent", "no"),
    (3, "invalid input data (JSON, encoding, size, schema, timestamps); nothing sent", "no"),
    (4, "not authenticated: no usable credential, token failure, 401", "after login"),
    (5, "forbidden (403); the hint names the permission needed", "no"),
    (6, "not found (404: flow or run)", "no"),
    (7, "rejected by the service (other 4xx)", "no"),
    (8, "temporary failure, request NOT applied (throttled, unavailable, unreachable)", "yes"),
    (9, "outcome unknown: a create may have been applied", "check first"),
    (10, "refused for security (TLS failure, redirect, foreign host)", "no"),
    (11, "unreadable response from the service on a read", "maybe"),
    (12, "bulk create finished with some records not created", "yes, with the journal"),
    (13, "wait: run ended failed", "-"),
    (14, "wait: run ended completedWithErrors", "-"),
    (15, "wait: run ended completedWithWarnings and --fail-on warnings was given", "-"),
    (16, "wait: run ended in a status rundctl does not know", "-"),
    (17, "wait: timed out with the run still running", "-"),
    (18, "the output could not be written (disk full, I/O error); what was done is on stderr",
     "check first"),
    (129, "interrupted by SIGHUP (the terminal closed); handled like Ctrl-C", "-"),
    (130, "interrupted", "-"),
    (143, "interrupted by SIGTERM (CI cancel, docker stop); handled like Ctrl-C", "-"),
    (141, "stdout closed early (| head) on a command that changed something; a read exits 0",
     "-"),
)


class Problem(NamedTuple):
    """One thing wrong with the input: where (JSON path, NDJSON line) and what."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"


class RundctlError(Exception):
    """A failure with a user-facing message, an optional hint and a fixed exit code."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def detail_lines(self) -> list[str]:
        """Extra lines printed after the message (before the hint)."""
        return []


class UsageError(RundctlError):
    exit_code = ExitCode.USAGE


class InvalidInput(RundctlError):
    """Input data is wrong; carries every problem found, not just the first."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, problems: list[Problem], hint: str | None = None) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        if count == 1:
            message = f"invalid input: {self.problems[0]}"
        else:
            message = f"invalid input: {count} problems"
        super().__init__(message, hint)

    def detail_lines(self) -> list[str]:
        if len(self.problems) == 1:
            return []
        return [f"  {p}" for p in self.problems]


@dataclass
class ApiErrorInfo:
    """What the service told us about a failed request (Graph error envelope + headers)."""

    status: int
    code: str | None = None
    message: str | None = None
    request_id: str | None = None
    client_request_id: str | None = None
    date: str | None = None
    details: list[str] = field(default_factory=list)


def info_lines(info: ApiErrorInfo | None) -> list[str]:
    """The detail lines printed under an error that has an answer from the service."""
    if info is None:
        return []
    parts = [f"HTTP {info.status}"]
    if info.code:
        parts.append(f"code: {info.code}")
    if info.request_id:
        parts.append(f"request-id: {info.request_id}")
    if info.client_request_id:
        parts.append(f"client-request-id: {info.client_request_id}")
    return ["  " + "; ".join(parts), *(f"  {d}" for d in info.details)]


class ApiError(RundctlError):
    """An HTTP error answer from the service."""

    exit_code = ExitCode.REJECTED

    def __init__(self, message: str, info: ApiErrorInfo, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.info = info

    def detail_lines(self) -> list[str]:
        return info_lines(self.info)


class NotAuthenticated(RundctlError):
    exit_code = ExitCode.NOT_AUTHENTICATED


class AuthRejected(ApiError):
    exit_code = ExitCode.NOT_AUTHENTICATED


class Forbidden(ApiError):
    exit_code = ExitCode.FORBIDDEN


class NotFound(ApiError):
    exit_code = ExitCode.NOT_FOUND


class Rejected(ApiError):
    exit_code = ExitCode.REJECTED


class DraftSurfaceMissing(Rejected):
    """The service has no draft Create-run surface (Microsoft's published industryData API:
    runs are read-only there, and ``incomingFlows`` is an unknown segment)."""


class PreconditionFailed(Rejected):
    """HTTP 412: the resource changed since it was read (its ETag no longer matches)."""


class TemporaryFailure(RundctlError):
    """The request was certainly not applied; running the command again is safe."""

    exit_code = ExitCode.TEMPORARY

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        info: ApiErrorInfo | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.info = info
        self.retry_after = retry_after

    def detail_lines(self) -> list[str]:
        return info_lines(self.info)


class OutcomeUnknown(RundctlError):
    """A create/update may or may not have been applied; check before running it again."""

    exit_code = ExitCode.OUTCOME_UNKNOWN

    def __init__(
        self, message: str, hint: str | None = None, info: ApiErrorInfo | None = None
    ) -> None:
        super().__init__(message, hint)
        self.info = info

    def detail_lines(self) -> list[str]:
        return info_lines(self.info)


class SecurityRefused(RundctlError):
    exit_code = ExitCode.SECURITY


class BadResponse(RundctlError):
    exit_code = ExitCode.BAD_RESPONSE
