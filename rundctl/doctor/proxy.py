"""The proxy check: proxy and CA-bundle variables as requests reads them, credentials hidden.

Also the helpers the other network checks ask: which proxy a URL would go through.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from rundctl.doctor.check import PASS, WARN, Check, first_line
from rundctl.settings import is_loopback_host

PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
CA_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


def without_userinfo(url: str) -> tuple[str, bool]:
    """``http://user:pw@proxy:3128`` -> (``http://proxy:3128``, True). Robust to odd input."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url, False
    host = authority.rsplit("@", 1)[1]
    return (f"{scheme}://" if sep else "") + host + slash + path, True


def _env_any(env: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """(the variable's name as set, value) for NAME or name (requests reads both)."""
    for key in (name, name.lower()):
        value = env.get(key)
        if value:
            return key, value
    return None


def proxy_for(env: Mapping[str, str], url: str) -> str | None:
    """The proxy requests would use for ``url`` given ``env`` (None: direct)."""
    parts = urlsplit(url)
    found = _env_any(env, f"{parts.scheme.upper()}_PROXY") or _env_any(env, "ALL_PROXY")
    if found is None:
        return None
    no_proxy = _env_any(env, "NO_PROXY")
    if no_proxy and bypasses_proxy(parts.hostname or "", parts.port, no_proxy[1]):
        return None
    return found[1]


def bypasses_proxy(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether NO_PROXY covers ``host`` the way requests reads it (names by suffix, IPs by
    address or CIDR, ``*`` for everything)."""
    import ipaddress

    entries = [entry for entry in no_proxy.replace(" ", "").split(",") if entry]
    if "*" in entries:
        return True
    host = host.strip("[]").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    with_port = f"{host}:{port}" if port else host
    for entry in (e.lower() for e in entries):
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry.strip("[]"), strict=False):
                    return True
            except ValueError:
                pass
        bare = entry.lstrip(".")
        if host == bare or host.endswith("." + bare) or host.endswith(entry) or \
                with_port.endswith(entry):
            return True
    return False


class _Findings:
    """What the proxy check shows, warns about and suggests, in the order found."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.warnings: list[str] = []
        self.fixes: list[str] = []

    def warn(self, warning: str, fix: str) -> None:
        self.warnings.append(warning)
        self.fixes.append(fix)


def check_proxy(env: Mapping[str, str], endpoint_url: str | None) -> Check:
    found = _Findings()
    _proxy_variables(env, found)
    if endpoint_url is not None:
        _endpoint_route(env, endpoint_url, found)
    _ca_variables(env, found)
    detail = "; ".join(found.shown) if found.shown else \
        "no proxy and no custom CA bundle: direct connections"
    if found.warnings:
        return Check("proxy", WARN, "; ".join(found.warnings) + f" ({detail})",
                     "; ".join(found.fixes))
    return Check("proxy", PASS, detail)


def _proxy_variables(env: Mapping[str, str], found: _Findings) -> None:
    for name in PROXY_VARS:
        match = _env_any(env, name)
        if match is None:
            continue
        key, value = match
        if name == "NO_PROXY":
            found.shown.append(f"{key}={value}")
            continue
        clean, had_credentials = without_userinfo(value)
        found.shown.append(f"{key}={clean}" + (" (credentials hidden)" if had_credentials else ""))
        if not _proxy_host(clean):
            found.warn(f"{key} does not look like a proxy URL", f"set {key} to http://HOST:PORT")


def _endpoint_route(env: Mapping[str, str], endpoint_url: str, found: _Findings) -> None:
    proxy = proxy_for(env, endpoint_url)
    if proxy is None:
        return
    host = urlsplit(endpoint_url).hostname or ""
    clean, _ = without_userinfo(proxy)
    if is_loopback_host(host):
        found.warn(f"requests to the loopback endpoint {host} would go through the proxy {clean}",
                   "add localhost,127.0.0.1,::1 to NO_PROXY")
    else:
        found.shown.append(f"{host} via {clean}")


def _ca_variables(env: Mapping[str, str], found: _Findings) -> None:
    for name in CA_VARS:
        path = env.get(name)
        if not path:
            continue
        found.shown.append(f"{name}={path}")
        problem = _ca_problem(path)
        if problem is not None:
            found.warn(f"{name}: {problem}",
                       f"point {name} at an existing PEM file of CA certificates, or unset it")
        elif name == "SSL_CERT_FILE" and not env.get("REQUESTS_CA_BUNDLE"):
            found.warn("SSL_CERT_FILE is not used by requests (rundctl's HTTP library)",
                       f"export REQUESTS_CA_BUNDLE={path}")


def _proxy_host(url: str) -> str | None:
    try:
        return urlsplit(url if "://" in url else f"http://{url}").hostname
    except ValueError:
        return None


def _ca_problem(path: str) -> str | None:
    """Why ``path`` cannot serve as a CA bundle (None when it can)."""
    import ssl

    target = Path(path).expanduser()
    if not target.exists():
        return f"'{path}' does not exist"
    if target.is_dir():
        return None  # requests accepts a c_rehash'ed directory
    try:
        ssl.create_default_context(cafile=str(target))
    except (ssl.SSLError, OSError, ValueError) as exc:
        return f"'{path}' is not a readable PEM bundle ({first_line(exc)})"
    return None
