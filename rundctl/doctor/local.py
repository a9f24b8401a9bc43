"""The checks that need no network: Python and packages, settings, terminal, keyring, clock."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from rundctl.doctor.check import FAIL, PASS, WARN, Check, first_line
from rundctl.errors import RundctlError
from rundctl.settings import ConnSettings, parse_auth_mode, parse_cloud, parse_endpoint

REQUIRED_PACKAGES = ("typer", "rich", "requests", "azure-identity", "msal", "urllib3")
MIN_PYTHON = (3, 11)
MAX_SKEW = 300.0  # seconds; Entra rejects tokens beyond about 5 minutes of clock skew
KEYRING_FIX = (
    "apt-get install gir1.2-secret-1 python3-gi, or rundctl auth login --allow-unencrypted-cache"
)


def check_python() -> Check:
    from rundctl import about

    info = about.versions()
    version = info.get("python") or "?"
    problems: list[str] = []
    fixes: list[str] = []
    if sys.version_info < MIN_PYTHON:
        problems.append(f"Python {version} is older than 3.11")
        fixes.append("install Python 3.11 or newer and reinstall rundctl with it")
    missing = [name for name in REQUIRED_PACKAGES if not info.get(name)]
    if missing:
        problems.append(f"missing package(s): {', '.join(missing)}")
        fixes.append(f"reinstall rundctl: pip install --force-reinstall rundctl "
                     f"(or pip install {' '.join(missing)})")
    present = ", ".join(f"{name} {info[name]}" for name in REQUIRED_PACKAGES if info.get(name))
    detail = f"rundctl {info.get('rundctl')} on Python {version}; {present}"
    if problems:
        return Check("python", FAIL, "; ".join(problems) + f" ({detail})", "; ".join(fixes))
    typer_version = info.get("typer") or ""
    if not typer_version.startswith("0.28."):
        return Check("python", WARN, f"{detail}; typer {typer_version} is not the tested 0.28.x",
                     "pip install 'typer>=0.28,<0.29'")
    return Check("python", PASS, detail)


def check_config(
    env: Mapping[str, str],
    *,
    endpoint_text: str | None,
    cloud_text: str,
    auth_mode: str,
    tenant: str | None,
    client_id: str | None,
    token_file: str | None,
    timeout: float,
) -> tuple[Check, ConnSettings | None]:
    """(the check, the checked settings, or None when they are not valid).

    ``auth_mode`` stays as typed in the settings: ``auto`` is resolved by the credential check.
    """
    errors: list[str] = []
    hints: list[str] = []
    endpoint = cloud = mode = None
    try:
        cloud = parse_cloud(cloud_text, env)
    except RundctlError as exc:
        errors.append(exc.message)
        hints.append(exc.hint or "use --cloud global, usgov, dod or china")
    if cloud is not None:
        try:
            endpoint = parse_endpoint(endpoint_text, cloud)
        except RundctlError as exc:
            errors.append(exc.message)
            hints.append(exc.hint or "use an https:// URL, or --endpoint sandbox")
    try:
        mode = parse_auth_mode(auth_mode)
    except RundctlError as exc:
        errors.append(exc.message)
        hints.append(exc.hint or "use --auth auto")
    if errors:
        return Check("config", FAIL, "; ".join(errors), "; ".join(hints)), None
    assert endpoint is not None and cloud is not None and mode is not None
    conn = ConnSettings(endpoint, cloud, mode, token_file, timeout, debug=False, tenant=tenant,
                        client_id=client_id)
    return Check("config", PASS, _config_detail(conn, endpoint_text)), conn


def _config_detail(conn: ConnSettings, endpoint_text: str | None) -> str:
    endpoint, cloud = conn.endpoint, conn.cloud
    where = "sandbox (embedded, local)" if endpoint.sandbox else str(endpoint.url)
    if endpoint_text is None or not endpoint_text.strip():
        where = f"{where} (default for cloud {cloud.name})"
    parts = [f"endpoint {where}", f"cloud {cloud.name} (authority {cloud.authority_host})",
             f"auth {conn.auth_mode}"]
    if conn.tenant:
        parts.append(f"tenant {conn.tenant}")
    if conn.client_id:
        parts.append(f"client id {conn.client_id}")
    return "; ".join(parts)


def check_clock(date_header: str | None, now: Callable[[], datetime]) -> Check:
    """This machine's clock against the ``Date`` header of the endpoint's answer."""
    if not date_header:
        return Check("clock", WARN, "not measured: no Date header from the endpoint",
                     "check that the endpoint is reachable (see reachability)")
    from email.utils import parsedate_to_datetime

    try:
        server = parsedate_to_datetime(date_header)
    except (TypeError, ValueError, IndexError):
        return Check("clock", WARN, f"not measured: unreadable Date header '{date_header}'")
    if server.tzinfo is None:
        server = server.replace(tzinfo=UTC)
    local = now()
    if local.tzinfo is None:
        local = local.replace(tzinfo=UTC)
    skew = (local - server).total_seconds()
    direction = "ahead of" if skew > 0 else "behind"
    if abs(skew) > MAX_SKEW:
        return Check("clock", WARN,
                     f"this machine's clock is {_span(abs(skew))} {direction} the server's "
                     f"(Date: {date_header}); more than 5 minutes of skew makes Entra reject "
                     "tokens and Retry-After dates wrong",
                     "synchronise the clock (e.g. timedatectl set-ntp true, or w32tm /resync)")
    shown = "in sync" if abs(skew) < 1.5 else f"{_span(abs(skew))} {direction} the server's"
    return Check("clock", PASS, f"clock {shown} (skew {skew:+.0f}s, limit ±5m)")


def _span(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def check_keyring(env: Mapping[str, str], system: str | None = None) -> Check:
    """Whether ``auth login`` can keep an encrypted token cache. Never prompts or unlocks."""
    import importlib.util

    platform = system or sys.platform
    if importlib.util.find_spec("msal_extensions") is None:
        return Check("keyring", WARN, "msal-extensions is not installed: no persistent token "
                     "cache for 'rundctl auth login'", "pip install msal-extensions")
    if platform == "darwin":
        return Check("keyring", PASS, "macOS Keychain (encrypted token cache)")
    if platform.startswith("win"):
        return Check("keyring", PASS, "Windows DPAPI (encrypted token cache)")
    try:
        import gi  # type: ignore[import-not-found, unused-ignore]

        gi.require_version("Secret", "1")
        from gi.repository import Secret  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
    except Exception as exc:
        return Check("keyring", WARN, f"libsecret is not available ({first_line(exc)}): "
                     "'rundctl auth login' cannot keep an encrypted token cache",
                     KEYRING_FIX)
    if not env.get("DBUS_SESSION_BUS_ADDRESS"):
        return Check("keyring", WARN, "libsecret is installed, but there is no D-Bus session "
                     "(DBUS_SESSION_BUS_ADDRESS is unset), so no keyring can be reached",
                     "run inside a desktop session with a keyring (gnome-keyring), or "
                     "rundctl auth login --allow-unencrypted-cache")
    return Check("keyring", PASS, "libsecret via D-Bus (encrypted token cache)")


def check_terminal(
    env: Mapping[str, str], *, stdin_tty: bool, stdout_tty: bool, stderr_tty: bool
) -> Check:
    from rundctl.auth import interactive

    size = shutil.get_terminal_size()
    flags = ", ".join(f"{name} {'tty' if tty else 'not a tty'}" for name, tty in
                      (("stdin", stdin_tty), ("stdout", stdout_tty), ("stderr", stderr_tty)))
    variables = " ".join(f"{name}={env[name]}" for name in ("NO_COLOR", "FORCE_COLOR", "TERM",
                                                            "CI") if name in env)
    prompts = "allowed" if interactive(env, stdin_tty, stderr_tty) else "never"
    detail = (f"{flags}; default output {'table' if stdout_tty else 'json'}; "
              f"colour {_colour(env, stdout_tty)}; width {size.columns}; prompts {prompts}")
    if variables:
        detail += f"; {variables}"
    return Check("terminal", PASS, detail)


def _colour(env: Mapping[str, str], stdout_tty: bool) -> str:
    if env.get("NO_COLOR", "") != "":
        return "off (NO_COLOR)"
    if env.get("TERM", "") == "dumb":
        return "off (TERM=dumb)"
    if env.get("FORCE_COLOR", "") not in ("", "0"):
        return "on (FORCE_COLOR)"
    return "on" if stdout_tty else "off (stdout is not a terminal)"
