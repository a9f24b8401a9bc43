"""``rundctl doctor``: check the installation, configuration, network and credential.

Each check answers pass / warn / fail with a concrete fix. The checks never print a secret
(tokens, proxy passwords), never prompt, and never contact Microsoft when the endpoint is the
sandbox or a loopback address. Network checks are bounded by ``timeout`` seconds each.

:func:`exit_code` turns the result into the exit code of ``rundctl doctor``:

====  =================================================================================
0     no check failed (warnings allowed)
8     the endpoint or the sign-in authority is unreachable: DNS, TLS or connection failed
      (checked first: a network failure explains most other symptoms)
2     the configuration is wrong: a bad --endpoint, --cloud or --auth value
4     no usable credential for the endpoint
1     anything else failed (a broken installation: Python too old, a package missing)
====  =================================================================================
"""

from __future__ import annotations

import shutil
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from rundctl.errors import ExitCode, RundctlError
from rundctl.redact import redact, safe_message

PASS, WARN, FAIL = "pass", "warn", "fail"
STATUSES = (PASS, WARN, FAIL)
CHECK_NAMES: tuple[str, ...] = (
    "python",
    "config",
    "proxy",
    "dns",
    "reachability",
    "clock",
    "authority",
    "keyring",
    "credential",
    "terminal",
)
NETWORK_CHECKS = frozenset({"dns", "reachability", "authority"})
REQUIRED_PACKAGES = ("typer", "rich", "requests", "azure-identity", "msal", "urllib3")
MIN_PYTHON = (3, 11)
MAX_SKEW = 300.0  # seconds; Entra rejects tokens beyond about 5 minutes of clock skew
RUNS_PATH = "/external/industryData/runs"
KEYRING_FIX = (
    "apt-get install gir1.2-secret-1 python3-gi, or rundctl auth login --allow-unencrypted-cache"
)
PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
CA_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


class Check(NamedTuple):
    name: str
    status: str  # "pass" | "warn" | "fail"
    detail: str
    fix: str | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


# -- the checks -------------------------------------------------------------------------


def run_checks(
    env: Mapping[str, str],
    *,
    endpoint_text: str | None,
    cloud_text: str,
    auth_mode: str,
    tenant: str | None,
    client_id: str | None,
    stdin_tty: bool,
    stdout_tty: bool,
    stderr_tty: bool,
    timeout: float = 5.0,
    now: Callable[[], datetime] = _utcnow,
    session_factory: Callable[[], Any] | None = None,
    token_file: str | None = None,
) -> list[Check]:
    """Run every check, in the order of :data:`CHECK_NAMES`.

    ``endpoint_text``, ``cloud_text``, ``auth_mode``, ``tenant``, ``client_id`` and
    ``token_file`` are the effective values as typed (flag, environment, profile or default);
    ``session_factory`` makes the ``requests.Session`` for the network checks.
    """
    checks: list[Check] = [_guard("python", check_python)]
    config, endpoint, cloud, mode = _check_config(env, endpoint_text, cloud_text, auth_mode,
                                                  tenant, client_id)
    checks.append(config)
    checks.append(_guard("proxy", lambda: check_proxy(env, endpoint.url if endpoint else None)))

    if endpoint is None or cloud is None or mode is None:
        skipped = "skipped: the configuration is not valid (see the config check)"
        for name in ("dns", "reachability", "clock", "authority"):
            checks.append(Check(name, WARN, skipped, "fix the config check first"))
        checks.append(_guard("keyring", lambda: check_keyring(env)))
        checks.append(Check("credential", WARN, skipped, "fix the config check first"))
    else:
        factory = session_factory or _default_session
        dns = _guard("dns", lambda: check_dns(endpoint, env, timeout))
        checks.append(dns)
        date_header: list[str | None] = [None]

        def reachability() -> Check:
            check, date_header[0] = _check_reachability(
                endpoint, factory, timeout, resolved=dns.status != FAIL, env=env)
            return check

        checks.append(_guard("reachability", reachability))
        checks.append(_guard("clock", lambda: check_clock(date_header[0], now)))
        checks.append(_guard("authority", lambda: _check_authority(endpoint, cloud, mode, env,
                                                                   factory, timeout)))
        keyring = _guard("keyring", lambda: check_keyring(env))
        if keyring.status == WARN and endpoint.loopback and not keyring.detail.startswith(
                "this check could not run"):
            # A local endpoint never needs a sign-in cache: informative, not a problem here.
            keyring = keyring._replace(status=PASS, detail="not needed for a local endpoint; "
                                       + keyring.detail)
        checks.append(keyring)
        checks.append(_guard("credential", lambda: check_credential(
            env, endpoint, cloud, mode, tenant, client_id, token_file, now, timeout)))
    checks.append(_guard("terminal", lambda: check_terminal(
        env, stdin_tty=stdin_tty, stdout_tty=stdout_tty, stderr_tty=stderr_tty)))
    return [_scrub(check) for check in checks]


