"""The injected world: streams, environment, clocks and lazy factories.

Production builds one :class:`Deps` from the process (:func:`from_process`); tests build one
with fakes and pass it as ``CliRunner.invoke(app, args, obj=deps)``. Nothing here imports
requests or azure.identity at module level: factories import inside.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, BinaryIO, TextIO

if TYPE_CHECKING:
    import requests

    from rundctl.auth import Credential
    from rundctl.settings import ConnSettings


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_session() -> requests.Session:
    import requests

    return requests.Session()


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (ValueError, OSError):
        return False


@dataclass
class Deps:
    env: Mapping[str, str]
    stdin: BinaryIO
    stdout: TextIO
    stderr: TextIO
    clock: Callable[[], datetime] = _utcnow
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    session_factory: Callable[[], requests.Session] = _new_session
    stdin_tty: bool | None = None
    stdout_tty: bool | None = None
    stderr_tty: bool | None = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    # Set while a client is open: the create in flight, as (client-request-id, url, sent_at).
    in_flight: Callable[[], tuple[str, str, float] | None] | None = None
    # GitHub Actions annotations: "auto" (when GITHUB_ACTIONS=true) or "off".
    ci_annotations: str | None = None
    # Builds the credential for checked connection settings; None: rundctl.auth.resolve.
    credential_factory: Callable[[Deps, ConnSettings], Credential] | None = None

    def __post_init__(self) -> None:
        if self.stdin_tty is None:
            self.stdin_tty = _isatty(self.stdin)
        if self.stdout_tty is None:
            self.stdout_tty = _isatty(self.stdout)
        if self.stderr_tty is None:
            self.stderr_tty = _isatty(self.stderr)

    def credential(self, conn: ConnSettings) -> Credential:
        """The credential for *conn*: connect, ``auth status`` and ``doctor`` all ask here."""
        if self.credential_factory is not None:
            return self.credential_factory(self, conn)
        from rundctl import auth

        return auth.resolve(
            auth.AuthOptions(conn.auth_mode, conn.token_file, conn.tenant, conn.client_id),
            conn.endpoint, conn.cloud, self.env, stdin=self.stdin,
            can_prompt=self.can_prompt(), clock=lambda: self.clock().timestamp(),
        )

    def can_prompt(self) -> bool:
        """Prompts only with stdin and stderr on a terminal and CI unset."""
        from rundctl.auth import interactive

        return interactive(self.env, bool(self.stdin_tty), bool(self.stderr_tty))

    def close(self) -> None:
        while self.cleanups:
            self.cleanups.pop()()


def from_process() -> Deps:
    return Deps(env=os.environ, stdin=sys.stdin.buffer, stdout=sys.stdout, stderr=sys.stderr)
