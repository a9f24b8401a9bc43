"""rundctl doctor: every check against a real local sandbox, and each failure it must name.

Only local endpoints are used: doctor never contacts Microsoft for them, and a test asserts
that every request it makes goes to a loopback address.
"""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from rundctl import doctor
from rundctl.deps import Deps
from rundctl.doctor import Check, local
from rundctl.sandbox.server import Sandbox, SandboxOptions
from rundctl.settings import CLOUDS, Cloud, ConnSettings, Endpoint, is_loopback_host

ALLOWED_WARNINGS = {"keyring"}  # libsecret is often missing on CI machines


@pytest.fixture(autouse=True)
def no_proxy_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests reads proxies from os.environ: keep loopback traffic direct."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sandbox() -> Iterator[str]:
    box = Sandbox(SandboxOptions(port=0))
    url = box.start()
    try:
        yield url
    finally:
        box.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_deps(env: dict[str, str] | None = None, *, now: Callable[[], datetime] | None = None,
              session_factory: Callable[[], Any] | None = None, tty: bool = False) -> Deps:
    """A Deps with no terminal (unless ``tty``), the real clock unless ``now`` is given."""
    world: dict[str, Any] = {}
    if now is not None:
        world["clock"] = now
    if session_factory is not None:
        world["session_factory"] = session_factory
    return Deps(env=env if env is not None else {"PATH": "/nonexistent"}, stdin=io.BytesIO(b""),
                stdout=io.StringIO(), stderr=io.StringIO(), stdin_tty=tty, stdout_tty=tty,
                stderr_tty=tty, **world)


def run(env: dict[str, str] | None = None, endpoint: str | None = None, *,
        now: Callable[[], datetime] | None = None, session_factory: Callable[[], Any] | None = None,
        **kwargs: Any) -> list[Check]:
    options: dict[str, Any] = {
        "cloud_text": "global", "auth_mode": "auto", "tenant": None, "client_id": None,
        "timeout": 5.0,
    }
    options.update(kwargs)
    return doctor.run_checks(make_deps(env, now=now, session_factory=session_factory),
                             endpoint_text=endpoint, **options)


