"""Credentials in-process: static tokens, auth status, and the real azure-identity code paths
against a local Entra stand-in (TLS on 127.0.0.1, test CA) and a sandbox in this process that
requires exactly the token Entra issued."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FLOW, invoke
from tests.test_inproc_support import RUNNING, local_sandbox
from tests.token_server import TestCA, TokenServer, make_jwt, make_test_ca

TENANT = "3c9e8f2a-1b4d-4e6f-8a0c-2d4f6a8c0e13"
CLIENT = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
SECRET = "client-s3cret-value"
ISSUED = make_jwt({"tid": TENANT, "appid": CLIENT, "roles": ["IndustryData-Run.Read.All"],
                   "aud": "sandbox", "exp": 4102444800})


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def entra(test_ca: TestCA) -> Iterator[TokenServer]:
    with TokenServer(ISSUED, ca=test_ca, client_id=CLIENT, client_secret=SECRET,
                     tenants=[TENANT]) as server:
        yield server


@pytest.fixture
def locked() -> Iterator[str]:
    with local_sandbox(require_token=ISSUED) as url:
        yield url


def cloud_env(entra: TokenServer, sandbox: str, **extra: str) -> dict[str, str]:
    return {
        "RUNDCTL_CLOUD": "custom",
        "RUNDCTL_GRAPH_ROOT": sandbox,
        "RUNDCTL_AUTHORITY_HOST": entra.url,
        "REQUESTS_CA_BUNDLE": str(entra.ca_path),
        "SSL_CERT_FILE": str(entra.ca_path),
        "AZURE_TENANT_ID": TENANT,
        "AZURE_CLIENT_ID": CLIENT,
        **extra,
    }


def create_and_list(env: dict[str, str], mode: str) -> list[str]:
    made = invoke(["create", "--flow", FLOW, "--auth", mode, *RUNNING, "-o", "id"], env=env)
    assert made.exit_code == 0, made.stderr
    listed = invoke(["list", "--flow", FLOW, "--auth", mode, "-o", "id"], env=env)
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.split() == [made.stdout.strip()]
    return listed.stdout.split()


# -- static tokens and auth status --------------------------------------------------------


def test_auth_status_shows_the_claims_of_a_token_and_never_the_token() -> None:
    token = make_jwt({"tid": TENANT, "upn": "ada@contoso.example", "aud": "https://graph",
                      "exp": 4102444800, "scp": "IndustryData.ReadBasic.All User.Read"})
    res = invoke(["auth", "status", "-o", "json"], env={"RUNDCTL_TOKEN": token})
    assert res.exit_code == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["mode"] == "token" and info["source"] == "RUNDCTL_TOKEN"
    assert info["tenant"] == TENANT and info["identity"] == "ada@contoso.example"
    assert info["expires"] == "2100-01-01T00:00:00Z"
    assert info["scopes"] == ["IndustryData.ReadBasic.All", "User.Read"] and info["roles"] == []
    assert info["endpoint"] == "https://graph.microsoft.com/beta"
    assert token not in res.stdout + res.stderr and token.split(".")[1] not in res.stdout


def test_auth_status_as_aligned_lines_on_a_terminal() -> None:
    token = make_jwt({"appid": CLIENT, "roles": ["A.Read", "B.Write"]})
    res = invoke(["auth", "status"], env={"RUNDCTL_TOKEN": token, "NO_COLOR": "1"}, tty=True)
    assert res.exit_code == 0, res.stderr
    rows = {line.split()[0]: line.split(None, 1)[1] for line in res.stdout.splitlines()}
    assert rows["mode"] == "token" and rows["identity"] == CLIENT
    assert rows["roles"] == "A.Read, B.Write"
    assert rows["tenant"] == "-" and rows["expires"] == "-"


def test_auth_status_of_an_opaque_token_and_of_the_sandbox() -> None:
    res = invoke(["auth", "status", "-o", "json"], env={"RUNDCTL_TOKEN": "opaque-token-1234"})
    info = json.loads(res.stdout)
    assert info["identity"] is None and info["roles"] == [] and info["expires"] is None
    none = invoke(["auth", "status", "--endpoint", "sandbox", "-o", "json"])
    assert none.exit_code == 0, none.stderr
    assert json.loads(none.stdout)["mode"] == "none"
    assert json.loads(none.stdout)["endpoint"] == "sandbox"


def test_a_token_file_and_a_bearer_prefix(tmp_path) -> None:
    path = tmp_path / "tok"
    path.write_text("Bearer  tok-from-a-file-1234\n")
    with local_sandbox(require_token="tok-from-a-file-1234") as url:
        res = invoke(["list", "--flow", FLOW, "--endpoint", url, "--token-file", str(path)])
        assert res.exit_code == 0, res.stderr
        piped = invoke(["list", "--flow", FLOW, "--endpoint", url, "--token-file", "-"],
                       stdin=b"tok-from-a-file-1234")
        assert piped.exit_code == 0, piped.stderr
    status = invoke(["auth", "status", "--token-file", "-", "-o", "json"],
                    stdin=b"tok-from-a-file-1234")
    assert json.loads(status.stdout)["source"] == "--token-file - (stdin)"


@pytest.mark.parametrize(("content", "text"), [
    (None, "cannot read"), (b"\xff\xfe", "not UTF-8"), (b"  \n", "is empty"),
    (b"two words", "does not look like a bearer")])
def test_a_bad_token_file_exits_4(tmp_path, content, text) -> None:
    path = tmp_path / "tok"
    if content is not None:
        path.write_bytes(content)
    res = invoke(["list", "--flow", FLOW, "--token-file", str(path)])
    assert res.exit_code == 4
    assert text in res.stderr


def test_the_message_about_a_malformed_token_is_printed_whole(tmp_path) -> None:
    path = tmp_path / "tok"
    path.write_bytes(b"two words")
    res = invoke(["list", "--flow", FLOW, "--token-file", str(path)])
    assert res.exit_code == 4
    assert "--token-file does not look like a bearer token (it contains spaces" in res.stderr


def test_auth_token_without_a_token_exits_4() -> None:
    res = invoke(["list", "--flow", FLOW, "--auth", "token"])
    assert res.exit_code == 4 and "--auth token: no token given" in res.stderr


def test_none_is_refused_beyond_loopback_and_unknown_modes_are_usage_errors() -> None:
    none = invoke(["list", "--flow", FLOW, "--auth", "none"])
    assert none.exit_code == 2 and "only allowed for loopback" in none.stderr
    odd = invoke(["list", "--flow", FLOW, "--auth", "magic"])
    assert odd.exit_code == 2 and "magic" in odd.stderr


@pytest.mark.parametrize(("mode", "env", "missing"), [
    ("environment", {}, "neither AZURE_CLIENT_SECRET nor AZURE_CLIENT_CERTIFICATE_PATH"),
    ("environment", {"AZURE_CLIENT_SECRET": "x"}, "AZURE_TENANT_ID, AZURE_CLIENT_ID not set"),
    ("workload-identity", {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT},
     "AZURE_FEDERATED_TOKEN_FILE not set"),
    ("github-oidc", {"AZURE_TENANT_ID": TENANT},
     "AZURE_CLIENT_ID, ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN not set"),
    ("device-code", {"CI": "true"}, "needs a terminal to sign in, and there is no cached login"),
    ("browser", {}, "needs a terminal to sign in"),
])
def test_an_entra_mode_without_its_settings_exits_4_naming_them(mode, env, missing) -> None:
    res = invoke(["list", "--flow", FLOW, "--auth", mode], env=env)
    assert res.exit_code == 4, res.stderr
    assert missing in res.stderr


@pytest.mark.parametrize("endpoint", ["sandbox", "http://127.0.0.1:9"])
def test_an_entra_token_never_goes_to_the_sandbox_or_a_custom_endpoint(endpoint) -> None:
    res = invoke(["list", "--flow", FLOW, "--auth", "managed-identity", "--endpoint", endpoint])
    assert res.exit_code == 10
    assert res.stderr.startswith("rundctl: error: ")


def test_azure_cli_mode_without_az_exits_4(tmp_path) -> None:
    res = invoke(["list", "--flow", FLOW, "--auth", "azure-cli", "--tenant", TENANT],
                 env={"PATH": str(tmp_path)})
    assert res.exit_code == 4
    assert res.stderr.startswith("rundctl: error: --auth azure-cli: could not get a token")


# -- real azure-identity against the Entra stand-in ----------------------------------------


def test_client_secret_environment_mode(entra, locked) -> None:
    env = cloud_env(entra, locked, AZURE_CLIENT_SECRET=SECRET)
    create_and_list(env, "environment")
    assert entra.token_requests()
    assert all(r.form.get("client_secret") == SECRET for r in entra.token_requests())


def test_auto_picks_environment_and_status_shows_the_issued_claims(entra, locked) -> None:
    env = cloud_env(entra, locked, AZURE_CLIENT_SECRET=SECRET)
    status = invoke(["auth", "status", "-o", "json"], env=env)
    assert status.exit_code == 0, status.stderr
    info = json.loads(status.stdout)
    assert info["mode"] == "environment" and info["source"] == "environment: client secret"
    assert info["tenant"] == TENANT and info["identity"] == CLIENT
    assert info["roles"] == ["IndustryData-Run.Read.All"]
    assert ISSUED not in status.stdout + status.stderr


def test_a_wrong_client_secret_exits_4_with_one_readable_line(entra, locked) -> None:
    env = cloud_env(entra, locked, AZURE_CLIENT_SECRET="not-the-secret")
    res = invoke(["list", "--flow", FLOW, "--auth", "environment"], env=env)
    assert res.exit_code == 4, res.stderr
    assert res.stderr.startswith("rundctl: error: --auth environment: could not get a token")
    assert "Traceback" not in res.stderr and "not-the-secret" not in res.stderr


def test_a_missing_certificate_file_exits_4(entra, locked, tmp_path) -> None:
    env = cloud_env(entra, locked, AZURE_CLIENT_CERTIFICATE_PATH=str(tmp_path / "none.pem"))
    res = invoke(["list", "--flow", FLOW, "--auth", "environment"], env=env)
    assert res.exit_code == 4, res.stderr
    assert entra.token_requests() == []


def test_workload_identity_reads_the_federated_token_file(entra, locked, tmp_path) -> None:
    assertion = make_jwt({"iss": "https://kubernetes.default.svc", "sub": "system:sa:x"})
    token_file = tmp_path / "federated-token"
    token_file.write_text(assertion + "\n")
    env = cloud_env(entra, locked, AZURE_FEDERATED_TOKEN_FILE=str(token_file))
    create_and_list(env, "workload-identity")
    assert entra.assertions and set(entra.assertions) == {assertion}


def test_workload_identity_with_an_unreadable_file_exits_4(entra, locked, tmp_path) -> None:
    env = cloud_env(entra, locked, AZURE_FEDERATED_TOKEN_FILE=str(tmp_path / "gone"))
    res = invoke(["list", "--flow", FLOW, "--auth", "workload-identity"], env=env)
    assert res.exit_code == 4
    assert "cannot read AZURE_FEDERATED_TOKEN_FILE" in res.stderr


def test_github_oidc_fetches_a_fresh_actions_token_per_assertion(entra, locked) -> None:
    entra.expires_in = 120  # short-lived: every request needs a new token, so a new assertion
    env = cloud_env(entra, locked, ACTIONS_ID_TOKEN_REQUEST_URL=entra.actions_url,
                    ACTIONS_ID_TOKEN_REQUEST_TOKEN=entra.actions_request_token)
    create_and_list(env, "github-oidc")
    assert entra.actions_calls >= 2
    assert set(entra.actions_audiences) == {"api://AzureADTokenExchange"}
    assert len(set(entra.assertions)) == len(entra.assertions)  # never reused


def test_github_oidc_with_a_wrong_request_token_exits_4(entra, locked) -> None:
    env = cloud_env(entra, locked, ACTIONS_ID_TOKEN_REQUEST_URL=entra.actions_url,
                    ACTIONS_ID_TOKEN_REQUEST_TOKEN="wrong-request-token")
    res = invoke(["list", "--flow", FLOW, "--auth", "github-oidc"], env=env)
    assert res.exit_code == 4
    assert "wrong-request-token" not in res.stderr


def test_device_code_login_then_silent_use_in_ci_then_logout(entra, locked, tmp_path) -> None:
    entra.device_interval = 0
    env = cloud_env(entra, locked, RUNDCTL_CONFIG_DIR=str(tmp_path / "cfg"))
    login = invoke(["auth", "login", "--device-code", "--cloud", "custom",
                    "--allow-unencrypted-cache"], env=env, tty=True, stdin_tty=True)
    assert login.exit_code == 0, login.stderr
    assert "enter the code" in login.stderr
    assert "warning: the token cache will be an unencrypted file" in login.stderr
    assert login.stderr.rstrip().endswith(f"(tenant {TENANT})")
    record = tmp_path / "cfg" / "auth_record.json"
    assert stat.S_IMODE(os.stat(record).st_mode) == 0o600
    assert ISSUED not in record.read_text()
    # Later, in CI with no terminal: the cached login is used silently, no prompt.
    listed = invoke(["list", "--flow", FLOW, "--auth", "device-code", "-o", "id"],
                    env={**env, "CI": "true"})
    assert listed.exit_code == 0, listed.stderr
    assert "enter the code" not in listed.stderr
    status = invoke(["auth", "status", "-o", "json"], env={**env, "CI": "true",
                                                            "AZURE_CLIENT_ID": ""})
    assert json.loads(status.stdout)["mode"] == "device-code"
    assert json.loads(status.stdout)["source"].startswith("cached login (")
    out = invoke(["auth", "logout"], env=env)
    assert out.exit_code == 0 and out.stderr == "rundctl: signed out\n"
    assert not record.exists()
    again = invoke(["auth", "logout"], env=env)
    assert again.stderr == "rundctl: no cached login\n"


def test_login_refuses_without_a_terminal_in_ci_and_with_both_flows(tmp_path: Path) -> None:
    no_tty = invoke(["auth", "login"])
    assert no_tty.exit_code == 4 and "needs a terminal" in no_tty.stderr
    ci = invoke(["auth", "login"], env={"CI": "true"}, tty=True, stdin_tty=True)
    assert ci.exit_code == 4 and "never does when CI is set" in ci.stderr
    both = invoke(["auth", "login", "--device-code", "--browser"])
    assert both.exit_code == 2 and "not both" in both.stderr
