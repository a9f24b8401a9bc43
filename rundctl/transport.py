"""How a request is carried: the token on it, the command's time budget, and the pause
shared by parallel workers. Imported only by code that sends requests."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests.auth  # noqa: TID253 - only imported on paths that send requests


class TokenAuth(requests.auth.AuthBase):
    """Adds ``Authorization: Bearer`` from a token provider at send time."""

    def __init__(
        self, get_token: Callable[[], str], refresh: Callable[[], bool] | None = None
    ) -> None:
        self._get_token = get_token
        self._refresh = refresh

    def refresh(self) -> bool:
        """Force a new token (after a 401); False for a static token."""
        return self._refresh() if self._refresh is not None else False

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        self.last = self._get_token()
        r.headers["Authorization"] = f"Bearer {self.last}"
        return r

    last: str | None = None


class NoAuth(requests.auth.AuthBase):
    """Sends no credential at all — and keeps requests from consulting ``~/.netrc``."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers.pop("Authorization", None)
        return r


@dataclass
class Deadline:
    """The wall-clock budget of one command (``--timeout``), on an injected monotonic clock."""

    seconds: float
    monotonic: Callable[[], float] = time.monotonic
    start: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if self.start < 0:
            self.start = self.monotonic()

    def remaining(self) -> float:
        return self.seconds - (self.monotonic() - self.start)

    def expired(self) -> bool:
        return self.remaining() <= 0


class Gate:
    """A pause shared by parallel workers (bulk create): Retry-After stops them all."""

    def __init__(self, monotonic: Callable[[], float], sleep: Callable[[float], None]) -> None:
        import threading

        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._until = 0.0

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, self._monotonic() + seconds)

    def wait(self) -> None:
        while True:
            with self._lock:
                remaining = self._until - self._monotonic()
            if remaining <= 0:
                return
            self._sleep(min(remaining, 1.0))
