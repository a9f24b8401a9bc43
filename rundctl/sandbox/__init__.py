"""The local Graph stand-in (docs/sandbox.md): ``rundctl sandbox`` and ``--endpoint sandbox``.

Standard library only (``http.server`` + ``sqlite3``); it never imports the client. The CLI
imports this package lazily, only when a sandbox is actually wanted.
"""

from __future__ import annotations

from rundctl.sandbox.server import Sandbox, SandboxOptions

__all__ = ["Sandbox", "SandboxOptions"]