def settings(endpoint: Endpoint, cloud: Cloud, mode: str, token_file: str | None = None,
             timeout: float = 5.0) -> ConnSettings:
    return ConnSettings(endpoint, cloud, mode, token_file, timeout, debug=False)


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def jwt(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        raw = json.dumps(obj).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJlLXNlY3JldC12YWx1ZQ"


# -- against a real sandbox ---------------------------------------------------------------


def test_every_check_passes_against_a_local_sandbox(sandbox: str) -> None:
    checks = run(endpoint=sandbox)
    assert [c.name for c in checks] == list(doctor.CHECK_NAMES)
    for check in checks:
        assert check.status == "pass" or (check.status == "warn" and check.name in
                                          ALLOWED_WARNINGS), check
    assert doctor.exit_code(checks) == 0
    found = by_name(checks)
    assert f"GET {sandbox}/external/industryData/runs answers HTTP 200" in \
        found["reachability"].detail
    assert "skipped (local endpoint)" in found["authority"].detail
    assert "auto picks none" in found["credential"].detail
    assert "clock in sync" in found["clock"].detail


def test_embedded_sandbox_is_started_checked_and_stopped() -> None:
    checks = run(endpoint="sandbox")
    found = by_name(checks)
    assert found["reachability"].status == "pass"
    assert found["reachability"].detail.startswith("embedded sandbox (local)")
    assert "HTTP 200" in found["reachability"].detail
    assert found["dns"].status == "pass" and "not needed" in found["dns"].detail
    assert found["authority"].detail.startswith("skipped (local endpoint)")
    assert doctor.exit_code(checks) == 0
    # The sandbox was stopped: its port no longer answers.
    port = urlsplit(found["reachability"].detail.split("started on ")[1].split(",")[0]).port
    assert port is not None
    with socket.socket() as sock, pytest.raises(OSError):
        sock.settimeout(2)
        sock.connect(("127.0.0.1", port))


def test_local_endpoints_never_reach_beyond_loopback(sandbox: str) -> None:
    import requests

    seen: list[str] = []

    class Recording(requests.Session):
        def request(self, method: str | bytes, url: str | bytes, *args: Any,
                    **kwargs: Any) -> requests.Response:
            seen.append(str(url))
            return super().request(method, url, *args, **kwargs)

    for endpoint in (sandbox, sandbox + "/beta", "sandbox"):
        run(endpoint=endpoint, session_factory=Recording)
    probes = [url for url in seen if url.endswith("runs?$top=1")]  # the surfaces check
    assert len(seen) - len(probes) == 3 and len(probes) == 4  # the embedded one is not probed
    assert all(is_loopback_host(urlsplit(url).hostname or "") for url in seen), seen


def test_a_closed_port_fails_reachability_naming_the_error_and_exits_8() -> None:
    started = time.monotonic()
    checks = run(endpoint=f"http://127.0.0.1:{closed_port()}")
    assert time.monotonic() - started < 10
    found = by_name(checks)
    assert found["reachability"].status == "fail"
    assert "could not connect to 127.0.0.1:" in found["reachability"].detail
    assert "connection refused" in found["reachability"].detail
    assert found["reachability"].fix
    assert found["clock"].status == "warn"  # nothing to measure against
    assert doctor.exit_code(checks) == 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoint": "http://example.com"}, "http:// is allowed only for loopback hosts"),
        ({"endpoint": "ftp://host/x"}, "scheme 'ftp' is not supported"),
        ({"endpoint": "https://user:pw@graph.example"}, "credentials in the URL"),
        ({"endpoint": "sandbox", "cloud_text": "mars"}, "--cloud: 'mars' is not one of"),
        ({"endpoint": "sandbox", "auth_mode": "magic"}, "--auth: 'magic' is not one of"),
    ],
)
def test_a_bad_setting_fails_config_and_exits_2(kwargs: dict[str, Any], message: str) -> None:
    checks = run(**kwargs)
    found = by_name(checks)
    assert found["config"].status == "fail"
    assert message in found["config"].detail
    assert found["config"].fix
    assert "pw" not in json.dumps(doctor.as_json(checks)).replace("pwd", "")
    for name in ("dns", "reachability", "clock", "authority", "credential"):
        assert found[name].status == "warn" and found[name].detail.startswith("skipped")
    assert doctor.exit_code(checks) == 2


@pytest.mark.parametrize(("offset", "direction"), [(timedelta(minutes=10), "ahead of"),
                                                   (timedelta(minutes=-10), "behind")])
def test_clock_skew_over_five_minutes_warns_with_the_number(
    sandbox: str, offset: timedelta, direction: str
) -> None:
    checks = run(endpoint=sandbox, now=lambda: datetime.now(UTC) + offset)
    clock = by_name(checks)["clock"]
    assert clock.status == "warn"
    # The Date header has 1-second resolution: 10 minutes reads as 9m 59s to 10m 1s.
    assert re.search(r"clock is (9m 59s|10m 0s|10m 1s) " + direction, clock.detail), clock
    assert clock.fix and "clock" in clock.fix
    assert doctor.exit_code(checks) == 0


def test_small_skew_passes() -> None:
    now = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
    check = doctor.check_clock("Sun, 29 Nov 2026 11:58:00 GMT", lambda: now)
    assert check.status == "pass" and "+120s" in check.detail
    assert doctor.check_clock(None, lambda: now).status == "warn"
    assert doctor.check_clock("not a date", lambda: now).status == "warn"


def test_proxy_credentials_are_never_shown(sandbox: str) -> None:
    env = {"PATH": "/nonexistent",
           "HTTPS_PROXY": "http://alice:s3cr3t-pw@proxy.example:3128",
           "http_proxy": "bob:hunter2@proxy.example:8080",
           "NO_PROXY": "localhost,127.0.0.1"}
    checks = run(env, endpoint=sandbox)
    proxy = by_name(checks)["proxy"]
    assert "HTTPS_PROXY=http://proxy.example:3128 (credentials hidden)" in proxy.detail
    assert "http_proxy=proxy.example:8080 (credentials hidden)" in proxy.detail
    everything = json.dumps(doctor.as_json(checks)) + doctor.as_text(checks)
    for secret in ("alice", "s3cr3t", "bob", "hunter2"):
        assert secret not in everything
    assert doctor.exit_code(checks) == 0


