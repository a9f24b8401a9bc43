"""Fault injection for the sandbox, after Microsoft Dev Proxy, deterministic by seed.

:class:`FaultInjector` decides, per request and before it is applied, whether the sandbox
answers normally or with a fault: a random error (``fail_rate``/``fail_codes``), a fixed-window
rate limit with ``RateLimit-*`` headers, a repeated 429 for a client that came back before its
``Retry-After`` (``retry_after_strict``), or — for creates and PATCH — a fault *after* the
change was committed (a 500 or a dropped connection). All randomness comes from one
``random.Random(seed)`` behind a lock, so one seed and one request order give one sequence.

The fault settings are listed ONCE, in :data:`FAULT_SETTINGS`: the CLI generates the
``rundctl sandbox`` flags from it, :class:`FaultOptions` (which ``SandboxOptions`` extends) takes
its defaults from it, and :func:`fault_options` turns flag values into option values. See
docs/sandbox.md.

It knows nothing of HTTP sockets or Graph envelopes: the server turns a :class:`Fault` into a
response.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from rundctl.sandbox.flags import _BY_NAME, _default
from rundctl.sandbox.flags import FAULT_SETTINGS as FAULT_SETTINGS
from rundctl.sandbox.flags import FaultSetting as FaultSetting
from rundctl.sandbox.flags import parse_codes as parse_codes
from rundctl.sandbox.flags import parse_latency as parse_latency
from rundctl.sandbox.flags import parse_rate_limit as parse_rate_limit

# Graph's error codes for the statuses a fault can answer with.
ERROR_CODES: dict[int, str] = {
    408: "requestTimeout",
    429: "TooManyRequests",
    500: "generalException",
    502: "badGateway",
    503: "serviceNotAvailable",
    504: "gatewayTimeout",
}
MESSAGES: dict[int, str] = {
    408: "The request timed out.",
    429: "Too many requests; retry later.",
    500: "The service hit an internal error.",
    502: "The gateway received an invalid response.",
    503: "The service is temporarily unavailable.",
    504: "The gateway timed out.",
}
DEFAULT_CODES = (429, 500, 503)
# Statuses that say "try again later" and therefore carry Retry-After when one is configured.
RETRY_AFTER_STATUSES = frozenset({429, 503})

FaultKind = Literal["fail-rate", "rate-limit", "retry-after-strict", "after-commit-500", "after-commit-drop"]


@dataclass(frozen=True)
class Fault:
    """How to answer a request instead of (or after) applying it."""

    kind: FaultKind
    status: int  # 0 for a dropped connection
    retry_after: float | None = None  # seconds; sent as Retry-After and retry-after-ms
    after_commit: bool = False  # apply the request first, then answer with this fault
    drop: bool = False  # close the connection without any response

    def retry_headers(self) -> list[tuple[str, str]]:
        return retry_headers(self.retry_after)


@dataclass(frozen=True)
class Decision:
    """What :meth:`FaultInjector.decide` chose: a fault or None, and headers for every answer."""

    fault: Fault | None
    headers: list[tuple[str, str]] = field(default_factory=list)


def retry_headers(seconds: float | None) -> list[tuple[str, str]]:
    """``Retry-After`` as whole seconds (rounded up) and ``retry-after-ms`` exactly."""
    if seconds is None:
        return []
    return [
        ("Retry-After", str(max(0, math.ceil(seconds - 1e-9)))),
        ("retry-after-ms", str(max(0, round(seconds * 1000)))),
    ]


def error_code(status: int) -> str:
    return ERROR_CODES.get(status, "generalException" if status >= 500 else "BadRequest")


def error_message(status: int) -> str:
    return MESSAGES.get(status, "The sandbox injected a fault.")


# ---------------------------------------------------------------------------------------------
# Parsers for flag values




@dataclass(kw_only=True)
class FaultOptions:
    """The fault settings' values; the defaults (from :data:`FAULT_SETTINGS`) inject none."""

    seed: int | None = _default("seed")  # one random.Random(seed) drives every decision
    fail_rate: float = _default("fail_rate")  # share of requests answered with a fail code
    fail_codes: tuple[int, ...] = _default("fail_codes")
    retry_after: float | None = _default("retry_after")  # seconds, on fail-rate 429 and 503
    latency_ms: tuple[int, int] | None = _default("latency_ms")  # uniform in [lo, hi] ms
    rate_limit: tuple[int, float] | None = _default("rate_limit")  # N per WINDOW s, fixed window
    retry_after_strict: bool = _default("retry_after_strict")  # 429 again if back too early
    fault_after_commit: bool = _default("fault_after_commit")  # POST/PATCH: commit, then fail

    def fault_values(self) -> dict[str, Any]:
        """Just the fault settings (a SandboxOptions carries more)."""
        return {setting.name: getattr(self, setting.name) for setting in FAULT_SETTINGS}

    def check(self) -> None:
        """ValueError naming the first fault option out of range."""
        fail_rate, fail_codes, retry_after = self.fail_rate, self.fail_codes, self.retry_after
        if not 0.0 <= fail_rate <= 1.0 or math.isnan(fail_rate):
            raise ValueError(f"fail_rate must be between 0 and 1, not {fail_rate}")
        if fail_rate > 0 and not fail_codes:
            raise ValueError("fail_codes must name at least one status when fail_rate is set")
        for code in fail_codes:
            if not 400 <= code <= 599:
                raise ValueError(f"fail_codes: {code} is not an HTTP error status (400-599)")
        if retry_after is not None and not (retry_after >= 0 and math.isfinite(retry_after)):
            raise ValueError(f"retry_after must be a non-negative number of seconds, not {retry_after}")
        if self.latency_ms is not None:
            low, high = self.latency_ms
            if low < 0 or high < low:
                raise ValueError(f"latency_ms must be 0 <= low <= high, not {low}-{high}")
        if self.rate_limit is not None:
            count, window = self.rate_limit
            if count < 1 or not (window > 0 and math.isfinite(window)):
                raise ValueError(
                    f"rate_limit must be at least 1 request per positive window, not {count}/{window}"
                )


