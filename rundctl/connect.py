"""From checked settings to a working GraphClient (credential, sandbox, session).

Imported only by commands that talk to a service, so requests stays out of ``--help``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rundctl import paths
from rundctl.client import Deadline, GraphClient, NoAuth, TokenAuth
from rundctl.deps import Deps
from rundctl.errors import UsageError
from rundctl.redact import redact
from rundctl.settings import ConnSettings


def sandbox_db_path(env: Mapping[str, str]) -> str:
    """The embedded sandbox's persistent store (see :mod:`rundctl.paths`)."""
    return str(paths.sandbox_db(env))


SURFACE_ENV = "RUNDCTL_SANDBOX_SURFACE"


def _embedded_sandbox(db: str, surface: str = "both") -> tuple[Any, str]:
    """Start the in-process sandbox on *db*; a store that cannot be opened is exit 2."""
    import sqlite3

    from rundctl.sandbox.options import parse_surface
    from rundctl.sandbox.server import Sandbox, SandboxOptions

    try:
        chosen = parse_surface(surface or "both")
    except ValueError as exc:
        raise UsageError(f"{SURFACE_ENV}: {exc}") from None
    sandbox = Sandbox(SandboxOptions(port=0, db=db, surface=chosen))
    try:
        return sandbox, sandbox.start()
    except (sqlite3.Error, OSError) as exc:
        sandbox.stop()
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(
            f"the sandbox's database '{db}' cannot be used: {reason}",
            hint=f"point {paths.SANDBOX_DB_ENV} at a writable SQLite file (or remove a "
            "damaged one; it is only the sandbox's data)") from None


@contextmanager
def open_client(deps: Deps, conn: ConnSettings, *, pool: int = 1) -> Iterator[GraphClient]:
    credential = deps.credential(conn)
    sandbox = None
    base_url = conn.endpoint.url
    if conn.endpoint.sandbox:
        sandbox, base_url = _embedded_sandbox(sandbox_db_path(deps.env),
                                              deps.env.get(SURFACE_ENV, "both"))
    assert base_url is not None
    session = deps.session_factory()
    if pool > 10:  # requests keeps 10 connections per host unless told otherwise
        from requests.adapters import HTTPAdapter

        session.mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=pool))
        session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=pool))
    debug = None
    if conn.debug:

        def debug(line: str) -> None:
            deps.stderr.write("rundctl: debug: " + redact(line) + "\n")

    try:
        client = GraphClient(
            base_url,
            session=session,
            auth=TokenAuth(credential.get_token, credential.refresh)
            if credential.get_token
            else NoAuth(),
            deadline=Deadline(conn.timeout, deps.monotonic),
            debug=debug,
            sleep=deps.sleep,
            now=deps.clock,
            max_retry_wait=conn.max_retry_wait,
        )
        deps.in_flight = lambda: client.in_flight
        yield client
    finally:
        session.close()
        if sandbox is not None:
            sandbox.stop()
