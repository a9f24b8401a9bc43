"""The local Graph stand-in (docs/sandbox.md): ``rundctl sandbox`` and ``--endpoint sandbox``.

Standard library only (``http.server`` + ``sqlite3``); it never imports the client. The
server is imported on first use of ``Sandbox``/``SandboxOptions``, so the command line can
read :data:`rundctl.sandbox.faults.FAULT_SETTINGS` without loading the server.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Sandbox", "SandboxOptions"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from rundctl.sandbox import server

        return getattr(server, name)
    raise AttributeError(name)
