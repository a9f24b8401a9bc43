"""Turning flag and environment text into checked, typed settings (pure; no I/O).

Endpoints, clouds, durations and IDs are checked here so that a bad value is a usage
error (exit 2) before anything is read, authenticated or sent.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

from rundctl import vocab
from rundctl.errors import UsageError

SANDBOX = "sandbox"
API_VERSION = "beta"

AUTH_MODES: tuple[str, ...] = vocab.AUTH_MODES
OUTPUT_FORMATS: tuple[str, ...] = vocab.OUTPUT_FORMATS

class Cloud(NamedTuple):
    name: str
    graph_root: str
    authority_host: str

    @property
    def scope(self) -> str:
        return f"{self.graph_root}/.default"


CLOUDS: dict[str, Cloud] = {
    "global": Cloud("global", "https://graph.microsoft.com", "login.microsoftonline.com"),
    "usgov": Cloud("usgov", "https://graph.microsoft.us", "login.microsoftonline.us"),
    "dod": Cloud("dod", "https://dod-graph.microsoft.us", "login.microsoftonline.us"),
    "china": Cloud("china", "https://microsoftgraph.chinacloudapi.cn", "login.chinacloudapi.cn"),
}



def parse_cloud(text: str, env: Mapping[str, str] | None = None) -> Cloud:
    name = text.strip().lower()
    if name == "custom":
        return _custom_cloud(env or {})
    cloud = CLOUDS.get(name)
    if cloud is None:
        raise UsageError(
            f"--cloud: '{text}' is not one of {', '.join(CLOUDS)}, custom",
            hint="national clouds: usgov (GCC High), dod (US Gov L5), china (21Vianet)",
        )
    return cloud


def _custom_cloud(env: Mapping[str, str]) -> Cloud:
    """A private or test cloud: RUNDCTL_GRAPH_ROOT and RUNDCTL_AUTHORITY_HOST name it."""
    root, authority = env.get("RUNDCTL_GRAPH_ROOT"), env.get("RUNDCTL_AUTHORITY_HOST")
    if not root or not authority:
        raise UsageError(
            "--cloud custom needs RUNDCTL_GRAPH_ROOT and RUNDCTL_AUTHORITY_HOST",
            hint="e.g. RUNDCTL_GRAPH_ROOT=https://graph.example RUNDCTL_AUTHORITY_HOST="
            "https://login.example",
        )
    checked = parse_endpoint(root, CLOUDS["global"])
    assert checked.url is not None
    if not authority.startswith("https://"):
        raise UsageError("RUNDCTL_AUTHORITY_HOST must be an https:// URL")
    return Cloud("custom", checked.url, authority.rstrip("/"))


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Endpoint(NamedTuple):
    """Where requests go. ``url`` is None for the embedded sandbox until it is started."""

    url: str | None
    sandbox: bool = False

    @property
    def loopback(self) -> bool:
        if self.sandbox:
            return True
        assert self.url is not None
        return is_loopback_host(urlsplit(self.url).hostname or "")


def parse_endpoint(text: str | None, cloud: Cloud) -> Endpoint:
    """Check ``--endpoint``: https anywhere, http only on loopback, no user-info, no query."""
    if text is None or not text.strip():
        return Endpoint(f"{cloud.graph_root}/{API_VERSION}")
    text = text.strip()
    if text.lower() == SANDBOX:
        return Endpoint(None, sandbox=True)
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise UsageError(f"--endpoint: '{text}' is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UsageError(
            f"--endpoint: scheme '{parts.scheme or '(none)'}' is not supported; use https://",
            hint="or --endpoint sandbox for the built-in local sandbox",
        )
    if not host:
        raise UsageError(f"--endpoint: '{text}' has no host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UsageError(
            "--endpoint: credentials in the URL (user-info) are not allowed",
            hint="pass a token with RUNDCTL_TOKEN or --token-file instead",
        )
    if scheme == "http" and not is_loopback_host(host):
        raise UsageError(
            f"--endpoint: http:// is allowed only for loopback hosts, not '{host}'",
            hint="use https:// (TLS is always verified)",
        )
    if parts.query or parts.fragment:
        raise UsageError("--endpoint: the base URL must not carry a query or fragment")
    return Endpoint(f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}")


DURATION_PATTERN = _DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class ConnSettings(NamedTuple):
    """Everything needed to reach the service, checked."""

    endpoint: Endpoint
    cloud: Cloud
    auth_mode: str
    token_file: str | None
    timeout: float
    debug: bool
    max_retry_wait: float = 60.0
    tenant: str | None = None
    client_id: str | None = None


def parse_duration(text: str, *, name: str = "--timeout", allow_zero: bool = False) -> float:
    """``90``, ``90s``, ``2m``, ``1h`` -> seconds (``0`` only with *allow_zero*)."""
    match = _DURATION.match(text)
    if not match:
        raise UsageError(
            f"{name}: '{text}' is not a duration", hint="write e.g. 90, 90s, 2m or 1h"
        )
    seconds = float(match.group(1)) * _UNIT[(match.group(2) or "s").lower()]
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise UsageError(f"{name}: must be greater than zero")
    return seconds


def parse_guid(text: str, *, name: str) -> str:
    """Flow and run IDs must be GUIDs; returns the canonical lowercase form."""
    candidate = text.strip()
    try:
        if not re.fullmatch(r"\{?[0-9a-fA-F-]{32,36}\}?", candidate):
            raise ValueError
        return str(uuid.UUID(candidate))
    except ValueError:
        shown = candidate if len(candidate) <= 60 else candidate[:57] + "..."
        raise UsageError(
            f"{name}: '{shown}' is not a GUID",
            hint="IDs look like 8c3c1e9a-1f2b-4c8d-9e0f-123456789abc",
        ) from None


def parse_output(text: str) -> str:
    value = text.strip().lower()
    if value not in OUTPUT_FORMATS:
        raise UsageError(f"--output: '{text}' is not one of {', '.join(OUTPUT_FORMATS)}")
    return value


def parse_auth_mode(text: str) -> str:
    value = text.strip().lower()
    if value not in AUTH_MODES:
        raise UsageError(f"--auth: '{text}' is not one of {', '.join(AUTH_MODES)}")
    return value
