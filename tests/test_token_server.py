"""The Entra stand-in works with the REAL azure-identity and MSAL code paths, over loopback TLS only."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import (
    ClientAssertionCredential,
    ClientSecretCredential,
    DeviceCodeCredential,
    EnvironmentCredential,
    WorkloadIdentityCredential,
)

from tests.token_server import (
    DEFAULT_ROLES,
    DEFAULT_USERNAME,
    TestCA,
    TokenServer,
    decode_jwt,
    make_jwt,
    make_test_ca,
)

TENANT = "3c9e8f2a-1b4d-4e6f-8a0c-2d4f6a8c0e13"
CLIENT = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
SECRET = "s3cret-value"
SCOPE = "http://127.0.0.1:9/.default"
OTHER_SCOPE = "http://127.0.0.1:10/.default"


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def server(test_ca: TestCA, monkeypatch: pytest.MonkeyPatch) -> Iterator[TokenServer]:
    with TokenServer(ca=test_ca, client_id=CLIENT, client_secret=SECRET, tenants=[TENANT]) as srv:
        for key, value in srv.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("MSAL_FORCE_REGION", raising=False)
        monkeypatch.delenv("AZURE_REGIONAL_AUTHORITY_NAME", raising=False)
        yield srv
        # Nothing in these tests may have tried to reach a real Microsoft host through this server's
        # instance discovery either: MSAL only ever talked to the tenant's own endpoints.
        assert srv.count("GET", "/common/discovery/instance") == 0


@pytest.fixture(autouse=True)
def no_outside_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if anything resolves a name other than loopback (e.g. login.microsoftonline.com)."""
    real = socket.getaddrinfo

    def guarded(host: object, *args: object, **kwargs: object) -> object:
        if host not in ("127.0.0.1", "localhost", "::1", None):
            raise AssertionError(f"test tried to resolve {host!r}")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


def test_make_jwt_round_trips() -> None:
    token = make_jwt({"aud": "x", "n": 1})
    assert token.count(".") == 2
    assert decode_jwt(token) == {"aud": "x", "n": 1}


def test_client_secret_credential_gets_the_servers_token(server: TokenServer) -> None:
    cred = ClientSecretCredential(
        TENANT, CLIENT, SECRET, authority=server.url, disable_instance_discovery=True
    )
    token = cred.get_token(SCOPE)
    assert token.token == server.issued[-1]
    claims = decode_jwt(token.token)
    assert claims["aud"] == "http://127.0.0.1:9"
    assert claims["tid"] == TENANT
    assert claims["appid"] == CLIENT
    assert claims["roles"] == list(DEFAULT_ROLES)
    assert claims["exp"] - claims["iat"] == 3600
    # MSAL discovered the tenant, then posted the secret: and nothing else.
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", f"/{TENANT}/v2.0/.well-known/openid-configuration"),
        ("POST", f"/{TENANT}/oauth2/v2.0/token"),
    ]
    form = server.token_requests()[0].form
    assert form["grant_type"] == "client_credentials"
    assert form["client_secret"] == SECRET
    assert form["scope"] == SCOPE
    # Cached by MSAL: a second call does not reach the server.
    assert cred.get_token(SCOPE).token == token.token
    assert len(server.token_requests()) == 1


