"""Hermetic tests: an empty HOME and config dir, no AZURE_*/RUNDCTL_* from the outside world."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rundctl.deps import Deps

FLOW = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
FIXED_NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def _loopback(address: object) -> bool:
    """True for an AF_UNIX path or an IPv4/IPv6 loopback (or 'localhost') address."""
    import ipaddress

    if isinstance(address, str | bytes):
        return True  # an AF_UNIX socket path
    if not isinstance(address, tuple) or not address:
        return False
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkGuardError(AssertionError):
    """A test tried to connect beyond loopback: no test may reach a real host."""


@pytest.fixture(autouse=True)
def socket_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection to a non-loopback address fails the test (in this process)."""
    import socket

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(address: object) -> None:
        if not _loopback(address):
            raise NetworkGuardError(f"test tried to connect to {address!r} (not loopback)")

    def connect(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            check(address)
        return real_connect(self, address)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, address: object) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            check(address)
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture(autouse=True)
def hermetic_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    for key in list(os.environ):
        if key.startswith(("AZURE_", "RUNDCTL_", "MSI_", "IDENTITY_", "ACTIONS_ID_TOKEN",
                           "GITHUB_", "NO_COLOR", "FORCE_COLOR")):
            monkeypatch.delenv(key, raising=False)
    # CI runs this suite with CI=true; tests that need it set it themselves.
    for key in ("CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "TF_BUILD"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("RUNDCTL_CONFIG_DIR", str(home / ".config" / "rundctl"))
    monkeypatch.setenv("NETRC", str(home / ".netrc"))
    return home


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


class FakeClock:
    def __init__(self, now: datetime = FIXED_NOW) -> None:
        self.now = now
        self.mono = 1000.0
        self.slept: list[float] = []

    def clock(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.mono += seconds


def invoke(args: list[str], *, stdin: bytes = b"", env: dict[str, str] | None = None,
           tty: bool = False, stdin_tty: bool = False, clock: FakeClock | None = None) -> Result:
    """Run the app in-process with injected streams, clock and environment."""
    from typer.testing import CliRunner

    from rundctl.app import app

    clock = clock or FakeClock()
    out, err = io.StringIO(), io.StringIO()
    full_env = {k: v for k, v in os.environ.items()}
    full_env.update(env or {})
    deps = Deps(env=full_env, stdin=io.BytesIO(stdin), stdout=out, stderr=err,
                clock=clock.clock, monotonic=clock.monotonic, sleep=clock.sleep,
                stdin_tty=stdin_tty, stdout_tty=tty, stderr_tty=tty)
    runner = CliRunner()
    result = runner.invoke(app, args, obj=deps, env=env, catch_exceptions=False)
    return Result(result.exit_code, out.getvalue() + result.stdout, err.getvalue())


def rundctl_exe() -> str:
    exe = Path(sys.executable).with_name("rundctl")
    if exe.exists():
        return str(exe)
    found = shutil.which("rundctl")
    assert found, "rundctl is not installed in this environment"
    return found


@pytest.fixture
def run_cli() -> object:
    return invoke


class SandboxProcess:
    def __init__(self, url: str, proc: subprocess.Popen[str]) -> None:
        self.url = url
        self.proc = proc


@pytest.fixture
def sandbox_proc(tmp_path: Path) -> Iterator[SandboxProcess]:
    """`rundctl sandbox --port 0` as a real subprocess; yields its base URL."""
    proc = subprocess.Popen(
        [rundctl_exe(), "sandbox", "--port", "0", "--db", str(tmp_path / "sb.db"), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    line = proc.stdout.readline().strip()
    assert line.startswith("http://127.0.0.1:"), (line, proc.stderr.read() if proc.stderr else "")
    assert time.monotonic() < deadline
    try:
        yield SandboxProcess(line, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_exe(args: list[str], *, input: bytes | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [rundctl_exe(), *args], input=input, capture_output=True, env=full_env, timeout=timeout,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")
    )


def read_pty(master: int, timeout: float = 20) -> bytes:
    """Everything a program wrote to its pseudo-terminal until it closed it."""
    import select

    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start in-process sandboxes (``make(**SandboxOptions fields)``) on an ephemeral port and
    a database in tmp_path; every one started is stopped after the test."""
    from rundctl.sandbox.server import Sandbox, SandboxOptions

    started: list[Sandbox] = []

    def make(**options: Any) -> Sandbox:
        options.setdefault("port", 0)
        options.setdefault("db", str(tmp_path / "sandbox.db"))
        sandbox = Sandbox(SandboxOptions(**options))
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()
