"""doctor's credential check goes through Deps.credential, never prompts, never reads stdin;
and run_checks takes the Deps (the older keyword form still works until its caller moves)."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from rundctl import auth, doctor
from rundctl.deps import Deps
from rundctl.doctor import credential as credential_check
from rundctl.errors import NotAuthenticated
from rundctl.settings import CLOUDS, ConnSettings, Endpoint
from tests.test_doctor import by_name, jwt, settings

GRAPH = Endpoint("https://graph.microsoft.com/beta")
GLOBAL = CLOUDS["global"]
NOW = datetime(2026, 1, 1, tzinfo=UTC)
LATER = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
GOOD = jwt({"appid": "app-1", "tid": "tenant-1", "exp": LATER, "roles": ["IndustryData-Run.Read.All"]})


class Factory:
    """A credential factory that records what doctor asked for and the world it was given."""

    def __init__(self, result: auth.Credential | Exception) -> None:
        self.result = result
        self.calls: list[tuple[ConnSettings, bool, bytes]] = []

    def __call__(self, deps: Deps, conn: ConnSettings) -> auth.Credential:
        self.calls.append((conn, deps.can_prompt(), deps.stdin.read()))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def terminal_deps(factory: Factory, env: dict[str, str] | None = None) -> Deps:
    """Everything on a terminal and something waiting on stdin: doctor must use neither."""
    return Deps(env=env or {"PATH": ""}, stdin=io.BytesIO(b"typed-ahead-secret"),
                stdout=io.StringIO(), stderr=io.StringIO(), clock=lambda: NOW,
                stdin_tty=True, stdout_tty=True, stderr_tty=True, credential_factory=factory)


def test_the_credential_comes_from_deps_without_a_prompt_or_stdin() -> None:
    factory = Factory(auth.Credential("token", "fake static token", lambda: GOOD))
    deps = terminal_deps(factory, {"PATH": "", "RUNDCTL_TOKEN": "x"})
    check = doctor.check_credential(deps, settings(GRAPH, GLOBAL, "auto"))
    assert check.status == "pass", check
    assert check.detail.startswith("--auth auto picks token: fake static token; identity app-1")
    [(conn, can_prompt, typed)] = factory.calls
    assert conn.auth_mode == "token" and conn.endpoint == GRAPH  # auto resolved by doctor
    assert can_prompt is False and typed == b""
    assert deps.can_prompt() and deps.stdin.read() == b"typed-ahead-secret"  # untouched


def test_a_factory_that_refuses_fails_with_its_message_and_hint() -> None:
    factory = Factory(NotAuthenticated("--auth environment: AZURE_TENANT_ID not set",
                                       hint="set AZURE_TENANT_ID"))
    check = doctor.check_credential(terminal_deps(factory), settings(GRAPH, GLOBAL, "environment"))
    assert check == doctor.Check("credential", "fail",
                                 "--auth environment: --auth environment: AZURE_TENANT_ID not set",
                                 "set AZURE_TENANT_ID")
    assert doctor.exit_code([check]) == 4


def test_no_credential_for_a_loopback_endpoint() -> None:
    factory = Factory(auth.Credential("none", "no credential (loopback endpoint)", None))
    check = doctor.check_credential(terminal_deps(factory),
                                    settings(Endpoint("http://127.0.0.1:1"), GLOBAL, "none"))
    assert check == doctor.Check("credential", "pass",
                                 "--auth none: no credential (loopback endpoint)")


def entra(get_token: Any) -> auth.Credential:
    return auth.Credential("environment", "environment: client secret", get_token)


def test_an_entra_token_is_described() -> None:
    check = doctor.check_credential(terminal_deps(Factory(entra(lambda: GOOD))),
                                    settings(GRAPH, GLOBAL, "environment"))
    assert check.status == "pass"
    assert check.detail.startswith("--auth environment: environment: client secret; identity")


@pytest.mark.parametrize(
    ("error", "detail", "fix"),
    [
        (NotAuthenticated("could not get a token: AADSTS7000215", hint="check the secret"),
         "could not get a token: AADSTS7000215", "check the secret"),
        (RuntimeError("socket closed\nmore"), "socket closed", auth.FIX_HINT),
    ],
)
def test_an_entra_token_failure_fails(error: Exception, detail: str, fix: str) -> None:
    def broken() -> str:
        raise error

    check = doctor.check_credential(terminal_deps(Factory(entra(broken))),
                                    settings(GRAPH, GLOBAL, "environment"))
    assert check == doctor.Check("credential", "fail",
                                 f"--auth environment (environment: client secret): {detail}", fix)


def test_an_entra_token_that_takes_too_long_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(credential_check, "MIN_TOKEN_WAIT", 0.1)

    def slow() -> str:
        time.sleep(2)
        return GOOD

    check = doctor.check_credential(terminal_deps(Factory(entra(slow))),
                                    settings(GRAPH, GLOBAL, "environment", timeout=0.1))
    assert check.status == "warn" and "no token within 0.1s" in check.detail


# -- run_checks: the Deps form and the older keyword form ----------------------------------


OPTIONS: dict[str, Any] = {"endpoint_text": "sandbox", "cloud_text": "global",
                           "auth_mode": "none", "tenant": None, "client_id": None}


def test_run_checks_takes_the_terminal_flags_and_credential_from_deps() -> None:
    factory = Factory(auth.Credential("none", "no credential (loopback endpoint)", None))
    found = by_name(doctor.run_checks(terminal_deps(factory), **OPTIONS))
    assert found["terminal"].detail.startswith("stdin tty, stdout tty, stderr tty")
    assert "prompts allowed" in found["terminal"].detail  # reported, though doctor never prompts
    assert found["credential"].detail == "--auth none: no credential (loopback endpoint)"
    assert len(factory.calls) == 1


def test_invalid_settings_still_check_the_keyring_and_terminal() -> None:
    checks = doctor.run_checks(terminal_deps(Factory(RuntimeError("unused"))),
                               **{**OPTIONS, "cloud_text": "mars"})
    found = by_name(checks)
    assert found["keyring"].status in ("pass", "warn")
    assert not found["keyring"].detail.startswith(("skipped", "this check could not run"))
    assert found["terminal"].status == "pass"
    assert doctor.exit_code(checks) == 2