def test_wrong_secret_raises_client_authentication_error(server: TokenServer) -> None:
    cred = ClientSecretCredential(
        TENANT, CLIENT, "wrong", authority=server.url, disable_instance_discovery=True
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        cred.get_token(SCOPE)
    assert server.issued == []


def test_unknown_tenant_and_client_are_rejected(server: TokenServer) -> None:
    cred = ClientSecretCredential(
        "00000000-0000-0000-0000-00000000dead", CLIENT, SECRET,
        authority=server.url, disable_instance_discovery=True,
    )
    # MSAL turns the discovery's 400 (AADSTS90002) into its own ValueError, without the AADSTS text.
    with pytest.raises(ClientAuthenticationError, match="Unable to get authority configuration"):
        cred.get_token(SCOPE)
    cred = ClientSecretCredential(
        TENANT, "11111111-1111-1111-1111-111111111111", SECRET,
        authority=server.url, disable_instance_discovery=True,
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        cred.get_token(SCOPE)


def test_environment_credential_passes_authority_kwargs(
    server: TokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
    cred = EnvironmentCredential(authority=server.url, disable_instance_discovery=True)
    assert cred.get_token(SCOPE).token == server.issued[-1]


def test_fixed_access_token(test_ca: TestCA, monkeypatch: pytest.MonkeyPatch) -> None:
    with TokenServer("fixed-token-abc", ca=test_ca) as srv:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(test_ca.ca_path))
        cred = ClientSecretCredential(
            TENANT, CLIENT, "test-client-secret", authority=srv.url, disable_instance_discovery=True
        )
        assert cred.get_token(SCOPE).token == "fixed-token-abc"
        assert srv.issued == ["fixed-token-abc"]


def test_workload_identity_credential_sends_the_file_as_assertion(
    server: TokenServer, tmp_path: Path
) -> None:
    token_file = tmp_path / "federated-token"
    assertion = make_jwt({"sub": "system:serviceaccount:ci:rundctl", "aud": "api://AzureADTokenExchange"})
    token_file.write_text(assertion)
    server.client_assertions = [assertion]
    cred = WorkloadIdentityCredential(
        tenant_id=TENANT, client_id=CLIENT, token_file_path=str(token_file),
        authority=server.url, disable_instance_discovery=True,
    )
    assert cred.get_token(SCOPE).token == server.issued[-1]
    assert server.assertions == [assertion]
    # No discovery at all: azure-identity's own client posts straight to the token endpoint.
    assert [(r.method, r.path) for r in server.requests] == [("POST", f"/{TENANT}/oauth2/v2.0/token")]
    form = server.token_requests()[0].form
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert form["grant_type"] == "client_credentials"


def test_unexpected_assertion_is_rejected(server: TokenServer, tmp_path: Path) -> None:
    token_file = tmp_path / "federated-token"
    token_file.write_text("not-the-one")
    server.client_assertions = ["the-one"]
    cred = WorkloadIdentityCredential(
        tenant_id=TENANT, client_id=CLIENT, token_file_path=str(token_file),
        authority=server.url, disable_instance_discovery=True,
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS700213"):
        cred.get_token(SCOPE)


def test_client_assertion_credential_with_github_actions_stand_in(server: TokenServer) -> None:
    server.client_assertions = []  # only what the Actions endpoint issued is acceptable
    ca_path = str(server.ca_path)

    def fetch() -> str:
        resp = requests.get(
            server.actions_url + "&audience=api://AzureADTokenExchange",
            headers={"Authorization": f"Bearer {server.actions_request_token}"},
            verify=ca_path,
            timeout=5,
        )
        resp.raise_for_status()
        body = resp.json()
        assert body["count"] == 1
        return str(body["value"])

    cred = ClientAssertionCredential(
        TENANT, CLIENT, fetch, authority=server.url, disable_instance_discovery=True
    )
    first = cred.get_token(SCOPE)
    assert server.actions_calls == 1
    assert server.actions_audiences == ["api://AzureADTokenExchange"]
    assert server.assertions == server.actions_issued
    second = cred.get_token(OTHER_SCOPE)  # another resource: not in the cache
    assert server.actions_calls == 2
    assert server.actions_issued[0] != server.actions_issued[1]
    assert server.assertions == server.actions_issued
    assert decode_jwt(first.token)["aud"] == "http://127.0.0.1:9"
    assert decode_jwt(second.token)["aud"] == "http://127.0.0.1:10"
    assert decode_jwt(server.actions_issued[0])["aud"] == "api://AzureADTokenExchange"


def test_actions_endpoint_requires_the_request_token(server: TokenServer) -> None:
    ca_path = str(server.ca_path)
    url = server.actions_url + "&audience=x"
    assert requests.get(url, verify=ca_path, timeout=5).status_code == 401
    bad = requests.get(url, headers={"Authorization": "Bearer nope"}, verify=ca_path, timeout=5)
    assert bad.status_code == 401
    good = requests.get(
        url, headers={"Authorization": f"BEARER {server.actions_request_token}"}, verify=ca_path, timeout=5
    )
    assert good.status_code == 200
    assert server.actions_calls == 1


def test_device_code_credential(server: TokenServer) -> None:
    server.pending_polls = 1
    server.device_interval = 0  # MSAL sleeps `interval` seconds after each authorization_pending
    seen: list[tuple[str, str]] = []
    cred = DeviceCodeCredential(
        client_id=CLIENT, tenant_id=TENANT, authority=server.url, disable_instance_discovery=True,
        prompt_callback=lambda uri, code, expires_on: seen.append((uri, code)),
    )
    token = cred.get_token(SCOPE)
    assert seen == [(f"{server.url}/device", server.user_codes[0])]
    assert token.token == server.issued[-1]
    claims = decode_jwt(token.token)
    assert claims["scp"] == "IndustryData-Run.Read.All"
    assert claims["upn"] == DEFAULT_USERNAME
    assert claims["aud"] == "http://127.0.0.1:9"
    grants = [r.form["grant_type"] for r in server.token_requests()]
    assert grants == ["urn:ietf:params:oauth:grant-type:device_code"] * 2  # one pending, one success
    # MSAL built an account from id_token + client_info, so another scope is silent (refresh token).
    record = cred._auth_record
    assert record is not None
    assert record.username == DEFAULT_USERNAME
    assert record.tenant_id == TENANT
    other = cred.get_token(OTHER_SCOPE)
    assert decode_jwt(other.token)["aud"] == "http://127.0.0.1:10"
    assert server.token_requests()[-1].form["grant_type"] == "refresh_token"
    assert len(seen) == 1


def test_retries_after_a_server_error(server: TokenServer) -> None:
    server.fail_next_token(503)
    cred = ClientSecretCredential(
        TENANT, CLIENT, SECRET, authority=server.url, disable_instance_discovery=True,
        retry_backoff_factor=0.01,
    )
    assert cred.get_token(SCOPE).token == server.issued[-1]
    assert len(server.token_requests()) == 2


def test_plain_requests_needs_the_test_ca(server: TokenServer, monkeypatch: pytest.MonkeyPatch) -> None:
    resp = requests.get(server.url + "/nope", verify=str(server.ca_path), timeout=5)
    assert resp.status_code == 404
    assert resp.json()["error"] == "not_found"
    for key in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(server.url + "/nope", timeout=5)
    # The failed handshake did not hurt the server.
    assert requests.get(f"https://localhost:{server.port}/nope", verify=str(server.ca_path),
                        timeout=5).status_code == 404