@pytest.mark.parametrize(
    ("url", "shown", "hidden"),
    [
        ("http://proxy:3128", "http://proxy:3128", False),
        ("http://u:p@proxy:3128", "http://proxy:3128", True),
        ("http://u:p@ss@proxy:3128/path", "http://proxy:3128/path", True),
        ("u:p@proxy:3128", "proxy:3128", True),
        ("socks5h://user@proxy", "socks5h://proxy", True),
        ("http://proxy/a@b", "http://proxy/a@b", False),
    ],
)
def test_without_userinfo(url: str, shown: str, hidden: bool) -> None:
    assert doctor.without_userinfo(url) == (shown, hidden)


def test_a_proxy_that_would_carry_loopback_traffic_warns() -> None:
    check = doctor.check_proxy({"HTTP_PROXY": "http://proxy.example:3128"},
                               "http://127.0.0.1:8765")
    assert check.status == "warn" and "NO_PROXY" in (check.fix or "")
    assert doctor.check_proxy({"HTTP_PROXY": "http://proxy.example:3128",
                               "NO_PROXY": "127.0.0.1"}, "http://127.0.0.1:8765").status == "pass"


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypass"),
    [
        ("127.0.0.1", 8765, "localhost,127.0.0.1", True),
        ("127.0.0.1", 8765, "127.0.0.0/8", True),
        ("127.0.0.1", 8765, "localhost", False),
        ("graph.microsoft.com", None, ".microsoft.com", True),
        ("graph.microsoft.com", None, "microsoft.com", True),
        ("graph.microsoft.com", None, "example.com", False),
        ("anything", None, "*", True),
        ("::1", 8765, "::1", True),
    ],
)
def test_no_proxy_matching(host: str, port: int | None, no_proxy: str, bypass: bool) -> None:
    assert doctor.bypasses_proxy(host, port, no_proxy) is bypass


def test_a_missing_or_broken_ca_bundle_warns(tmp_path: Path) -> None:
    missing = doctor.check_proxy({"REQUESTS_CA_BUNDLE": str(tmp_path / "nope.pem")}, None)
    assert missing.status == "warn" and "does not exist" in missing.detail
    assert "REQUESTS_CA_BUNDLE" in (missing.fix or "")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    broken = doctor.check_proxy({"REQUESTS_CA_BUNDLE": str(junk)}, None)
    assert broken.status == "warn" and "not a readable PEM bundle" in broken.detail
    ignored = doctor.check_proxy({"SSL_CERT_FILE": str(tmp_path)}, None)
    assert ignored.status == "warn" and "REQUESTS_CA_BUNDLE" in (ignored.fix or "")
    assert doctor.check_proxy({"REQUESTS_CA_BUNDLE": str(tmp_path)}, None).status == "pass"


# -- the credential, and the token never shown --------------------------------------------


def test_a_static_token_is_described_but_never_printed(sandbox: str, tmp_path: Path) -> None:
    exp = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
    token = jwt({"tid": "tenant-1", "appid": "app-1", "aud": "https://graph.microsoft.com",
                 "exp": exp, "roles": ["IndustryData-Run.Read.All"]})
    checks = run({"PATH": "/nonexistent", "RUNDCTL_TOKEN": token}, endpoint=sandbox)
    credential = by_name(checks)["credential"]
    assert credential.status == "pass"
    assert "auto picks token: RUNDCTL_TOKEN" in credential.detail
    assert "identity app-1" in credential.detail and "tenant tenant-1" in credential.detail
    assert "IndustryData-Run.Read.All" in credential.detail
    everything = json.dumps(doctor.as_json(checks)) + doctor.as_text(checks)
    for piece in (token, *token.split(".")):
        assert piece not in everything

    opaque = "opaque-token-value-1234567890"
    path = tmp_path / "token.txt"
    path.write_text(opaque + "\n")
    for env, token_file in (({"PATH": "", "RUNDCTL_TOKEN": opaque}, None), ({"PATH": ""}, str(path))):
        checks = run(env, endpoint=sandbox, auth_mode="token", token_file=token_file)
        credential = by_name(checks)["credential"]
        assert credential.status == "pass" and "opaque token" in credential.detail
        assert opaque not in json.dumps(doctor.as_json(checks)) + doctor.as_text(checks)


