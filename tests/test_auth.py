"""Credential selection: the auto order, token destinations, no prompts, claims without the token."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import time

import pytest

from rundctl import auth
from rundctl.errors import NotAuthenticated, SecurityRefused, UsageError
from rundctl.settings import CLOUDS, Endpoint, parse_cloud, parse_endpoint
from tests.conftest import FLOW, invoke, run_exe

GLOBAL = CLOUDS["global"]
GRAPH = Endpoint("https://graph.microsoft.com/beta")
LOCAL = Endpoint("http://127.0.0.1:8765")


def jwt(claims: dict[str, object]) -> str:
    def seg(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{seg({'alg': 'none'})}.{seg(claims)}.sig"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s"}, "environment"),
        ({"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_CERTIFICATE_PATH": "p"},
         "environment"),
        ({"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_FEDERATED_TOKEN_FILE": "f"},
         "workload-identity"),
        ({"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "ACTIONS_ID_TOKEN_REQUEST_URL": "u",
          "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "x"}, "github-oidc"),
        ({"IDENTITY_ENDPOINT": "http://169.254.169.254"}, "managed-identity"),
        ({"AZURE_CLIENT_SECRET": "s"}, None),  # incomplete: not chosen
        ({"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s",
          "AZURE_FEDERATED_TOKEN_FILE": "f"}, "environment"),  # the documented order
    ],
)
def test_auto_picks_from_configuration_in_the_documented_order(env, expected, tmp_path) -> None:
    env = {"PATH": str(tmp_path), "RUNDCTL_CONFIG_DIR": str(tmp_path), **env}
    assert auth.auto_mode(env, GRAPH, GLOBAL, has_token=False) == expected


def test_auto_prefers_a_token_and_uses_none_for_loopback(tmp_path) -> None:
    env = {"PATH": str(tmp_path), "AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c",
           "AZURE_CLIENT_SECRET": "s"}
    assert auth.auto_mode(env, GRAPH, GLOBAL, has_token=True) == "token"
    assert auth.auto_mode(env, LOCAL, GLOBAL, has_token=False) == "none"


def test_auto_finds_the_azure_cli_on_path(tmp_path) -> None:
    az = tmp_path / "az"
    az.write_text("#!/bin/sh\n")
    az.chmod(0o755)
    env = {"PATH": str(tmp_path), "RUNDCTL_CONFIG_DIR": str(tmp_path)}
    assert auth.auto_mode(env, GRAPH, GLOBAL, has_token=False) == "azure-cli"


@pytest.mark.parametrize("mode", ["environment", "github-oidc", "workload-identity"])
def test_entra_tokens_are_never_sent_to_a_custom_endpoint(mode) -> None:
    env = {"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s"}
    for endpoint in (Endpoint("https://evil.example/beta"), LOCAL, Endpoint(None, sandbox=True)):
        with pytest.raises(SecurityRefused):
            auth.resolve(auth.AuthOptions(mode), endpoint, GLOBAL, env, stdin=io.BytesIO())


def test_national_cloud_tokens_go_to_that_cloud_only() -> None:
    usgov = parse_cloud("usgov")
    with pytest.raises(SecurityRefused):
        auth.check_token_destination(GRAPH, usgov)
    auth.check_token_destination(parse_endpoint(None, usgov), usgov)


def test_missing_environment_variables_are_named() -> None:
    with pytest.raises(NotAuthenticated) as info:
        auth.resolve(auth.AuthOptions("workload-identity"), GRAPH, GLOBAL,
                     {"AZURE_CLIENT_ID": "c"}, stdin=io.BytesIO())
    assert "AZURE_TENANT_ID" in info.value.message
    assert "AZURE_FEDERATED_TOKEN_FILE" in info.value.message


def test_custom_cloud_needs_both_roots_and_https_authority() -> None:
    with pytest.raises(UsageError):
        parse_cloud("custom", {"RUNDCTL_GRAPH_ROOT": "http://127.0.0.1:1"})
    with pytest.raises(UsageError):
        parse_cloud("custom", {"RUNDCTL_GRAPH_ROOT": "http://127.0.0.1:1",
                               "RUNDCTL_AUTHORITY_HOST": "http://login.example"})
    cloud = parse_cloud("custom", {"RUNDCTL_GRAPH_ROOT": "http://127.0.0.1:1/",
                                   "RUNDCTL_AUTHORITY_HOST": "https://127.0.0.1:2"})
    assert cloud.scope == "http://127.0.0.1:1/.default"


def test_describe_shows_claims_but_never_the_token() -> None:
    token = jwt({"tid": "tenant-1", "appid": "app-1", "roles": ["IndustryData-Run.Read.All"],
                 "exp": 1893456000})
    info = auth.describe(auth.Credential("token", "RUNDCTL_TOKEN", lambda: token), token)
    assert info["tenant"] == "tenant-1" and info["identity"] == "app-1"
    assert info["roles"] == ["IndustryData-Run.Read.All"]
    assert info["expires"] == "2030-01-01T00:00:00Z"
    text = json.dumps(info)
    assert token not in text and token.split(".")[1] not in text


def test_auth_status_json_never_prints_the_token_or_its_payload() -> None:
    token = jwt({"tid": "t", "upn": "ada@example.edu", "scp": "IndustryData-Run.Read.All",
                 "exp": 1893456000})
    res = invoke(["auth", "status", "-o", "json"], env={"RUNDCTL_TOKEN": token})
    assert res.exit_code == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["identity"] == "ada@example.edu" and info["scopes"] == ["IndustryData-Run.Read.All"]
    assert token not in res.stdout + res.stderr
    assert token.split(".")[1] not in res.stdout + res.stderr


def test_auth_status_exits_4_listing_fixes_when_nothing_is_configured() -> None:
    res = invoke(["auth", "status"], env={"PATH": "/nonexistent"})
    assert res.exit_code == 4
    assert "AZURE_CLIENT_SECRET" in res.stderr and "RUNDCTL_TOKEN" in res.stderr


NEEDS_AUTH = [
    ["list", "--flow", FLOW],
    ["get", FLOW, "--flow", FLOW],
    ["create", "--flow", FLOW, "-n", "x", "--start", "now", "--status", "running", "--stat", "a=1"],
    ["update", FLOW, "--flow", FLOW, "--status", "failed"],
    ["wait", FLOW],
    ["stats", FLOW],
    ["activities", FLOW],
    ["start"],
    ["flows", "list"],
    ["auth", "status"],
]


@pytest.mark.parametrize("args", NEEDS_AUTH)
@pytest.mark.parametrize("mode", ["auto", "device-code", "browser"])
def test_without_credential_in_ci_every_command_exits_4_fast_and_never_prompts(args, mode) -> None:
    started = time.monotonic()
    proc = run_exe([*args, "--auth", mode], env={"CI": "true", "PATH": "/usr/bin:/bin"},
                   timeout=20)
    assert proc.returncode == 4, proc.stderr
    assert time.monotonic() - started < 10
    assert "To sign in" not in proc.stderr + proc.stdout


def test_login_refuses_in_ci() -> None:
    res = invoke(["auth", "login"], env={"CI": "true"})
    assert res.exit_code == 4 and "CI" in res.stderr


def test_logout_without_login_is_fine(tmp_path) -> None:
    res = invoke(["auth", "logout"], env={"RUNDCTL_CONFIG_DIR": str(tmp_path)})
    assert res.exit_code == 0 and "no cached login" in res.stderr


def test_help_does_not_import_azure_identity() -> None:
    import sys

    code = ("import sys\nfrom rundctl.__main__ import main\ntry:\n    main(['auth', '--help'])\n"
            "except SystemExit:\n    pass\nsys.stderr.write(str('azure.identity' in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stderr.strip() == "False"


def test_a_login_without_a_keyring_names_the_flag_and_never_hints_at_itself() -> None:
    from rundctl.auth import _login_failure

    plain = _login_failure(ValueError("Keyring is not available"), allow_unencrypted=False)
    assert "--allow-unencrypted-cache" in (plain.hint or "")
    assert "'rundctl auth login'" not in (plain.hint or "").replace(
        "'rundctl auth login --allow-unencrypted-cache'", "")
    again = _login_failure(RuntimeError("libsecret: no secret service"), allow_unencrypted=True)
    assert "--allow-unencrypted-cache" not in (again.hint or "")
    other = _login_failure(RuntimeError("AADSTS700016: app not found"), allow_unencrypted=False)
    assert "auth login" not in (other.hint or "") and "tenant" in (other.hint or "")
