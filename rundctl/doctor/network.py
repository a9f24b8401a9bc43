"""The checks that go on the network: DNS, reachability (or the embedded sandbox), authority.

Every GET goes through rundctl's own :class:`~rundctl.client.GraphClient` (the session from
``Deps.session_factory``, no credential, TLS verified, redirects never followed), so doctor
sees what the other commands see. Any HTTP answer, even 401 or 404, proves reachability.
Each check is bounded by ``timeout`` seconds.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from rundctl.deps import Deps
from rundctl.doctor.check import FAIL, PASS, WARN, Check, first_line
from rundctl.doctor.proxy import proxy_for, without_userinfo
from rundctl.errors import ApiErrorInfo, BadResponse, RundctlError, SecurityRefused
from rundctl.settings import ConnSettings, Endpoint

RUNS_PATH = "/external/industryData/runs"
TLS_FIX = ("if a proxy or firewall inspects TLS, point REQUESTS_CA_BUNDLE at its CA "
           "certificate (PEM); check the system clock; rundctl never disables verification")
PROXY_FIX = "check HTTPS_PROXY / HTTP_PROXY (host, port, credentials) and NO_PROXY"
CONNECT_TIMEOUT_FIX = "a firewall may drop the traffic; check the network, or set HTTPS_PROXY"
READ_TIMEOUT_FIX = "the service or a proxy in between is not answering; try again later"
CONNECTION_FIX = ("check that the endpoint is up and the host and port are right "
                  "(for a local sandbox: is 'rundctl sandbox' running?)")
SANDBOX_PROXY_FIX = ("add localhost,127.0.0.1 to NO_PROXY: requests sends loopback traffic "
                     "through the proxy otherwise")
# The client's messages for two answers it reports without an ApiErrorInfo (see _answer_of).
_REDIRECT = re.compile(r"answered a redirect \((\d{3}) to (.*)\); rundctl never follows")
_UNREADABLE = re.compile(r"\(HTTP (\d{3}), not JSON\)")


class Answer(NamedTuple):
    """An HTTP answer: whatever its status, the host is reachable."""

    status: int
    date: str | None = None
    location: str | None = None
    message: str | None = None


# -- one GET through the client ----------------------------------------------------------


def probe(deps: Deps, base: str, url: str, timeout: float, auth: Any = None) -> Answer:
    """GET ``url`` (on ``base``'s origin) once; raise when no HTTP answer came back."""
    from rundctl.client import Deadline, GraphClient, NoAuth

    session = deps.session_factory()
    try:
        client = GraphClient(base, session=session, auth=auth or NoAuth(),
                             deadline=Deadline(timeout, deps.monotonic), sleep=deps.sleep,
                             now=deps.clock, rand=_no_jitter)
        try:
            response = client.send("GET", url)
        except RundctlError as exc:
            answer = _answer_of(exc)
            if answer is None:
                raise
            return answer
        return Answer(response.status, response.headers.get("Date"))
    finally:
        session.close()


def _no_jitter() -> float:
    """Retries (on 5xx, 429, a dropped connection) come at once, inside ``timeout``."""
    return 0.0


def _answer_of(exc: RundctlError) -> Answer | None:
    """The HTTP answer behind a client error; None when the server never answered."""
    info = getattr(exc, "info", None)
    if isinstance(info, ApiErrorInfo):
        return Answer(info.status, info.date, getattr(info, "location", None), info.message)
    # Fallback: the client raises a redirect and a non-JSON body without an ApiErrorInfo.
    pattern = _REDIRECT if isinstance(exc, SecurityRefused) else \
        _UNREADABLE if isinstance(exc, BadResponse) else None
    match = pattern.search(exc.message) if pattern is not None else None
    if match is None:
        return None
    location = match.group(2) if pattern is _REDIRECT else None
    return Answer(int(match.group(1)), None, location if location != "?" else None)


def describe_failure(exc: BaseException, url: str, *, proxied: bool) -> tuple[str, str]:
    """(what went wrong, how to fix it) for a GET of ``url`` that got no HTTP answer."""
    if not isinstance(exc, RundctlError):
        from rundctl.client import error_reason

        return f"{type(exc).__name__}: {error_reason(exc)}", "check the endpoint and the network"
    what = exc.message.removeprefix(f"GET {url}: ")
    if isinstance(exc, SecurityRefused):
        return what, TLS_FIX
    if proxied:
        return what, PROXY_FIX
    if "no answer in time" in what:
        return what, READ_TIMEOUT_FIX
    if "timed out" in what.lower():
        return what, CONNECT_TIMEOUT_FIX
    return what, CONNECTION_FIX


# -- dns ---------------------------------------------------------------------------------


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


def check_dns(endpoint: Endpoint, env: Mapping[str, str], timeout: float) -> Check:
    if endpoint.sandbox or endpoint.url is None:
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


# -- reachability ------------------------------------------------------------------------


def check_reachability(
    deps: Deps, endpoint: Endpoint, timeout: float, *, resolved: bool
) -> tuple[Check, str | None]:
    """(check, the Date header of the answer)."""
    if endpoint.sandbox or endpoint.url is None:
        return check_embedded_sandbox(deps, timeout)
    base = endpoint.url
    if not resolved and proxy_for(deps.env, base) is None:
        return Check("reachability", WARN, "skipped: the host does not resolve (see dns)",
                     "fix the dns check first"), None
    https = base.startswith("https://")
    url = base if https else base + RUNS_PATH
    try:
        answer = probe(deps, base, url, timeout)
    except Exception as exc:
        what, fix = describe_failure(exc, url, proxied=proxy_for(deps.env, url) is not None)
        return Check("reachability", FAIL, f"GET {url}: {what}", fix), None
    if https:
        detail = f"{url} answers over verified TLS (HTTP {answer.status})"
    else:
        detail = f"GET {url} answers HTTP {answer.status}"
    if 300 <= answer.status < 400 and answer.location:
        detail += f"; it redirects to {answer.location}, and rundctl never follows redirects"
    return Check("reachability", PASS, detail), answer.date


def check_embedded_sandbox(deps: Deps, timeout: float) -> tuple[Check, str | None]:
    """Start the embedded sandbox on 127.0.0.1, GET its runs, stop it."""
    try:
        from rundctl.sandbox.server import Sandbox, SandboxOptions

        sandbox = Sandbox(SandboxOptions(port=0))
        base = sandbox.start()
    except Exception as exc:
        return Check("reachability", FAIL,
                     f"the embedded sandbox did not start: {first_line(exc)}",
                     "check that 127.0.0.1 can be bound (a loopback interface exists)"), None
    try:
        answer = probe(deps, base, base + RUNS_PATH, timeout)
    except Exception as exc:
        proxied = proxy_for(deps.env, base) is not None
        what, fix = describe_failure(exc, base + RUNS_PATH, proxied=proxied)
        return Check("reachability", FAIL, f"embedded sandbox at {base}: {what}",
                     SANDBOX_PROXY_FIX if proxied else fix), None
    finally:
        sandbox.stop()
    return (Check("reachability", PASS, f"embedded sandbox (local): started on {base}, "
                  f"GET {RUNS_PATH} answered HTTP {answer.status}"), answer.date)


# -- authority ---------------------------------------------------------------------------


def check_authority(deps: Deps, conn: ConnSettings) -> Check:
    """The sign-in authority's OpenID configuration answers (only for non-local endpoints)."""
    if conn.endpoint.loopback:
        return Check("authority", PASS, "skipped (local endpoint): Microsoft is never contacted")
    from rundctl.auth import ENTRA_MODES

    mode = conn.auth_mode
    needed = mode in ENTRA_MODES or (mode == "auto" and not deps.env.get("RUNDCTL_TOKEN"))
    authority = conn.cloud.authority_host
    base = (authority if "://" in authority else f"https://{authority}").rstrip("/")
    url = f"{base}/common/v2.0/.well-known/openid-configuration"
    host, port = _host_port(url)
    addresses, error = _resolve(host, port, conn.timeout)
    if not addresses and proxy_for(deps.env, url) is None:
        return Check("authority", FAIL if needed else WARN, f"{host} does not resolve: {error}",
                     "check DNS, or set HTTPS_PROXY; sign-in needs this host")
    try:
        answer = probe(deps, base, url, conn.timeout)
    except Exception as exc:
        what, fix = describe_failure(exc, url, proxied=proxy_for(deps.env, url) is not None)
        return Check("authority", FAIL if needed else WARN, f"GET {url}: {what}", fix)
    note = "" if needed else f" (not needed for --auth {mode})"
    return Check("authority", PASS, f"{host} answers over verified TLS "
                 f"(HTTP {answer.status}){note}")


# -- surfaces ----------------------------------------------------------------------------

_PROBE_FLOW = "00000000-0000-0000-0000-000000000000"
DRAFT_PROBE = f"/industryData/incomingFlows/{_PROBE_FLOW}/runs?$top=1"
PUBLISHED_PROBE = "/external/industryData/runs?$top=1"


def _served(answer: Answer) -> bool | None:
    """True: the path exists; False: 'Resource not found for the segment'; None: unknown."""
    if answer.status in (200, 404):
        return True
    if answer.status == 400 and "not found for the segment" in (answer.message or "").lower():
        return False
    return None


def check_surfaces(deps: Deps, conn: ConnSettings, auth: Any) -> Check:
    """Which API surfaces the endpoint serves: two read-only GETs (one of each)."""
    if conn.endpoint.sandbox or conn.endpoint.url is None:
        return Check("surfaces", PASS, "the embedded sandbox serves both: the draft Create-run "
                     "API and the published industryData API")
    base = conn.endpoint.url
    found: dict[str, bool | None] = {}
    for name, path in (("draft", DRAFT_PROBE), ("published", PUBLISHED_PROBE)):
        try:
            found[name] = _served(probe(deps, base, base + path, conn.timeout, auth))
        except Exception:
            found[name] = None
    draft, published = found["draft"], found["published"]
    if draft and published:
        return Check("surfaces", PASS, "serves both: the draft Create-run API and the "
                     "published industryData API")
    if published and draft is False:
        return Check("surfaces", WARN, "serves the published industryData API only (as "
                     "Microsoft's service does): create, bulk create and update need the draft "
                     "Create-run API and will exit 7",
                     "use 'rundctl start' for an on-demand run, 'rundctl list' to read runs")
    if draft and published is False:
        return Check("surfaces", WARN, "serves the draft Create-run API only: stats, "
                     "activities, start, flows and list without --flow will fail")
    return Check("surfaces", WARN, f"could not tell which surfaces are served (draft: "
                 f"{_word(draft)}, published: {_word(published)})",
                 "check the credential and the reachability checks above")


def _word(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"
