"""Real azure-identity code paths end to end: the installed `rundctl` gets a token from a
local Entra stand-in (TLS on 127.0.0.1, test CA) and the sandbox, started with
--require-token, receives exactly that token."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FLOW, read_pty, run_exe, rundctl_exe
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
def locked_sandbox(tmp_path: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [rundctl_exe(), "sandbox", "--port", "0", "--db", str(tmp_path / "a.db"), "--quiet",
         "--require-token", ISSUED], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


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


def create_and_list(env: dict[str, str], mode: str) -> subprocess.CompletedProcess[str]:
    made = run_exe(["create", "--flow", FLOW, "--auth", mode, "-n", f"via {mode}", "--start",
                    "now", "--status", "running", "--stat", "people=0", "-o", "id"], env=env)
    assert made.returncode == 0, made.stderr
    listed = run_exe(["list", "--flow", FLOW, "--auth", mode, "-o", "id"], env=env)
    assert listed.returncode == 0, listed.stderr
    assert made.stdout.strip() in listed.stdout.split()
    return listed


def test_client_secret_environment_mode(entra, locked_sandbox) -> None:
    env = cloud_env(entra, locked_sandbox, AZURE_CLIENT_SECRET=SECRET)
    create_and_list(env, "environment")
    assert entra.token_requests()
    assert all(r.form.get("client_secret") == SECRET for r in entra.token_requests())


def test_auto_picks_environment_for_the_custom_cloud(entra, locked_sandbox) -> None:
    env = cloud_env(entra, locked_sandbox, AZURE_CLIENT_SECRET=SECRET)
    status = run_exe(["auth", "status", "-o", "json"], env=env)
    assert status.returncode == 0, status.stderr
    info = json.loads(status.stdout)
    assert info["mode"] == "environment" and info["tenant"] == TENANT
    assert info["roles"] == ["IndustryData-Run.Read.All"]
    assert ISSUED not in status.stdout + status.stderr
    assert ISSUED.split(".")[1] not in status.stdout + status.stderr


def test_wrong_client_secret_exits_4_with_one_readable_line(entra, locked_sandbox) -> None:
    env = cloud_env(entra, locked_sandbox, AZURE_CLIENT_SECRET="not-the-secret")
    proc = run_exe(["list", "--flow", FLOW, "--auth", "environment"], env=env)
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.startswith("rundctl: error: --auth environment: could not get a token")
    assert "Traceback" not in proc.stderr and "not-the-secret" not in proc.stderr


def test_workload_identity_reads_the_federated_token_file(entra, locked_sandbox, tmp_path) -> None:
    assertion = make_jwt({"iss": "https://kubernetes.default.svc", "sub": "system:sa:x"})
    token_file = tmp_path / "federated-token"
    token_file.write_text(assertion + "\n")
    env = cloud_env(entra, locked_sandbox, AZURE_FEDERATED_TOKEN_FILE=str(token_file))
    create_and_list(env, "workload-identity")
    assert entra.assertions and set(entra.assertions) == {assertion}


def test_github_oidc_fetches_a_fresh_actions_token_per_assertion(entra, locked_sandbox) -> None:
    entra.expires_in = 120  # short-lived: every request needs a new token, so a new assertion
    env = cloud_env(entra, locked_sandbox, **{
        "ACTIONS_ID_TOKEN_REQUEST_URL": entra.actions_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": entra.actions_request_token,
    })
    create_and_list(env, "github-oidc")
    assert entra.actions_calls >= 2
    assert set(entra.actions_audiences) == {"api://AzureADTokenExchange"}
    assert len(set(entra.assertions)) == len(entra.assertions)  # never reused
    assert entra.actions_request_token not in json.dumps(entra.issued)


def test_entra_token_is_refused_for_an_endpoint_outside_the_cloud(entra, locked_sandbox) -> None:
    env = cloud_env(entra, locked_sandbox, AZURE_CLIENT_SECRET=SECRET)
    proc = run_exe(["list", "--flow", FLOW, "--auth", "environment", "--endpoint",
                    "http://127.0.0.1:9"], env=env)
    assert proc.returncode == 10
    assert entra.token_requests() == []


def run_in_pty(args: list[str], env: dict[str, str], timeout: float = 30) -> tuple[int, str]:
    import os
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([rundctl_exe(), *args], stdin=slave, stdout=slave, stderr=slave,
                            env={**os.environ, **env})
    os.close(slave)
    raw = read_pty(master, timeout)
    return proc.wait(timeout=timeout), raw.decode("utf-8", "replace")


def test_device_code_login_then_silent_use_in_ci(entra, locked_sandbox, tmp_path) -> None:
    import os
    import stat

    entra.device_interval = 0
    env = cloud_env(entra, locked_sandbox, HOME=str(tmp_path), RUNDCTL_CONFIG_DIR=str(tmp_path / "cfg"))
    code, screen = run_in_pty(["auth", "login", "--device-code", "--cloud", "custom",
                               "--allow-unencrypted-cache"], env)
    assert code == 0, screen
    assert "enter the code" in screen and "signed in as" in screen
    record = tmp_path / "cfg" / "auth_record.json"
    assert stat.S_IMODE(os.stat(record).st_mode) == 0o600
    assert ISSUED not in record.read_text()
    # Later, in CI with no terminal: the cached login is used silently, no prompt.
    listed = run_exe(["list", "--flow", FLOW, "--auth", "device-code", "-o", "id"],
                     env={**env, "CI": "true"})
    assert listed.returncode == 0, listed.stderr
    assert "enter the code" not in listed.stderr
    out = run_exe(["auth", "logout"], env=env)
    assert out.returncode == 0 and not record.exists()
