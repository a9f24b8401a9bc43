"""Run every check in report order; a check that breaks becomes a warning, never a traceback."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

from rundctl.deps import Deps
from rundctl.doctor import credential, local, network, proxy
from rundctl.doctor.check import FAIL, PASS, WARN, Check, first_line
from rundctl.redact import safe_message
from rundctl.settings import ConnSettings

SKIPPED = "skipped: the configuration is not valid (see the config check)"


def run_checks(
    deps: Deps,
    *,
    endpoint_text: str | None,
    cloud_text: str,
    auth_mode: str,
    tenant: str | None,
    client_id: str | None,
    token_file: str | None = None,
    timeout: float = 5.0,
) -> list[Check]:
    """Run every check, in the order of :data:`~rundctl.doctor.check.CHECK_NAMES`.

    ``deps`` carries the environment, the terminal flags, the clock, the HTTP session factory
    and the credential factory. ``endpoint_text``, ``cloud_text``, ``auth_mode``, ``tenant``,
    ``client_id`` and ``token_file`` are the effective values as typed (flag, environment,
    profile or default). ``timeout`` bounds each network check, in seconds.
    """
    env = deps.env
    checks = [_guard("python", local.check_python)]
    config, conn = local.check_config(
        env, endpoint_text=endpoint_text, cloud_text=cloud_text, auth_mode=auth_mode,
        tenant=tenant, client_id=client_id, token_file=token_file, timeout=timeout)
    checks.append(config)
    endpoint_url = conn.endpoint.url if conn is not None else None
    checks.append(_guard("proxy", lambda: proxy.check_proxy(env, endpoint_url)))
    checks.extend(_connection_checks(deps, conn) if conn is not None else _skipped(env))
    checks.append(_guard("terminal", lambda: local.check_terminal(
        env, stdin_tty=bool(deps.stdin_tty), stdout_tty=bool(deps.stdout_tty),
        stderr_tty=bool(deps.stderr_tty))))
    return [_scrub(check) for check in checks]


def _skipped(env: Mapping[str, str]) -> list[Check]:
    """Without valid settings only the keyring can be checked; the rest wait for config."""
    waiting = [Check(name, WARN, SKIPPED, "fix the config check first")
               for name in ("dns", "reachability", "clock", "authority")]
    return [*waiting, _guard("keyring", lambda: local.check_keyring(env)),
            Check("credential", WARN, SKIPPED, "fix the config check first"),
            Check("surfaces", WARN, SKIPPED, "fix the config check first")]


def _connection_checks(deps: Deps, conn: ConnSettings) -> list[Check]:
    """dns, reachability, clock, authority, keyring and credential, in that order."""
    endpoint, timeout = conn.endpoint, conn.timeout
    dns = _guard("dns", lambda: network.check_dns(endpoint, deps.env, timeout))
    date_header: list[str | None] = [None]

    def reachability() -> Check:
        check, date_header[0] = network.check_reachability(deps, endpoint, timeout,
                                                           resolved=dns.status != FAIL)
        return check

    reached = _guard("reachability", reachability)
    clock = _guard("clock", lambda: local.check_clock(date_header[0], deps.clock))
    authority = _guard("authority", lambda: network.check_authority(deps, conn))
    keyring = _guard("keyring", lambda: local.check_keyring(deps.env))
    if keyring.status == WARN and endpoint.loopback and not keyring.detail.startswith(
            "this check could not run"):
        # A local endpoint never needs a sign-in cache: informative, not a problem here.
        keyring = keyring._replace(status=PASS, detail="not needed for a local endpoint; "
                                   + keyring.detail)
    found = _guard("credential", lambda: credential.check_credential(deps, conn))
    # A local endpoint is probed without a credential (as reachability is); a remote one
    # with the credential that passed its check.
    remote = found.status == PASS and not endpoint.loopback
    surfaces = _guard("surfaces", lambda: network.check_surfaces(
        deps, conn, _auth(deps, conn) if remote else None))
    return [dns, reached, clock, authority, keyring, found, surfaces]


def _auth(deps: Deps, conn: ConnSettings) -> Any:
    """The credential as request auth, built without prompting (None: none works)."""
    import dataclasses

    from rundctl.client import TokenAuth

    quiet = dataclasses.replace(deps, stdin=io.BytesIO(b""), stdin_tty=False)
    try:
        made = quiet.credential(conn)
    except Exception:
        return None
    return TokenAuth(made.get_token, made.refresh) if made.get_token else None


def _guard(name: str, check: Callable[[], Check]) -> Check:
    """Run one check; a check that breaks is reported as a warning, never a traceback."""
    try:
        return check()
    except Exception as exc:
        return Check(name, WARN, f"this check could not run: {type(exc).__name__}: "
                     f"{first_line(exc)}", "please report it as a bug (rundctl doctor -o json)")


def _scrub(check: Check) -> Check:
    """No secret and no terminal escape in anything a check reports."""
    return check._replace(
        detail=safe_message(check.detail),
        fix=safe_message(check.fix) if check.fix is not None else None,
    )