def fault_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """``SandboxOptions`` keyword arguments from flag values keyed by :attr:`FaultSetting.name`.

    A missing key (or None) means the flag was not given. ValueError, naming the flag, for a
    value of the wrong type, out of range or unparsable, and for an unknown key.
    """
    unknown = sorted(set(values) - set(_BY_NAME))
    if unknown:
        raise ValueError(f"unknown fault setting(s): {', '.join(unknown)}")
    options: dict[str, Any] = {}
    for setting in FAULT_SETTINGS:
        raw = values.get(setting.name)
        try:
            options[setting.name] = setting.convert(setting.default if raw is None else raw)
        except ValueError as exc:
            raise ValueError(f"{setting.flag}: {exc}") from None
    FaultOptions(**options).check()
    return options


# ---------------------------------------------------------------------------------------------
# Decisions


class FaultInjector:
    """Per-request fault decisions; thread-safe; all randomness from one seeded generator."""

    def __init__(
        self,
        options: FaultOptions | None = None,
        /,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        **settings: Any,
    ) -> None:
        """From a :class:`FaultOptions` (or a SandboxOptions), or from its fields as keywords."""
        if options is None:
            options = FaultOptions(**settings)
        elif settings:
            raise TypeError("give FaultOptions or keyword settings, not both")
        options.check()
        self.fail_rate = options.fail_rate
        self.fail_codes = tuple(options.fail_codes)
        self.retry_after = options.retry_after
        self.fault_after_commit = options.fault_after_commit
        self.latency_ms = options.latency_ms
        self.rate_limit = options.rate_limit
        self.retry_after_strict = options.retry_after_strict
        self.clock = clock
        self.sleep = sleep
        self._rng = random.Random(options.seed)  # noqa: S311 - fault simulation, not security
        self._lock = threading.Lock()
        self._window_start: float | None = None
        self._window_count = 0
        self._blocked_until: dict[str, float] = {}  # client → end of its Retry-After

    @property
    def active(self) -> bool:
        """Whether any fault or header is configured at all."""
        return bool(self.fail_rate > 0 or self.latency_ms or self.rate_limit or self.retry_after_strict)

    def delay(self) -> float:
        """Draw this request's latency (ms) and sleep it; 0 without ``latency_ms``."""
        if self.latency_ms is None:
            return 0.0
        low, high = self.latency_ms
        with self._lock:
            millis = self._rng.randint(low, high)
        if millis > 0:
            self.sleep(millis / 1000.0)
        return float(millis)

    def decide(self, method: str, client: str) -> Decision:
        """The fault (if any) for one request from *client*, drawn before it is applied."""
        with self._lock:
            now = self.clock()
            headers, over_limit = self._count(now)
            fault = over_limit or self._strict(client, now) or self._draw(method.upper())
            if (
                self.retry_after_strict
                and fault is not None
                and fault.status == 429
                and fault.retry_after is not None
            ):
                until = now + fault.retry_after
                self._blocked_until[client] = max(until, self._blocked_until.get(client, until))
            return Decision(fault, headers)

    # -- the pieces of a decision; called with the lock held -----------------------------------

    def _count(self, now: float) -> tuple[list[tuple[str, str]], Fault | None]:
        """Count the request in the fixed window; RateLimit-* headers and a 429 beyond it."""
        if self.rate_limit is None:
            return [], None
        limit, window = self.rate_limit
        if self._window_start is None or now >= self._window_start + window or now < self._window_start:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        left = self._window_start + window - now
        reset = max(1, math.ceil(left - 1e-9))
        headers = [
            ("RateLimit-Limit", str(limit)),
            ("RateLimit-Remaining", str(max(0, limit - self._window_count))),
            ("RateLimit-Reset", str(reset)),
        ]
        if self._window_count <= limit:
            return headers, None
        return headers, Fault("rate-limit", 429, retry_after=float(reset))

    def _strict(self, client: str, now: float) -> Fault | None:
        if not self.retry_after_strict:
            return None
        until = self._blocked_until.get(client)
        if until is None:
            return None
        if now >= until:
            del self._blocked_until[client]
            return None
        return Fault("retry-after-strict", 429, retry_after=until - now)

    def _draw(self, method: str) -> Fault | None:
        if self.fail_rate <= 0 or self._rng.random() >= self.fail_rate:
            return None
        status = self._rng.choice(self.fail_codes)
        if self.fault_after_commit and method in ("POST", "PATCH") and status != 429:
            if self._rng.random() < 0.5:
                return Fault("after-commit-drop", 0, after_commit=True, drop=True)
            return Fault("after-commit-500", 500, after_commit=True)
        retry_after = self.retry_after if status in RETRY_AFTER_STATUSES else None
        return Fault("fail-rate", status, retry_after=retry_after)
