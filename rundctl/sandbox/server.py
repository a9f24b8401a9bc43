"""The sandbox: a real local stand-in for Microsoft Graph's industryData runs (docs/sandbox.md).

This module is its lifecycle: :class:`SandboxOptions`, and :class:`Sandbox`, which binds the
socket, opens the database, serves in a thread and stops. The work is done in rooms of its own:

- :mod:`.httpd` — sockets: the threaded HTTP/1.1 server, bodies, keep-alive, the log line;
- :mod:`.api` — routes and handlers: parse the request, call the backend, serialise a view;
- :mod:`.backend` — the rules: creates, PATCH, listings, ``start`` and how its runs settle;
- :mod:`.views` — what Graph shows: runs, flows, activities, statistics, error envelopes;
- :mod:`.store` (SQLite), :mod:`.odata` (query options), :mod:`.faults` (injected faults).

Standard library only; it never imports the client: the two meet only over HTTP.
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from rundctl import model
from rundctl.sandbox import faults
from rundctl.sandbox.api import SandboxApi
from rundctl.sandbox.backend import START_FLOW_ID, RunBackend
from rundctl.sandbox.faults import FaultOptions
from rundctl.sandbox.httpd import SandboxHTTPServer
from rundctl.sandbox.options import DEFAULT_START_LIMIT, SURFACES, Surface
from rundctl.sandbox.store import RunStore

__all__ = ["START_FLOW_ID", "Sandbox", "SandboxOptions"]


@dataclass(kw_only=True)
class SandboxOptions(FaultOptions):
    """How to run a sandbox; the fault settings (and their defaults) come from FaultOptions.

    Plain values only: nothing here reads the environment or a profile (the command line and
    ``--endpoint sandbox`` do that, and parse text with :mod:`.options`).
    """

    surface: Surface = "both"  # "both", "published" (Graph's own paths) or "draft" (the seed's)
    start_limit: tuple[int, float] | None = DEFAULT_START_LIMIT  # N on-demand runs per window s
    schedule_every: float | None = None  # seconds between runs the service makes by itself
    host: str = "127.0.0.1"
    port: int = 8765  # 0 = ephemeral
    db: str = ":memory:"  # a file path or ":memory:"
    db_busy_timeout: float = 10.0  # seconds to wait for another writer; then 503 Retry-After
    require_token: str | None = None  # then every request needs "Authorization: Bearer <it>"
    run_seconds: float = 5.0  # runs made by `start` turn final after this long
    start_outcome: str = "completed"
    log: TextIO | None = None  # one line per request; None = silent
    idle_timeout: float = 15.0  # seconds a connection may idle, or take to send a request
    max_connections: int = 100  # served at once; more get 503 (capped by the fd limit too)
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep  # for injected latency


class Sandbox:
    """A sandbox server: ``start()`` in a daemon thread, or ``serve_forever()`` in this one."""

    def __init__(self, options: SandboxOptions) -> None:
        if options.start_outcome not in model.FINAL_STATUSES:
            finals = [s for s in model.RUN_STATUSES if s in model.FINAL_STATUSES]
            raise ValueError(
                f"start_outcome {options.start_outcome!r} is not a final status; "
                f"use one of {', '.join(finals)}"
            )
        if options.run_seconds < 0:
            raise ValueError("run_seconds must not be negative")
        if not options.idle_timeout > 0:
            raise ValueError(f"idle_timeout must be a positive number of seconds, not {options.idle_timeout}")
        if options.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {options.max_connections}")
        if options.surface not in SURFACES:
            raise ValueError(f"surface {options.surface!r} is not one of {', '.join(SURFACES)}")
        if options.start_limit is not None:
            count, window = options.start_limit
            if count < 1 or not (window > 0 and math.isfinite(window)):
                raise ValueError(
                    f"start_limit must be at least 1 run per positive window, not {count}/{window}"
                )
        every = options.schedule_every
        if every is not None and not (every > 0 and math.isfinite(every)):
            raise ValueError(f"schedule_every must be a positive number of seconds, not {every}")
        options.check()
        self.options = options
        self._server: SandboxHTTPServer | None = None
        self._store: RunStore | None = None
        self._thread: threading.Thread | None = None
        self._serving = False
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """``http://host:port`` (no ``/beta``); binding the socket on first use."""
        return self._bind().base_url

    def _bind(self) -> SandboxHTTPServer:
        with self._lock:
            if self._server is None:
                options = self.options
                if options.db != ":memory:":
                    Path(options.db).expanduser().parent.mkdir(parents=True, exist_ok=True)
                store = RunStore(
                    options.db if options.db == ":memory:" else str(Path(options.db).expanduser()),
                    busy_timeout=options.db_busy_timeout,
                )
                try:
                    backend = RunBackend(
                        store,
                        clock=options.clock,
                        run_seconds=options.run_seconds,
                        start_outcome=options.start_outcome,
                        start_limit=options.start_limit,
                        schedule_every=options.schedule_every,
                    )
                    api = SandboxApi(
                        backend,
                        injector=faults.FaultInjector(options, clock=options.clock, sleep=options.sleep),
                        require_token=options.require_token,
                        log=options.log,
                        clock=options.clock,
                        surface=options.surface,
                    )
                    server = SandboxHTTPServer(
                        (options.host, options.port),
                        api,
                        log=options.log,
                        clock=options.clock,
                        idle_timeout=options.idle_timeout,
                        max_connections=options.max_connections,
                    )
                except BaseException:
                    store.close()
                    raise
                self._store, self._server = store, server
            return self._server

    def start(self) -> str:
        """Bind and serve in a daemon thread; return the base URL."""
        server = self._bind()
        with self._lock:
            if self._thread is None:
                self._serving = True
                self._thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.01},  # stop() waits up to one poll
                    name="rundctl-sandbox",
                    daemon=True,
                )
                self._thread.start()
        return server.base_url

    def serve_forever(self) -> None:
        """Serve until :meth:`stop` (from another thread) or KeyboardInterrupt."""
        if self._thread is not None:
            while self._thread.is_alive():
                self._thread.join(0.5)
            return
        server = self._bind()
        self._serving = True
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            self._serving = False

    def stop(self) -> None:
        """Stop serving, drop open connections and close the database. Idempotent."""
        with self._lock:
            server, store, thread = self._server, self._store, self._thread
            self._server = self._store = self._thread = None
        if server is not None:
            if self._serving:
                server.shutdown()
                self._serving = False
            server.close_connections()
            server.server_close()
        if thread is not None:
            thread.join(5)
        if store is not None:
            store.close()

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - manual use
    """``python -m rundctl.sandbox.server [PORT] [fault flags]``: serve an in-memory sandbox."""
    parser = argparse.ArgumentParser(
        prog="python -m rundctl.sandbox.server", description="Serve an in-memory sandbox."
    )
    parser.add_argument("port", nargs="?", type=int, default=8765)
    for setting in faults.FAULT_SETTINGS:
        if setting.kind is bool:
            parser.add_argument(setting.flag, dest=setting.name, action="store_true", help=setting.help)
        else:
            parser.add_argument(
                setting.flag,
                dest=setting.name,
                metavar=setting.metavar,
                type=setting.kind,
                help=setting.help,
            )
    values = vars(parser.parse_args(argv))
    port = values.pop("port")
    try:
        fault_values = faults.fault_options(values)
    except ValueError as exc:
        parser.error(str(exc))
    sandbox = Sandbox(SandboxOptions(port=port, log=sys.stderr, **fault_values))
    print(sandbox.base_url, flush=True)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
