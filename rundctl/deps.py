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
    # The command line as given (for "run this again to finish" hints).
    argv: list[str] = field(default_factory=list)
    # How errors and talk look on stderr: "text" (default) or "json" (one value per line).
    error_format: str = "text"
    # True when the streams are this process's own (from_process).
    process_streams: bool = False
    # What this command changed on the service (said on stderr if stdout then fails).
    done: list[str | Callable[[], str]] = field(default_factory=list)
    # Builds the credential for checked connection settings; None: rundctl.auth.resolve.
    credential_factory: Callable[[Deps, ConnSettings], Credential] | None = None

    def __post_init__(self) -> None:
        if (self.env.get("RUNDCTL_ERROR_FORMAT") or "").strip().lower() == "json":
            self.error_format = "json"
        if self.error_format == "json" and not isinstance(self.stderr, JsonErr):
            self.stderr = JsonErr(self.stderr)  # type: ignore[assignment]
            self.stderr_tty = False
        if self.env.get("GITHUB_ACTIONS") == "true":
            if not isinstance(self.stdout, CommandGuard):
                self.stdout = CommandGuard(self.stdout)  # type: ignore[assignment]
            if not isinstance(self.stderr, CommandGuard):
                self.stderr = CommandGuard(self.stderr)  # type: ignore[assignment]
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

    def use_error_format(self, fmt: str) -> None:
        """Switch stderr to ``json`` (one JSON value per line) or keep ``text``."""
        if fmt == "json" and self.error_format != "json":
            self.error_format = "json"
            self.stderr = JsonErr(self.stderr)  # type: ignore[assignment]
            self.stderr_tty = False

    def did(self, what: str | Callable[[], str]) -> None:
        """Note a change made on the service (or a function that describes it when asked),
        to be said on stderr if the output is then lost."""
        self.done.append(what)

    def close(self) -> None:
        while self.cleanups:
            self.cleanups.pop()()


class OutputLost(Exception):
    """stdout could not be written for a reason other than a closed pipe (a full disk, an
    I/O error). Not an OSError, so no ``except OSError`` on the way mistakes it for the
    command's own files."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(cause.strerror or str(cause))
        self.cause = cause


class _Proxy:
    """A text stream that may be missing (closed at start-up); the rest is the stream's."""

    _name = "stream"

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream

    def isatty(self) -> bool:
        return _isatty(self._stream)

    def fileno(self) -> int:
        if self._stream is None:
            raise OSError(f"{self._name} is closed")
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", None) or "utf-8"

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


class GuardedOut(_Proxy):
    """stdout for the command: a closed pipe stays BrokenPipeError, any other failure to
    write becomes :class:`OutputLost`; a missing stream (``>&-``) behaves as a closed pipe."""

    _name = "stdout"

    def write(self, text: str) -> int:
        if self._stream is None:
            raise BrokenPipeError(32, "stdout is closed")
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputLost(exc) from None

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputLost(exc) from None



class QuietErr(_Proxy):
    """stderr for the command: when it is closed (``2>&-``) or fails, talk goes nowhere
    instead of turning a successful command into a failure."""

    _name = "stderr"

    def write(self, text: str) -> int:
        if self._stream is not None:
            try:
                return self._stream.write(text)
            except (OSError, ValueError):
                self._stream = None
        return len(text)

    def flush(self) -> None:
        if self._stream is not None:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._stream = None



class CommandGuard:
    """In GitHub Actions the runner executes any output line that starts with ``::`` (after
    whitespace) as a workflow command. Data and messages must never do that: on every line
    written through this stream whose first non-blank character is ``:``, that colon is
    written ``\\x3a``. rundctl's own annotations go through :meth:`command`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._line_start = True  # nothing but blanks written on the current line so far

    def write(self, text: str) -> int:
        out = []
        for char in text:
            if self._line_start and char == ":":
                out.append("\\x3a")
                self._line_start = False
                continue
            out.append(char)
            if char == "\n":
                self._line_start = True
            elif char not in " \t\r":
                self._line_start = False
        self._stream.write("".join(out))
        return len(text)

    def command(self, line: str) -> None:
        """A workflow command of rundctl's own (one whole line)."""
        if not self._line_start:
            self._stream.write("\n")
        self._stream.write(line if line.endswith("\n") else line + "\n")
        self._line_start = True

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return _isatty(self._stream)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


class JsonErr:
    """stderr with ``--error-format json``: every line becomes one JSON value, so
    ``2> err.json`` always parses: ``{"note": …}`` or ``{"warning": …}`` for talk, and
    errors written whole through :meth:`value`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            self._line(line)
        return len(text)

    def _line(self, line: str) -> None:
        import json

        text = line.removeprefix("rundctl: ")
        if not text.strip():
            return
        key = "note"
        if text.startswith("warning: "):
            key, text = "warning", text.removeprefix("warning: ")
        elif text.startswith("hint: "):
            key, text = "hint", text.removeprefix("hint: ")
        self._stream.write(json.dumps({key: text}, ensure_ascii=False) + "\n")

    def value(self, data: object) -> None:
        """One whole JSON value (an error) on its own line."""
        import json

        if self._pending:
            self._line(self._pending)
            self._pending = ""
        self._stream.write(json.dumps(data, ensure_ascii=False) + "\n")

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return False  # no spinner or progress bar: their frames are not JSON

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def write_command(stream: TextIO, line: str) -> None:
    """Write one workflow command line past a :class:`CommandGuard` (if there is one)."""
    command = getattr(stream, "command", None)
    if callable(command):
        command(line)
    else:
        stream.write(line if line.endswith("\n") else line + "\n")


def from_process() -> Deps:
    stdin = sys.stdin.buffer if sys.stdin is not None else open(os.devnull, "rb")
    return Deps(env=os.environ, stdin=stdin,
                stdout=GuardedOut(sys.stdout),  # type: ignore[arg-type]
                stderr=QuietErr(sys.stderr),  # type: ignore[arg-type]
                process_streams=True)
