"""doctor's network checks over rundctl's own HTTP client, against loopback servers only.

A scripted HTTP server answers what each test needs (any status, a redirect, a body that is not
JSON, no answer in time); the Entra stand-in serves real TLS on 127.0.0.1 for the verified-TLS
and authority paths. Nothing here resolves or contacts a non-loopback host.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from rundctl import doctor
from rundctl.doctor import network
from rundctl.settings import Cloud, Endpoint
from tests.scripted_server import Recorded, ScriptedServer, Step
from tests.test_doctor import by_name, closed_port, make_deps, run, settings
from tests.token_server import TestCA, TokenServer, make_test_ca

REMOTE = Endpoint("https://graph.example/beta")  # never contacted: only its authority is


@pytest.fixture(autouse=True)
def no_proxy_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests reads proxies from os.environ: keep loopback traffic direct."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if anything looks up a name that is not loopback."""
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        assert str(host) in ("127.0.0.1", "localhost", "::1"), f"tried to resolve {host}"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def tls_server(test_ca: TestCA) -> Iterator[TokenServer]:
    with TokenServer(ca=test_ca) as server:
        yield server


def always(step: Step) -> Any:
    """A script that answers every request (retries included) with ``step``."""
    return lambda recorded: step


# -- any HTTP answer proves reachability ---------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 404, 500, 503])
def test_an_error_status_still_proves_reachability(status: int) -> None:
    with ScriptedServer(always(Step(status, json={"error": {"code": "x", "message": "no"}}))) \
            as server:
        checks = run(endpoint=server.url)
    found = by_name(checks)
    assert found["reachability"].status == "pass", found["reachability"]
    assert found["reachability"].detail == \
        f"GET {server.url}/external/industryData/runs answers HTTP {status}"
    assert found["clock"].status == "pass"  # the Date header of the error answer
    assert doctor.exit_code(checks) == 0


def test_the_clock_is_measured_from_the_date_of_an_error_answer() -> None:
    ahead = lambda: datetime.now(UTC) + timedelta(minutes=10)  # noqa: E731
    with ScriptedServer(always(Step(401, json={"error": {"code": "InvalidAuthenticationToken"}}))) \
            as server:
        clock = by_name(run(endpoint=server.url, now=ahead))["clock"]
    assert clock.status == "warn" and "ahead of the server's" in clock.detail


def test_a_redirect_is_reported_and_never_followed() -> None:
    seen: list[str] = []

    class Recording(requests.Session):
        def request(self, method: str | bytes, url: str | bytes, *args: Any,
                    **kwargs: Any) -> requests.Response:
            seen.append(str(url))
            return super().request(method, url, *args, **kwargs)

    with ScriptedServer([Step.redirect_to("http://127.0.0.1:9/elsewhere", 301)]) as server:
        checks = run(endpoint=server.url, session_factory=Recording)
    reachability = by_name(checks)["reachability"]
    assert reachability.status == "pass"
    assert reachability.detail == (
        f"GET {server.url}/external/industryData/runs answers HTTP 301; it redirects to "
        "http://127.0.0.1:9/elsewhere, and rundctl never follows redirects")
    assert seen[0] == f"{server.url}/external/industryData/runs"
    assert all(url.startswith(server.url) and url.endswith("runs?$top=1") for url in seen[1:])


def test_a_body_that_is_not_json_still_proves_reachability() -> None:
    page = Step(200, body=b"<html>captive portal</html>", headers={"Content-Type": "text/html"})
    with ScriptedServer(always(page)) as server:
        reachability = by_name(run(endpoint=server.url))["reachability"]
    assert reachability.status == "pass" and reachability.detail.endswith("answers HTTP 200")


def test_no_answer_in_time_fails_with_the_read_timeout_fix() -> None:
    with ScriptedServer(always(Step(delay=3.0))) as server:
        checks = run(endpoint=server.url, timeout=0.3)
    reachability = by_name(checks)["reachability"]
    assert reachability.status == "fail"
    assert "no answer in time" in reachability.detail
    assert reachability.fix == network.READ_TIMEOUT_FIX
    assert doctor.exit_code(checks) == 8


def test_each_get_sends_no_credential_and_closes_its_session() -> None:
    closed: list[bool] = []

    class Closing(requests.Session):
        def close(self) -> None:
            closed.append(True)
            super().close()

    requests_seen: list[Recorded] = []
    with ScriptedServer(always(Step(200))) as server:
        run({"PATH": "", "RUNDCTL_TOKEN": "not-sent-to-anyone"}, endpoint=server.url,
            session_factory=Closing)
        requests_seen = server.requests
    assert len(requests_seen) == 3 and closed == [True] * 3  # reachability + 2 surface probes
    assert all("Authorization" not in r.headers for r in requests_seen)
    assert requests_seen[0].headers["User-Agent"].startswith("rundctl/")