def test_an_expired_token_warns(sandbox: str) -> None:
    token = jwt({"appid": "app-1", "exp": 1_000_000_000})
    credential = by_name(run({"RUNDCTL_TOKEN": token}, endpoint=sandbox))["credential"]
    assert credential.status == "warn" and "EXPIRED" in credential.detail


def test_token_from_stdin_is_not_read() -> None:
    credential = by_name(run(endpoint="sandbox", auth_mode="token", token_file="-"))["credential"]
    assert credential.status == "pass" and "not read by doctor" in credential.detail


def test_an_entra_mode_for_the_sandbox_fails_without_fetching_a_token() -> None:
    env = {"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "secret-value-123"}
    checks = run(env, endpoint="sandbox", auth_mode="environment")
    credential = by_name(checks)["credential"]
    assert credential.status == "fail" and "never sent to the sandbox" in credential.detail
    assert doctor.exit_code(checks) == 4
    assert "secret-value-123" not in json.dumps(doctor.as_json(checks))


def test_auto_with_nothing_configured_fails_for_a_remote_endpoint(tmp_path: Path) -> None:
    endpoint, cloud = Endpoint("https://graph.microsoft.com/beta"), CLOUDS["global"]
    env = {"PATH": str(tmp_path), "RUNDCTL_CONFIG_DIR": str(tmp_path)}
    check = doctor.check_credential(make_deps(env), settings(endpoint, cloud, "auto"))
    assert check.status == "fail" and "nothing is configured" in check.detail
    assert check.fix and "RUNDCTL_TOKEN" in check.fix
    assert doctor.exit_code([check]) == 4


def test_a_remote_token_without_industry_data_permissions_warns(tmp_path: Path) -> None:
    endpoint, cloud = Endpoint("https://graph.microsoft.com/beta"), CLOUDS["global"]
    now = lambda: datetime(2026, 1, 1, tzinfo=UTC)  # noqa: E731
    exp = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
    bare = jwt({"appid": "app-1", "exp": exp, "roles": ["User.Read.All"]})
    check = doctor.check_credential(make_deps({"RUNDCTL_TOKEN": bare}, now=now),
                                    settings(endpoint, cloud, "auto"))
    assert check.status == "warn" and "no IndustryData-* permission" in check.detail
    assert check.fix and "IndustryData-Run.Read.All" in check.fix
    good = jwt({"appid": "app-1", "exp": exp, "roles": ["IndustryData-Run.Read.All"]})
    check = doctor.check_credential(make_deps({"RUNDCTL_TOKEN": good}, now=now),
                                    settings(endpoint, cloud, "token"))
    assert check.status == "pass"


# -- dns, keyring, terminal, python -------------------------------------------------------


def test_a_name_that_does_not_resolve_fails_dns_and_exits_8(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_host(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    checks = run(endpoint="http://localhost:8765")
    found = by_name(checks)
    assert found["dns"].status == "fail" and "Name or service not known" in found["dns"].detail
    assert found["reachability"].status == "warn"  # not attempted
    assert doctor.exit_code(checks) == 8


def test_dns_is_bounded_by_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(2)
        raise socket.gaierror(socket.EAI_AGAIN, "late")

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    started = time.monotonic()
    check = doctor.check_dns(Endpoint("http://localhost:1"), {}, 0.2)
    assert time.monotonic() - started < 1.5
    assert check.status == "fail" and "no answer within 0.2s" in check.detail


def test_localhost_resolves() -> None:
    check = doctor.check_dns(Endpoint("http://localhost:1"), {}, 5.0)
    assert check.status == "pass" and check.detail.startswith("localhost resolves to")


def test_keyring() -> None:
    assert doctor.check_keyring({}, system="darwin").status == "pass"
    assert doctor.check_keyring({}, system="win32").status == "pass"
    linux = doctor.check_keyring({}, system="linux")
    assert linux.status in ("pass", "warn")
    if linux.status == "warn":
        assert linux.fix is not None and "--allow-unencrypted-cache" in linux.fix


@pytest.mark.parametrize(
    ("env", "stdout_tty", "colour"),
    [
        ({}, True, "colour on"),
        ({}, False, "colour off (stdout is not a terminal)"),
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, True, "colour off (NO_COLOR)"),
        ({"TERM": "dumb"}, True, "colour off (TERM=dumb)"),
        ({"FORCE_COLOR": "1"}, False, "colour on (FORCE_COLOR)"),
        ({"FORCE_COLOR": "0"}, False, "colour off"),
    ],
)
def test_terminal(env: dict[str, str], stdout_tty: bool, colour: str) -> None:
    check = doctor.check_terminal(env, stdin_tty=True, stdout_tty=stdout_tty, stderr_tty=True)
    assert check.status == "pass" and colour in check.detail
    assert ("default output table" if stdout_tty else "default output json") in check.detail
    assert "width " in check.detail


def test_prompts_follow_the_tty_and_ci_rules() -> None:
    yes = doctor.check_terminal({}, stdin_tty=True, stdout_tty=False, stderr_tty=True)
    ci = doctor.check_terminal({"CI": "true"}, stdin_tty=True, stdout_tty=True, stderr_tty=True)
    assert "prompts allowed" in yes.detail and "prompts never" in ci.detail
    assert "CI=true" in ci.detail


def test_python_check_reports_the_packages() -> None:
    check = doctor.check_python()
    assert check.status in ("pass", "warn")
    for name in doctor.REQUIRED_PACKAGES:
        assert name in check.detail


def test_a_missing_package_fails_python(monkeypatch: pytest.MonkeyPatch) -> None:
    from rundctl import about

    real = about.versions

    def without_msal() -> dict[str, str | None]:
        return {**real(), "msal": None}

    monkeypatch.setattr(about, "versions", without_msal)
    check = doctor.check_python()
    assert check.status == "fail" and "missing package(s): msal" in check.detail
    assert doctor.exit_code([check]) == 1


# -- results ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failed", "code"),
    [
        ((), 0),
        (("reachability",), 8),
        (("dns", "config", "credential"), 8),
        (("authority", "credential"), 8),
        (("config", "credential"), 2),
        (("credential",), 4),
        (("python",), 1),
    ],
)
def test_exit_code_precedence(failed: tuple[str, ...], code: int) -> None:
    checks = [Check(name, "fail" if name in failed else "warn", "d", None)
              for name in doctor.CHECK_NAMES]
    assert doctor.exit_code(checks) == code


def test_as_json_and_text_shapes(sandbox: str) -> None:
    checks = run(endpoint=f"http://127.0.0.1:{closed_port()}")
    data = doctor.as_json(checks)
    assert json.loads(json.dumps(data)) == data
    assert [item["name"] for item in data] == list(doctor.CHECK_NAMES)
    for item in data:
        assert set(item) == {"name", "status", "detail", "fix"}
        assert item["status"] in doctor.STATUSES
    text = doctor.as_text(checks)
    assert text.splitlines()[0].startswith("pass  python")
    assert any(line.strip().startswith("fix: ") for line in text.splitlines())
    assert doctor.as_text([]) == ""


def test_server_strings_are_neutralised(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"HTTPS_PROXY": "http://proxy\x1b[31m.example:3128", "PATH": ""}
    checks = run(env, endpoint="sandbox")
    assert "\x1b" not in json.dumps(doctor.as_json(checks), ensure_ascii=False)
    assert "\\x1b" in by_name(checks)["proxy"].detail


def test_a_check_that_breaks_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(env: Any, system: str | None = None) -> Check:
        raise RuntimeError("boom")

    monkeypatch.setattr(local, "check_keyring", broken)
    checks = run(endpoint="sandbox")
    keyring = by_name(checks)["keyring"]
    assert keyring.status == "warn" and "RuntimeError: boom" in keyring.detail
    assert [c.name for c in checks] == list(doctor.CHECK_NAMES)
    assert doctor.exit_code(checks) == 0