def _guard(name: str, check: Callable[[], Check]) -> Check:
    """Run one check; a check that breaks is reported as a warning, never a traceback."""
    try:
        return check()
    except Exception as exc:
        return Check(name, WARN, f"this check could not run: {type(exc).__name__}: "
                     f"{_first_line(exc)}", "please report it as a bug (rundctl doctor -o json)")


def _scrub(check: Check) -> Check:
    """No secret and no terminal escape in anything a check reports."""
    return check._replace(
        detail=safe_message(check.detail),
        fix=safe_message(check.fix) if check.fix is not None else None,
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


def _check_config(
    env: Mapping[str, str],
    endpoint_text: str | None,
    cloud_text: str,
    auth_mode: str,
    tenant: str | None,
    client_id: str | None,
) -> tuple[Check, Any, Any, str | None]:
    """(check, Endpoint or None, Cloud or None, auth mode or None)."""
    from rundctl.settings import parse_auth_mode, parse_cloud, parse_endpoint

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
        return Check("config", FAIL, "; ".join(errors), "; ".join(hints)), None, None, None
    assert endpoint is not None and cloud is not None and mode is not None
    where = "sandbox (embedded, local)" if endpoint.sandbox else endpoint.url
    if endpoint_text is None or not endpoint_text.strip():
        where = f"{where} (default for cloud {cloud.name})"
    parts = [f"endpoint {where}", f"cloud {cloud.name} (authority {cloud.authority_host})",
             f"auth {mode}"]
    if tenant:
        parts.append(f"tenant {tenant}")
    if client_id:
        parts.append(f"client id {client_id}")
    return Check("config", PASS, "; ".join(parts)), endpoint, cloud, mode


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


def check_proxy(env: Mapping[str, str], endpoint_url: str | None) -> Check:
    shown: list[str] = []
    warnings: list[str] = []
    fixes: list[str] = []
    for name in PROXY_VARS:
        found = _env_any(env, name)
        if found is None:
            continue
        key, value = found
        if name == "NO_PROXY":
            shown.append(f"{key}={value}")
            continue
        clean, had_credentials = without_userinfo(value)
        shown.append(f"{key}={clean}" + (" (credentials hidden)" if had_credentials else ""))
        if not _proxy_host(clean):
            warnings.append(f"{key} does not look like a proxy URL")
            fixes.append(f"set {key} to http://HOST:PORT")
    if endpoint_url is not None:
        proxy = proxy_for(env, endpoint_url)
        host = urlsplit(endpoint_url).hostname or ""
        if proxy is not None:
            from rundctl.settings import is_loopback_host

            clean, _ = without_userinfo(proxy)
            if is_loopback_host(host):
                warnings.append(f"requests to the loopback endpoint {host} would go through the "
                                f"proxy {clean}")
                fixes.append("add localhost,127.0.0.1,::1 to NO_PROXY")
            else:
                shown.append(f"{host} via {clean}")
    for name in CA_VARS:
        path = env.get(name)
        if not path:
            continue
        shown.append(f"{name}={path}")
        problem = _ca_problem(path)
        if problem is not None:
            warnings.append(f"{name}: {problem}")
            fixes.append(f"point {name} at an existing PEM file of CA certificates, or unset it")
        elif name == "SSL_CERT_FILE" and not env.get("REQUESTS_CA_BUNDLE"):
            warnings.append("SSL_CERT_FILE is not used by requests (rundctl's HTTP library)")
            fixes.append(f"export REQUESTS_CA_BUNDLE={path}")
    detail = "; ".join(shown) if shown else "no proxy and no custom CA bundle: direct connections"
    if warnings:
        return Check("proxy", WARN, "; ".join(warnings) + f" ({detail})", "; ".join(fixes))
    return Check("proxy", PASS, detail)


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
        return f"'{path}' is not a readable PEM bundle ({_first_line(exc)})"
    return None


def _resolve(host: str, port: int, timeout: float) -> tuple[list[str] | None, str | None]:
    """getaddrinfo in a daemon thread, waiting at most ``timeout``: (addresses, error)."""
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            result["addresses"] = list(dict.fromkeys(str(info[4][0]) for info in infos))
        except OSError as exc:
            result["error"] = exc.strerror or str(exc) or type(exc).__name__

    worker = threading.Thread(target=work, name="rundctl-doctor-dns", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return None, f"no answer within {timeout:g}s"
    return result.get("addresses"), result.get("error")


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def check_dns(endpoint: Any, env: Mapping[str, str], timeout: float) -> Check:
    if endpoint.sandbox:
        return Check("dns", PASS, "not needed: the embedded sandbox listens on 127.0.0.1")
    host, port = _host_port(endpoint.url)
    try:
        import ipaddress

        ipaddress.ip_address(host)
        return Check("dns", PASS, f"{host} is an IP address: no lookup needed")
    except ValueError:
        pass
    addresses, error = _resolve(host, port, timeout)
    if addresses:
        shown = ", ".join(addresses[:4]) + (" ..." if len(addresses) > 4 else "")
        return Check("dns", PASS, f"{host} resolves to {shown}")
    proxy = proxy_for(env, endpoint.url)
    if proxy is not None:
        return Check("dns", WARN, f"{host} does not resolve here ({error}); the proxy "
                     f"{without_userinfo(proxy)[0]} resolves it", None)
    return Check("dns", FAIL, f"{host} does not resolve: {error}",
                 "check the host name in --endpoint / RUNDCTL_ENDPOINT, the DNS settings "
                 "(/etc/resolv.conf), or set HTTPS_PROXY if this network needs a proxy")


def _default_session() -> Any:
    import requests

    return requests.Session()


def _no_netrc(request: Any) -> Any:
    """An explicit (empty) auth, so requests never consults ~/.netrc."""
    return request


def _get(factory: Callable[[], Any], url: str, timeout: float) -> Any:
    """One GET with verification on, no redirects, a bounded time; the session is closed."""
    from rundctl import __version__

    session = factory()
    try:
        response = session.get(
            url,
            headers={"User-Agent": f"rundctl/{__version__} (doctor)", "Accept": "application/json"},
            timeout=(timeout, timeout),
            allow_redirects=False,
            auth=_no_netrc,
            stream=True,
        )
        response.close()
        return response
    finally:
        session.close()


def describe_network_error(exc: BaseException) -> tuple[str, str]:
    """(what went wrong, how to fix it) for a requests exception."""
    import requests

    reason = _root_reason(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return (f"TLS verification failed: {reason}",
                "if a proxy or firewall inspects TLS, point REQUESTS_CA_BUNDLE at its CA "
                "certificate (PEM); check the system clock; rundctl never disables verification")
    if isinstance(exc, requests.exceptions.ProxyError):
        return (f"proxy error: {reason}",
                "check HTTPS_PROXY / HTTP_PROXY (host, port, credentials) and NO_PROXY")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return (f"connect timeout: {reason}",
                "a firewall may drop the traffic; check the network, or set HTTPS_PROXY")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return (f"connected, but no HTTP answer in time: {reason}",
                "the service or a proxy in between is not answering; try again later")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return (f"connection failed: {reason}",
                "check that the endpoint is up and the host and port are right "
                "(for a local sandbox: is 'rundctl sandbox' running?)")
    return f"{type(exc).__name__}: {reason}", "check the endpoint and the network"


def _root_reason(exc: BaseException) -> str:
    """The innermost readable cause, e.g. ``[Errno 111] Connection refused``."""
    import re
    import ssl

    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    best: str | None = None
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError) and current.reason:
            verify = getattr(current, "verify_message", None)
            best = str(current.reason) + (f": {verify}" if verify else "")
        elif isinstance(current, OSError) and current.strerror:
            best = best or (f"[Errno {current.errno}] {current.strerror}"
                            if current.errno is not None else current.strerror)
        for nested in (current.__cause__, current.__context__,
                       *(a for a in current.args if isinstance(a, BaseException))):
            if nested is not None:
                stack.append(nested)
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
    if best:
        return best
    text = str(exc)
    match = re.search(r"(\[Errno -?\d+\][^'\")]*|Failed to establish a new connection: [^'\")]*"
                      r"|certificate verify failed[^'\")]*|timed out[^'\")]*)", text)
    return (match.group(1) if match else _first_line(exc)).strip()


def _check_reachability(
    endpoint: Any, factory: Callable[[], Any], timeout: float, *, resolved: bool,
    env: Mapping[str, str],
) -> tuple[Check, str | None]:
    """(check, the Date header of the answer)."""
    if endpoint.sandbox:
        return _check_embedded_sandbox(factory, timeout, env)
    if not resolved and proxy_for(env, endpoint.url) is None:
        return Check("reachability", WARN, "skipped: the host does not resolve (see dns)",
                     "fix the dns check first"), None
    url = endpoint.url if endpoint.url.startswith("https://") else endpoint.url + RUNS_PATH
    try:
        response = _get(factory, url, timeout)
    except Exception as exc:
        what, fix = describe_network_error(exc)
        return Check("reachability", FAIL, f"GET {url}: {what}", fix), None
    answer = f"HTTP {response.status_code}"
    if endpoint.url.startswith("https://"):
        detail = f"{url} answers over verified TLS ({answer})"
    else:
        detail = f"GET {url} answers {answer}"
    location = response.headers.get("Location")
    if 300 <= response.status_code < 400 and location:
        detail += f"; it redirects to {location}, and rundctl never follows redirects"
    return Check("reachability", PASS, detail), response.headers.get("Date")


def _check_embedded_sandbox(
    factory: Callable[[], Any], timeout: float, env: Mapping[str, str]
) -> tuple[Check, str | None]:
    try:
        from rundctl.sandbox.server import Sandbox, SandboxOptions

        sandbox = Sandbox(SandboxOptions(port=0))
        base = sandbox.start()
    except Exception as exc:
        return Check("reachability", FAIL,
                     f"the embedded sandbox did not start: {_first_line(exc)}",
                     "check that 127.0.0.1 can be bound (a loopback interface exists)"), None
    try:
        response = _get(factory, base + RUNS_PATH, timeout)
    except Exception as exc:
        what, fix = describe_network_error(exc)
        if proxy_for(env, base) is not None:
            fix = "add localhost,127.0.0.1 to NO_PROXY: requests sends loopback traffic " \
                  "through the proxy otherwise"
        return Check("reachability", FAIL, f"embedded sandbox at {base}: {what}", fix), None
    finally:
        sandbox.stop()
    return (Check("reachability", PASS, f"embedded sandbox (local): started on {base}, "
                  f"GET {RUNS_PATH} answered HTTP {response.status_code}"),
            response.headers.get("Date"))


def check_clock(date_header: str | None, now: Callable[[], datetime]) -> Check:
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


def _check_authority(
    endpoint: Any, cloud: Any, mode: str, env: Mapping[str, str], factory: Callable[[], Any],
    timeout: float,
) -> Check:
    if endpoint.loopback:
        return Check("authority", PASS, "skipped (local endpoint): Microsoft is never contacted")
    from rundctl.auth import ENTRA_MODES

    needed = mode in ENTRA_MODES or (mode == "auto" and not env.get("RUNDCTL_TOKEN"))
    base = cloud.authority_host if "://" in cloud.authority_host else \
        f"https://{cloud.authority_host}"
    url = f"{base.rstrip('/')}/common/v2.0/.well-known/openid-configuration"
    host, port = _host_port(url)
    addresses, error = _resolve(host, port, timeout)
    if not addresses and proxy_for(env, url) is None:
        return Check("authority", FAIL if needed else WARN, f"{host} does not resolve: {error}",
                     "check DNS, or set HTTPS_PROXY; sign-in needs this host")
    try:
        response = _get(factory, url, timeout)
    except Exception as exc:
        what, fix = describe_network_error(exc)
        return Check("authority", FAIL if needed else WARN, f"GET {url}: {what}", fix)
    note = "" if needed else f" (not needed for --auth {mode})"
    return Check("authority", PASS, f"{host} answers over verified TLS "
                 f"(HTTP {response.status_code}){note}")


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
        return Check("keyring", WARN, f"libsecret is not available ({_first_line(exc)}): "
                     "'rundctl auth login' cannot keep an encrypted token cache",
                     KEYRING_FIX)
    if not env.get("DBUS_SESSION_BUS_ADDRESS"):
        return Check("keyring", WARN, "libsecret is installed, but there is no D-Bus session "
                     "(DBUS_SESSION_BUS_ADDRESS is unset), so no keyring can be reached",
                     "run inside a desktop session with a keyring (gnome-keyring), or "
                     "rundctl auth login --allow-unencrypted-cache")
    return Check("keyring", PASS, "libsecret via D-Bus (encrypted token cache)")


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


def check_credential(
    env: Mapping[str, str], endpoint: Any, cloud: Any, mode: str, tenant: str | None,
    client_id: str | None, token_file: str | None, now: Callable[[], datetime], timeout: float,
) -> Check:
    import io

    from rundctl import auth

    has_token = token_file is not None or bool(env.get("RUNDCTL_TOKEN"))
    chosen = mode
    how = f"--auth {mode}"
    if mode == "auto":
        picked = auth.auto_mode(env, endpoint, cloud, has_token)
        if picked is None:
            return Check("credential", FAIL,
                         f"--auth auto finds no credential for {endpoint.url}: nothing is "
                         "configured (checked: " + "; ".join(auth.AUTO_ORDER) + ")",
                         auth.FIX_HINT)
        chosen, how = picked, f"--auth auto picks {picked}"
    if chosen == "token" and token_file == "-":  # noqa: S105 - "-" means stdin
        return Check("credential", PASS, f"{how}: a token from stdin (--token-file -), not read "
                     "by doctor")
    if chosen in auth.ENTRA_MODES and endpoint.loopback:
        # A local endpoint never gets an Entra token fetched by doctor (no Microsoft contact).
        try:
            auth.check_token_destination(endpoint, cloud)
        except RundctlError as exc:
            return Check("credential", FAIL, f"{how}: {exc.message}", exc.hint)
        return Check("credential", PASS, f"{how}: would use {chosen} (no token fetched for a "
                     "local endpoint)")
    try:
        credential = auth.resolve(
            auth.AuthOptions(chosen, token_file, tenant, client_id), endpoint, cloud, env,
            stdin=io.BytesIO(b""), can_prompt=False,
        )
    except RundctlError as exc:
        return Check("credential", FAIL, f"{how}: {exc.message}", exc.hint or auth.FIX_HINT)
    if credential.get_token is None:
        return Check("credential", PASS, f"{how}: {credential.source}")
    if chosen in auth.ENTRA_MODES:
        finished, token, error = _run_bounded(credential.get_token, max(timeout, 20.0))
        if not finished:
            return Check("credential", WARN, f"{how} ({credential.source}): no token within "
                         f"{max(timeout, 20.0):g}s", "try 'rundctl auth status --debug'")
        if error is not None:
            message = error.message if isinstance(error, RundctlError) else _first_line(error)
            hint = error.hint if isinstance(error, RundctlError) else auth.FIX_HINT
            return Check("credential", FAIL, f"{how} ({credential.source}): {message}", hint)
    else:
        token = credential.get_token()
    return _describe_token(how, credential, token, endpoint, cloud, now)


def _describe_token(how: str, credential: Any, token: str, endpoint: Any, cloud: Any,
                    now: Callable[[], datetime]) -> Check:
    from rundctl import auth

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
    if not endpoint.loopback and not any("IndustryData" in str(p) for p in permissions):
        from rundctl.client import PERMISSION_READ

        return Check("credential", WARN, f"{detail}; the token carries no IndustryData-* "
                     "permission, so the service will answer 403",
                     f"grant the app {PERMISSION_READ} (application permission) and admin "
                     "consent in Entra")
    return Check("credential", PASS, detail)


def check_terminal(
    env: Mapping[str, str], *, stdin_tty: bool, stdout_tty: bool, stderr_tty: bool
) -> Check:
    from rundctl.auth import interactive

    size = shutil.get_terminal_size()
    no_color = env.get("NO_COLOR", "") != ""
    force = env.get("FORCE_COLOR", "") not in ("", "0")
    dumb = env.get("TERM", "") == "dumb"
    if no_color:
        colour = "off (NO_COLOR)"
    elif dumb:
        colour = "off (TERM=dumb)"
    elif force:
        colour = "on (FORCE_COLOR)"
    else:
        colour = "on" if stdout_tty else "off (stdout is not a terminal)"
    flags = ", ".join(f"{name} {'tty' if tty else 'not a tty'}" for name, tty in
                      (("stdin", stdin_tty), ("stdout", stdout_tty), ("stderr", stderr_tty)))
    variables = " ".join(f"{name}={env[name]}" for name in ("NO_COLOR", "FORCE_COLOR", "TERM",
                                                            "CI") if name in env)
    prompts = "allowed" if interactive(env, stdin_tty, stderr_tty) else "never"
    detail = (f"{flags}; default output {'table' if stdout_tty else 'json'}; colour {colour}; "
              f"width {size.columns}; prompts {prompts}")
    if variables:
        detail += f"; {variables}"
    return Check("terminal", PASS, detail)


# -- results ----------------------------------------------------------------------------


def exit_code(checks: Iterable[Check]) -> int:
    """0 when nothing failed; else 8 (network), 2 (config), 4 (credential), 1 (other)."""
    failed = {check.name for check in checks if check.status == FAIL}
    if not failed:
        return int(ExitCode.OK)
    if failed & NETWORK_CHECKS:
        return int(ExitCode.TEMPORARY)
    if "config" in failed:
        return int(ExitCode.USAGE)
    if "credential" in failed:
        return int(ExitCode.NOT_AUTHENTICATED)
    return int(ExitCode.INTERNAL)


def as_json(checks: Iterable[Check]) -> list[dict[str, str | None]]:
    """``[{"name", "status", "detail", "fix"}, ...]`` for ``rundctl doctor -o json``."""
    return [check._asdict() for check in checks]


def as_text(checks: Iterable[Check]) -> str:
    """Plain lines for a terminal or a log: ``pass  name  detail`` and an indented ``fix:``."""
    items = list(checks)
    width = max((len(check.name) for check in items), default=0)
    lines: list[str] = []
    for check in items:
        lines.append(f"{check.status:<4}  {check.name:<{width}}  {check.detail}")
        if check.fix and check.status != PASS:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    return "\n".join(lines) + ("\n" if lines else "")


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    for line in text.splitlines():
        if line.strip():
            return redact(line.strip())[:300]
    return type(exc).__name__