def test_a_session_that_breaks_is_a_failure_with_the_innermost_reason() -> None:
    class Broken(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> requests.Response:
            raise RuntimeError("no sockets in this sandbox")

    checks = run(endpoint=f"http://127.0.0.1:{closed_port()}", session_factory=Broken)
    reachability = by_name(checks)["reachability"]
    assert reachability.status == "fail"
    assert reachability.detail.endswith(": RuntimeError: no sockets in this sandbox")
    assert reachability.fix == "check the endpoint and the network"


# -- proxies -------------------------------------------------------------------------------


def test_a_dead_proxy_fails_reachability_with_the_proxy_fix(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HTTP_PROXY", proxy)  # requests reads os.environ; doctor reads Deps.env
    with ScriptedServer() as server:
        checks = run({"PATH": "", "HTTP_PROXY": proxy, "NO_PROXY": "localhost"},
                     endpoint=server.url)
        assert server.requests == []
    found = by_name(checks)
    assert found["proxy"].status == "warn" and "NO_PROXY" in (found["proxy"].fix or "")
    assert found["reachability"].status == "fail"
    assert found["reachability"].fix == network.PROXY_FIX
    assert doctor.exit_code(checks) == 8


def test_the_embedded_sandbox_behind_a_proxy_names_no_proxy(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HTTP_PROXY", proxy)
    checks = run({"PATH": "", "HTTP_PROXY": proxy}, endpoint="sandbox")
    reachability = by_name(checks)["reachability"]
    assert reachability.status == "fail"
    assert reachability.detail.startswith("embedded sandbox at http://127.0.0.1:")
    assert reachability.fix == network.SANDBOX_PROXY_FIX


# -- TLS, on loopback ----------------------------------------------------------------------


def test_verified_tls_to_a_loopback_https_endpoint(
    tls_server: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_server.ca_path))
    checks = run(endpoint=tls_server.url)
    found = by_name(checks)
    assert found["dns"].detail == "127.0.0.1 is an IP address: no lookup needed"
    assert found["reachability"].status == "pass"
    assert found["reachability"].detail == \
        f"{tls_server.url} answers over verified TLS (HTTP 404)"
    assert found["clock"].status == "pass"
    assert doctor.exit_code(checks) == 0


def test_an_untrusted_certificate_fails_with_the_tls_fix(tls_server: TokenServer) -> None:
    checks = run(endpoint=tls_server.url)
    reachability = by_name(checks)["reachability"]
    assert reachability.status == "fail"
    assert "TLS verification failed" in reachability.detail
    assert reachability.fix == network.TLS_FIX
    assert doctor.exit_code(checks) == 8


def custom_cloud(authority: str) -> Cloud:
    return Cloud("custom", "https://graph.example", authority)


def test_the_authority_answers_over_verified_tls(
    tls_server: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_server.ca_path))
    deps = make_deps()
    needed = network.check_authority(deps, settings(REMOTE, custom_cloud(tls_server.url), "auto"))
    assert needed == doctor.Check("authority", "pass",
                                  "127.0.0.1 answers over verified TLS (HTTP 200)")
    assert tls_server.count("GET", "/common/v2.0/.well-known/openid-configuration") == 1
    optional = network.check_authority(deps, settings(REMOTE, custom_cloud(tls_server.url),
                                                      "token"))
    assert optional.status == "pass" and optional.detail.endswith("(not needed for --auth token)")


def test_an_unreachable_authority_fails_only_when_sign_in_needs_it(tls_server: TokenServer) -> None:
    deps = make_deps()
    untrusted = custom_cloud(tls_server.url)
    needed = network.check_authority(deps, settings(REMOTE, untrusted, "environment"))
    assert needed.status == "fail" and "TLS verification failed" in needed.detail
    assert needed.fix == network.TLS_FIX
    assert doctor.exit_code([needed]) == 8
    optional = network.check_authority(deps, settings(REMOTE, untrusted, "token"))
    assert optional.status == "warn" and optional.fix == network.TLS_FIX
    refused = network.check_authority(
        deps, settings(REMOTE, custom_cloud(f"https://127.0.0.1:{closed_port()}"), "auto"))
    assert refused.status == "fail" and "connection refused" in refused.detail
    assert refused.fix == network.CONNECTION_FIX


def test_a_local_endpoint_never_contacts_the_authority() -> None:
    check = network.check_authority(make_deps(), settings(Endpoint("http://127.0.0.1:1"),
                                                          custom_cloud("https://127.0.0.1:9"),
                                                          "environment"))
    assert check.status == "pass" and check.detail.startswith("skipped (local endpoint)")


def test_surfaces_tells_a_published_only_service_apart() -> None:
    segment = Step(400, json={"error": {"code": "BadRequest",
                                        "message": "Resource not found for the segment "
                                        "'incomingFlows'."}})

    def answer(request: Recorded) -> Step:
        return segment if "incomingFlows" in request.path else Step(200, json={"value": []})

    with ScriptedServer(answer) as server:
        found = by_name(run(endpoint=server.url))["surfaces"]
    assert found.status == "warn"
    assert "published industryData API only" in found.detail and "exit 7" in found.detail
    with ScriptedServer(always(Step(200, json={"value": []}))) as server:
        both = by_name(run(endpoint=server.url))["surfaces"]
    assert both.status == "pass" and "both" in both.detail
