"""The credential check: which credential applies, and what its token says — never the token.

The credential is built by ``Deps.credential`` (the one factory that connect and
``auth status`` use too), from a copy of the ``Deps`` that cannot prompt and reads no stdin.
No token is fetched for a local endpoint; an Entra token fetch is bounded in time.
"""

from __future__ import annotations

import dataclasses
import io
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rundctl import auth
from rundctl.deps import Deps
from rundctl.doctor.check import FAIL, PASS, WARN, Check, first_line
from rundctl.errors import RundctlError
from rundctl.settings import ConnSettings

MIN_TOKEN_WAIT = 20.0  # seconds an Entra token may take, whatever the network timeout


def check_credential(deps: Deps, conn: ConnSettings) -> Check:
    """``conn.auth_mode`` as typed (``auto`` is resolved here, from configuration only)."""
    chosen, how = conn.auth_mode, f"--auth {conn.auth_mode}"
    if chosen == "auto":
        has_token = conn.token_file is not None or bool(deps.env.get("RUNDCTL_TOKEN"))
        picked = auth.auto_mode(deps.env, conn.endpoint, conn.cloud, has_token)
        if picked is None:
            return Check("credential", FAIL,
                         f"--auth auto finds no credential for {conn.endpoint.url}: nothing is "
                         "configured (checked: " + "; ".join(auth.AUTO_ORDER) + ")",
                         auth.FIX_HINT)
        chosen, how = picked, f"--auth auto picks {picked}"
    settled = _without_a_token(how, chosen, conn)
    if settled is not None:
        return settled
    try:
        credential = _quiet(deps).credential(conn._replace(auth_mode=chosen))
    except RundctlError as exc:
        return Check("credential", FAIL, f"{how}: {exc.message}", exc.hint or auth.FIX_HINT)
    if credential.get_token is None:
        return Check("credential", PASS, f"{how}: {credential.source}")
    if chosen not in auth.ENTRA_MODES:
        return _describe_token(how, credential, credential.get_token(), conn, deps.clock)
    return _entra_token(how, credential, conn, deps.clock)


def _quiet(deps: Deps) -> Deps:
    """The same world without a terminal on stdin: nothing prompts, nothing reads stdin."""
    return dataclasses.replace(deps, stdin=io.BytesIO(b""), stdin_tty=False)


def _without_a_token(how: str, chosen: str, conn: ConnSettings) -> Check | None:
    """The answer when doctor must not get a token at all (None: go and get one)."""
    if chosen == "token" and conn.token_file == "-":  # noqa: S105 - "-" means stdin
        return Check("credential", PASS, f"{how}: a token from stdin (--token-file -), not read "
                     "by doctor")
    if chosen in auth.ENTRA_MODES and conn.endpoint.loopback:
        # A local endpoint never gets an Entra token fetched by doctor (no Microsoft contact).
        try:
            auth.check_token_destination(conn.endpoint, conn.cloud)
        except RundctlError as exc:
            return Check("credential", FAIL, f"{how}: {exc.message}", exc.hint)
        return Check("credential", PASS, f"{how}: would use {chosen} (no token fetched for a "
                     "local endpoint)")
    return None


def _entra_token(how: str, credential: auth.Credential, conn: ConnSettings,
                 now: Callable[[], datetime]) -> Check:
    assert credential.get_token is not None
    wait = max(conn.timeout, MIN_TOKEN_WAIT)
    finished, token, error = _run_bounded(credential.get_token, wait)
    if not finished:
        return Check("credential", WARN, f"{how} ({credential.source}): no token within "
                     f"{wait:g}s", "try 'rundctl auth status --debug'")
    if error is not None:
        message = error.message if isinstance(error, RundctlError) else first_line(error)
        hint = error.hint if isinstance(error, RundctlError) else auth.FIX_HINT
        return Check("credential", FAIL, f"{how} ({credential.source}): {message}", hint)
    return _describe_token(how, credential, token, conn, now)


def _run_bounded(fn: Callable[[], Any], seconds: float) -> tuple[bool, Any, BaseException | None]:
    """(finished, result, exception): ``fn`` in a daemon thread, waiting at most ``seconds``."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # reported to the caller
            box["error"] = exc

    worker = threading.Thread(target=work, name="rundctl-doctor-token", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        return False, None, None
    return True, box.get("result"), box.get("error")


def _describe_token(how: str, credential: auth.Credential, token: str, conn: ConnSettings,
                    now: Callable[[], datetime]) -> Check:
    info = auth.describe(credential, token)
    claims = auth.decode_claims(token)
    parts = [f"{how}: {credential.source}"]
    if not claims:
        parts.append("an opaque token (not a JWT; its claims cannot be shown)")
        return Check("credential", PASS, "; ".join(parts))
    for key in ("identity", "tenant", "audience", "expires"):
        if info.get(key):
            parts.append(f"{key} {info[key]}")
    permissions = [*info.get("roles", []), *info.get("scopes", [])]
    if permissions:
        parts.append("permissions " + ", ".join(str(p) for p in permissions))
    detail = "; ".join(parts)
    exp = claims.get("exp")
    if isinstance(exp, int | float) and exp <= now().timestamp():
        return Check("credential", WARN, f"{detail}; the token has EXPIRED",
                     "get a fresh token into RUNDCTL_TOKEN (or use an Entra --auth mode, which "
                     "renews tokens itself)")
    if not conn.endpoint.loopback and not any("IndustryData" in str(p) for p in permissions):
        from rundctl.client import PERMISSION_READ

        return Check("credential", WARN, f"{detail}; the token carries no IndustryData-* "
                     "permission, so the service will answer 403",
                     f"grant the app {PERMISSION_READ} (application permission) and admin "
                     "consent in Entra")
    return Check("credential", PASS, detail)
