"""The suite's own safety net: nothing connects beyond loopback; layers import downward only."""

from __future__ import annotations

import ast
import socket
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rundctl"


def test_a_connection_beyond_loopback_fails_the_test() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.01)
        with pytest.raises(AssertionError, match="not loopback"):
            sock.connect(("20.190.151.68", 443))  # an address of login.microsoftonline.com
        with pytest.raises(AssertionError, match="not loopback"):
            sock.connect_ex(("10.0.0.1", 80))


def test_loopback_connections_are_allowed() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        with socket.create_connection(("localhost", port), timeout=5):
            pass


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {name for name in found if name.startswith("rundctl")}


def _in(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def test_nothing_below_the_command_layer_imports_it() -> None:
    for path in PACKAGE.rglob("*.py"):
        name = _module(path)
        if _in(name, "rundctl.cli", "rundctl.app", "rundctl.__main__"):
            continue
        upward = {m for m in _imports(path) if _in(m, "rundctl.cli", "rundctl.app", "rundctl.__main__")}
        assert not upward, f"{name} imports the command layer: {sorted(upward)}"


def test_the_client_and_the_sandbox_meet_only_over_http() -> None:
    for path in (PACKAGE / "sandbox").rglob("*.py"):
        bad = {m for m in _imports(path)
               if _in(m, "rundctl.client", "rundctl.connect", "rundctl.runs", "rundctl.ops")}
        assert not bad, f"{_module(path)} imports the client side: {sorted(bad)}"
    for name in ("client", "answers", "transport", "runs", "retry", "wire", "routes"):
        bad = {m for m in _imports(PACKAGE / f"{name}.py") if _in(m, "rundctl.sandbox")}
        assert not bad, f"rundctl.{name} imports the sandbox: {sorted(bad)}"


def test_model_and_errors_import_nothing_heavy_from_the_project() -> None:
    assert _imports(PACKAGE / "errors.py") == set()
    allowed = ("rundctl.vocab", "rundctl.errors", "rundctl.jsonio", "rundctl.timestamps")
    for module in _imports(PACKAGE / "model.py") - {"rundctl"}:
        assert _in(module, *allowed), module


@pytest.mark.parametrize("argv", [["--help"], ["validate", "-f", "-", "-o", "none"],
                                  ["create", "--flow", "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                                   "-f", "-", "--dry-run", "-o", "none"],
                                  ["help", "exit-codes"], ["schema"]])
def test_commands_that_never_touch_the_network_import_nothing_heavy(argv: list[str]) -> None:
    import subprocess
    import sys

    code = (
        "import io, sys\n"
        "sys.stdin = io.TextIOWrapper(io.BytesIO(b'{\"displayName\":\"x\",\"startDateTime\":"
        "\"2026-11-01T10:00:00Z\",\"status\":\"completed\",\"statistics\":{}}'))\n"
        "from rundctl.__main__ import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit as e:\n    code = e.code\n"
        "heavy = [m for m in ('requests', 'urllib3', 'azure.identity', 'rich.table', 'sqlite3',"
        " 'jmespath', 'secrets') if m in sys.modules]\n"
        "sys.stderr.write(repr((code, heavy)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.stderr.strip().endswith(", [])"), proc.stderr
