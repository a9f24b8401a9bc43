"""A local HTTPS stand-in for Microsoft Entra ID (and the GitHub Actions OIDC token URL) for tests.

Not part of the package. It lets tests run the REAL azure-identity and MSAL code paths without
reaching a Microsoft host::

    ca = make_test_ca(tmp_path)
    with TokenServer(ca=ca, client_secret="s3cret") as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca_path))
        monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_path))
        monkeypatch.setenv("AZURE_AUTHORITY_HOST", server.url)
        cred = ClientSecretCredential(TENANT, CLIENT, "s3cret",
                                      authority=server.url, disable_instance_discovery=True)
        token = cred.get_token("http://127.0.0.1:9/.default").token
        assert token == server.issued[-1]

``disable_instance_discovery=True`` matters for the MSAL-based credentials (ClientSecret,
Certificate, DeviceCode, ...): without it MSAL validates an unknown authority host by calling
``https://login.microsoftonline.com/common/discovery/instance`` — a real Microsoft host — no matter
what ``authority=`` says. ClientAssertionCredential / WorkloadIdentityCredential do not use MSAL's
authority machinery at all: they POST straight to ``{authority}/{tenant}/oauth2/v2.0/token``.

Endpoints (``{t}`` is any tenant; token claims use ``tenant_id`` for common/organizations/consumers):

- ``GET /{t}/v2.0/.well-known/openid-configuration`` (also ``/{t}/.well-known/...``): discovery.
- ``GET /common/discovery/instance``: instance discovery, in case anything asks this host.
- ``POST /{t}/oauth2/v2.0/token``: ``client_credentials`` (``client_secret`` or a jwt-bearer
  ``client_assertion``), ``urn:ietf:params:oauth:grant-type:device_code``, ``refresh_token``.
- ``POST /{t}/oauth2/v2.0/devicecode``: starts a device code flow.
- ``GET /actions/idtoken?...&audience=...``: the GitHub Actions OIDC token URL; needs
  ``Authorization: bearer <actions_request_token>``; answers ``{"count": 1, "value": <jwt>}``.
- ``GET /device``: a tiny HTML page (the device flow's verification URI).
- anything else: ``404`` JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import shutil
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_TENANT_ID = "7d3a4a5e-0c1f-4b7e-9a55-3f1e2d6c8b10"
DEFAULT_CLIENT_SECRET = "test-client-secret"
DEFAULT_ACTIONS_REQUEST_TOKEN = "test-actions-request-token"
DEFAULT_ROLES = ("IndustryData-Run.Read.All",)
DEFAULT_SCP = "IndustryData-Run.Read.All"
DEFAULT_USERNAME = "ada@contoso.test"
DEFAULT_USER_OID = "5f0c8a2e-6b3d-4c1a-9e7f-2a4b6c8d0e12"
DEFAULT_APP_OID = "9b1d3f5a-7c2e-4a6b-8d0f-1e3c5a7b9d24"
ACTIONS_ISSUER = "https://token.actions.githubusercontent.com"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# Tenants that are not a directory: tokens carry ``tenant_id`` instead.
_META_TENANTS = frozenset({"common", "organizations", "consumers"})
# Scopes MSAL adds to user flows; they name no resource.
_RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})
_FIXED_SIGNATURE = "dGVzdC1zaWduYXR1cmUtbm90LXZlcmlmaWVk"  # base64url("test-signature-not-verified")


# --------------------------------------------------------------------------------------------
# JWT helpers


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(obj: Any) -> str:
    return _b64url(json.dumps(obj, separators=(",", ":"), sort_keys=True).encode("utf-8"))


def make_jwt(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """An unsigned JWT-shaped string: ``header.payload.<fixed signature>`` (never verifiable)."""
    return ".".join(
        (_b64url_json(header or {"alg": "none", "typ": "JWT"}), _b64url_json(claims), _FIXED_SIGNATURE)
    )


def decode_jwt(token: str) -> dict[str, Any]:
    """The payload (claims) of a JWT, without any verification."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def resource_of(scope: str) -> str:
    """``http://127.0.0.1:1234/.default`` -> ``http://127.0.0.1:1234``; ``api://x/Read`` -> ``api://x``."""
    for item in scope.split():
        if item in _RESERVED_SCOPES:
            continue
        if item.endswith("/.default"):
            return item[: -len("/.default")]
        if "/" in item:
            return item.rsplit("/", 1)[0]
        return "00000003-0000-0000-c000-000000000000"  # a bare Graph permission such as User.Read
    return ""


# --------------------------------------------------------------------------------------------
# Test certificate authority


@dataclass(frozen=True)
class TestCA:
    """PEM files: ``ca_path`` (trust this: REQUESTS_CA_BUNDLE / SSL_CERT_FILE), server cert and key."""

    __test__ = False  # not a pytest test class

    ca_path: Path
    cert_path: Path
    key_path: Path


def make_test_ca(tmp_dir: Path) -> TestCA:
    """A throwaway EC P-256 CA and a server certificate for ``127.0.0.1`` and ``localhost``."""
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    not_before, not_after = now - dt.timedelta(days=1), now + dt.timedelta(days=30)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rundctl tests"),
        x509.NameAttribute(NameOID.COMMON_NAME, "rundctl test CA"),
    ])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.DNSName("localhost"),
            ]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    ca_path, cert_path, key_path = tmp_dir / "ca.pem", tmp_dir / "server.pem", tmp_dir / "server-key.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return TestCA(ca_path=ca_path, cert_path=cert_path, key_path=key_path)


# --------------------------------------------------------------------------------------------
# Server


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]  # last value wins
    headers: dict[str, str]  # as sent (use .header() for a case-insensitive lookup)
    form: dict[str, str]  # form-encoded body, else {}
    body: bytes = b""

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


@dataclass
class _DeviceFlow:
    client_id: str
    scope: str
    tenant: str
    pending_left: int


@dataclass
class _Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class _HTTPSServer(ThreadingHTTPServer):
    daemon_threads = True
    ssl_context: ssl.SSLContext
    owner: TokenServer

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake happens here, in the connection's own thread, so a client that never
        # completes it (or rejects our certificate) cannot stall the accept loop.
        request.settimeout(10)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            request.close()
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-connection are not test failures


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPSServer
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        form: dict[str, str] = {}
        if "application/x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        recorded = RecordedRequest(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers=dict(self.headers.items()),
            form=form,
            body=body,
        )
        status, payload, headers = self.server.owner._handle(recorded)
        if isinstance(payload, str):
            data, ctype = payload.encode("utf-8"), "text/html; charset=utf-8"
        else:
            data, ctype = json.dumps(payload).encode("utf-8"), "application/json; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store, no-cache")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


Response = tuple[int, "dict[str, Any] | str", dict[str, str]]


class TokenServer:
    """A threaded HTTPS stand-in for Microsoft Entra ID on ``127.0.0.1:<ephemeral>``.

    ``access_token``: if given, every successful token request issues exactly this string.
    ``ca``: the certificates to serve with (default: a fresh CA in a temp dir, removed on stop).
    ``tenant_id``: the ``tid`` for tokens requested via common/organizations/consumers.
    ``tenants``: if given, only these tenants (plus common/organizations/consumers) exist;
        others get Entra's ``AADSTS90002`` (400) from discovery and the token endpoint.
    ``client_id``: if given, any other client_id gets ``AADSTS700016`` (400 unauthorized_client).
    ``client_secret``: the accepted secret (``None``: any secret).
    ``client_assertions``: accepted ``client_assertion`` values (``None``: any non-empty one).
        Assertions issued by the Actions endpoint are always accepted.
    ``roles`` / ``scp``: claims of app-only / delegated access tokens.
    ``pending_polls``: device code polls answered ``authorization_pending`` before success.
    ``device_interval``: the device flow's polling interval in seconds (MSAL sleeps this long
        after each ``authorization_pending``).
    """

    def __init__(
        self,
        access_token: str | None = None,
        *,
        ca: TestCA | None = None,
        tenant_id: str = DEFAULT_TENANT_ID,
        tenants: Collection[str] | None = None,
        client_id: str | None = None,
        client_secret: str | None = DEFAULT_CLIENT_SECRET,
        client_assertions: Iterable[str] | None = None,
        roles: Iterable[str] = DEFAULT_ROLES,
        scp: str = DEFAULT_SCP,
        username: str = DEFAULT_USERNAME,
        user_oid: str = DEFAULT_USER_OID,
        app_oid: str = DEFAULT_APP_OID,
        expires_in: int = 3600,
        pending_polls: int = 0,
        device_interval: int = 1,
        actions_request_token: str = DEFAULT_ACTIONS_REQUEST_TOKEN,
    ) -> None:
        self.access_token = access_token
        self.tenant_id = tenant_id
        self.tenants = None if tenants is None else {t.lower() for t in tenants} | {tenant_id.lower()}
        self.client_id = client_id
        self.client_secret = client_secret
        self.client_assertions = None if client_assertions is None else list(client_assertions)
        self.roles = list(roles)
        self.scp = scp
        self.username = username
        self.user_oid = user_oid
        self.app_oid = app_oid
        self.expires_in = expires_in
        self.pending_polls = pending_polls
        self.device_interval = device_interval
        self.actions_request_token = actions_request_token

        self.requests: list[RecordedRequest] = []
        self.issued: list[str] = []  # access tokens issued, in order
        self.assertions: list[str] = []  # client_assertion values received at the token endpoint
        self.actions_calls = 0  # successful calls of the Actions OIDC endpoint
        self.actions_audiences: list[str | None] = []
        self.actions_issued: list[str] = []  # assertions handed out by the Actions endpoint
        self.user_codes: list[str] = []

        self._ca = ca
        self._own_dir: Path | None = None
        self._lock = threading.Lock()
        self._device_flows: dict[str, _DeviceFlow] = {}
        self._refresh_tokens: dict[str, _DeviceFlow] = {}
        self._failures: list[_Failure] = []
        self._httpd: _HTTPSServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> TokenServer:
        if self._ca is None:
            self._own_dir = Path(tempfile.mkdtemp(prefix="rundctl-token-server-"))
            self._ca = make_test_ca(self._own_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self._ca.cert_path, self._ca.key_path)
        httpd = _HTTPSServer(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        httpd.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        httpd.server_bind()
        httpd.server_activate()
        httpd.ssl_context = ctx
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="token-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._httpd is not None, "TokenServer is not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The authority host: give it to azure-identity as ``authority=`` / AZURE_AUTHORITY_HOST."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> TestCA:
        assert self._ca is not None, "TokenServer is not started"
        return self._ca

    @property
    def ca_path(self) -> Path:
        return self.ca.ca_path

    @property
    def actions_url(self) -> str:
        """What ACTIONS_ID_TOKEN_REQUEST_URL would be (already has a query; append ``&audience=``)."""
        return f"{self.url}/actions/idtoken?api-version=2.0"

    def token_endpoint(self, tenant: str | None = None) -> str:
        return f"{self.url}/{tenant or self.tenant_id}/oauth2/v2.0/token"

    def env(self, *, actions: bool = False) -> dict[str, str]:
        """Environment for a subprocess: trust the test CA and use this authority host."""
        env = {
            "REQUESTS_CA_BUNDLE": str(self.ca_path),
            "SSL_CERT_FILE": str(self.ca_path),
            "AZURE_AUTHORITY_HOST": self.url,
        }
        if actions:
            env["ACTIONS_ID_TOKEN_REQUEST_URL"] = self.actions_url
            env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = self.actions_request_token
        return env

    # -- scripting and inspection ------------------------------------------------------------

    def fail_next_token(
        self,
        status: int = 500,
        error: str = "temporarily_unavailable",
        description: str = "AADSTS50196: The server encountered an unexpected error.",
        *,
        headers: dict[str, str] | None = None,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` token requests with this error (azure-core retries 5xx/429)."""
        with self._lock:
            for _ in range(count):
                self._failures.append(
                    _Failure(status, self._error_body(error, description), dict(headers or {}))
                )

    def token_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/oauth2/v2.0/token")]

    def count(self, method: str, path_contains: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.method == method and path_contains in r.path)

    # -- request handling --------------------------------------------------------------------

    def _handle(self, req: RecordedRequest) -> Response:
        with self._lock:
            self.requests.append(req)
            parts = [p for p in req.path.split("/") if p]
            try:
                return self._route(req, parts)
            except Exception as exc:  # a bug here should be visible, not a hung client
                return 500, {"error": "server_error", "error_description": f"token_server: {exc!r}"}, {}

    def _route(self, req: RecordedRequest, parts: list[str]) -> Response:
        if req.method == "GET":
            if parts == ["common", "discovery", "instance"]:
                return self._instance_discovery(req)
            if len(parts) >= 3 and parts[-2:] == [".well-known", "openid-configuration"] and (
                len(parts) == 3 or (len(parts) == 4 and parts[1] == "v2.0")
            ):
                return self._openid_configuration(parts[0])
            if parts == ["actions", "idtoken"]:
                return self._actions_token(req)
            if parts == ["device"]:
                return 200, "<html><body><h1>Enter code</h1><p>rundctl test stand-in</p></body></html>", {}
        if req.method == "POST" and len(parts) == 4 and parts[1:3] == ["oauth2", "v2.0"]:
            if parts[3] == "token":
                return self._token(parts[0], req.form)
            if parts[3] == "devicecode":
                return self._devicecode(parts[0], req.form)
        return 404, {"error": "not_found", "error_description": f"token_server: no route for "
                     f"{req.method} {req.path}"}, {}

    @staticmethod
    def _error_body(error: str, description: str) -> dict[str, Any]:
        codes = [int(description[6:].split(":")[0])] if description.startswith("AADSTS") else []
        return {
            "error": error,
            "error_description": description,
            "error_codes": codes,
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        }

    def _error(self, status: int, error: str, description: str) -> Response:
        return status, self._error_body(error, description), {}

    def _unknown_tenant(self, tenant: str) -> Response | None:
        if self.tenants is None or tenant.lower() in _META_TENANTS or tenant.lower() in self.tenants:
            return None
        return self._error(
            400, "invalid_tenant",
            f"AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
            "and are signing into the correct cloud.",
        )

    def _tid(self, tenant: str) -> str:
        return self.tenant_id if tenant.lower() in _META_TENANTS else tenant

    def _issuer(self, tenant: str) -> str:
        return f"{self.url}/{self._tid(tenant)}/v2.0"

    def _openid_configuration(self, tenant: str) -> Response:
        unknown = self._unknown_tenant(tenant)
        if unknown:
            return unknown
        base = f"{self.url}/{tenant}"
        issuer_tenant = "{tenantid}" if tenant.lower() in _META_TENANTS else tenant  # as Entra does
        return 200, {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{self.url}/{issuer_tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{self.url}/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "preferred_username",
                                 "name", "tid", "ver", "oid"],
            "kerberos_endpoint": f"{base}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "127.0.0.1",
            "cloud_graph_host_name": "127.0.0.1",
            "msgraph_host": "127.0.0.1",
            "rbac_url": "https://127.0.0.1",
        }, {}

    def _instance_discovery(self, req: RecordedRequest) -> Response:
        tenant = "common"
        auth_endpoint = req.query.get("authorization_endpoint", "")
        segments = [p for p in urlsplit(auth_endpoint).path.split("/") if p]
        if segments:
            tenant = segments[0]
        host = f"127.0.0.1:{self.port}"
        return 200, {
            "tenant_discovery_endpoint": f"{self.url}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }, {}

    # -- token endpoint ----------------------------------------------------------------------

    def _refuse_tenant_or_client(self, tenant: str, form: dict[str, str]) -> Response | None:
        """Entra's answer for an unknown tenant or client, or None when both are known."""
        unknown = self._unknown_tenant(tenant)
        if unknown:
            return unknown
        client_id = form.get("client_id", "")
        if self.client_id is not None and client_id != self.client_id:
            return self._error(
                400, "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory "
                f"'{self._tid(tenant)}'.",
            )
        return None

    def _token(self, tenant: str, form: dict[str, str]) -> Response:
        if self._failures:
            failure = self._failures.pop(0)
            return failure.status, failure.body, failure.headers
        refused = self._refuse_tenant_or_client(tenant, form)
        if refused:
            return refused
        client_id = form.get("client_id", "")
        grant = form.get("grant_type", "")
        scope = form.get("scope", "")
        if grant == "client_credentials":
            return self._client_credentials(tenant, client_id, scope, form)
        if grant == DEVICE_CODE_GRANT:
            return self._device_code_grant(form)
        if grant == "refresh_token":
            flow = self._refresh_tokens.get(form.get("refresh_token", ""))
            if flow is None or flow.client_id != client_id:
                return self._error(
                    400, "invalid_grant",
                    "AADSTS70000: Provided grant is invalid or malformed. The refresh token is invalid.",
                )
            return self._user_tokens(tenant, client_id, scope or flow.scope)
        return self._error(
            400, "unsupported_grant_type",
            f"AADSTS70003: The app requested an unsupported grant type '{grant}'.",
        )

    def _client_credentials(self, tenant: str, client_id: str, scope: str, form: dict[str, str]) -> Response:
        if "client_assertion" in form or "client_assertion_type" in form:
            assertion = form.get("client_assertion", "")
            self.assertions.append(assertion)
            if form.get("client_assertion_type") != JWT_BEARER:
                return self._error(
                    400, "invalid_request",
                    "AADSTS50027: Invalid client_assertion_type; expected "
                    f"'{JWT_BEARER}'.",
                )
            accepted = assertion in self.actions_issued or (
                bool(assertion) if self.client_assertions is None else assertion in self.client_assertions
            )
            if not accepted:
                return self._error(
                    401, "invalid_client",
                    "AADSTS700213: No matching federated identity record found for presented assertion "
                    "subject.",
                )
        elif "client_secret" in form:
            if self.client_secret is not None and form["client_secret"] != self.client_secret:
                return self._error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        else:
            return self._error(
                401, "invalid_client",
                "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' "
                "or 'client_secret'.",
            )
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return self._error(
                400, "invalid_scope",
                f"AADSTS1002012: The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        now = int(time.time())
        claims = {
            "aud": resource_of(scope),
            "iss": self._issuer(tenant),
            "iat": now,
            "nbf": now,
            "exp": now + self.expires_in,
            "tid": self._tid(tenant),
            "oid": self.app_oid,
            "sub": self.app_oid,
            "appid": client_id,
            "azp": client_id,
            "idtyp": "app",
            "roles": list(self.roles),
            "uti": uuid.uuid4().hex,
            "ver": "2.0",
        }
        token = self._issue(claims)
        return 200, {
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "ext_expires_in": self.expires_in,
            "access_token": token,
        }, {}

    def _issue(self, claims: dict[str, Any]) -> str:
        token = self.access_token if self.access_token is not None else make_jwt(claims)
        self.issued.append(token)
        return token

    def _devicecode(self, tenant: str, form: dict[str, str]) -> Response:
        refused = self._refuse_tenant_or_client(tenant, form)
        if refused:
            return refused
        client_id = form.get("client_id", "")
        device_code = "DC-" + uuid.uuid4().hex
        raw = uuid.uuid4().hex[:8].upper()
        user_code = f"{raw[:4]}-{raw[4:]}"
        self.user_codes.append(user_code)
        self._device_flows[device_code] = _DeviceFlow(
            client_id=client_id, scope=form.get("scope", ""), tenant=tenant, pending_left=self.pending_polls
        )
        verification_uri = f"{self.url}/device"
        return 200, {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verification_uri,
            "expires_in": 900,
            "interval": self.device_interval,
            "message": f"To sign in, use a web browser to open the page {verification_uri} and enter "
                       f"the code {user_code} to authenticate.",
        }, {}

    def _device_code_grant(self, form: dict[str, str]) -> Response:
        flow = self._device_flows.get(form.get("device_code", ""))
        if flow is None or flow.client_id != form.get("client_id", ""):
            return self._error(
                400, "invalid_grant",
                "AADSTS70000: Provided grant is invalid or malformed. The device code is unknown.",
            )
        if flow.pending_left > 0:
            flow.pending_left -= 1
            return self._error(
                400, "authorization_pending",
                "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            )
        del self._device_flows[form["device_code"]]  # a device code is redeemed once
        return self._user_tokens(flow.tenant, flow.client_id, flow.scope)

    def _user_tokens(self, tenant: str, client_id: str, scope: str) -> Response:
        now = int(time.time())
        tid = self._tid(tenant)
        resource_scopes = [s for s in scope.split() if s not in _RESERVED_SCOPES]
        claims = {
            "aud": resource_of(scope),
            "iss": self._issuer(tenant),
            "iat": now,
            "nbf": now,
            "exp": now + self.expires_in,
            "tid": tid,
            "oid": self.user_oid,
            "sub": self.user_oid,
            "appid": client_id,
            "azp": client_id,
            "idtyp": "user",
            "scp": self.scp,
            "upn": self.username,
            "preferred_username": self.username,
            "name": "Ada Lovelace",
            "uti": uuid.uuid4().hex,
            "ver": "2.0",
        }
        token = self._issue(claims)
        refresh_token = "RT-" + uuid.uuid4().hex
        self._refresh_tokens[refresh_token] = _DeviceFlow(
            client_id=client_id, scope=scope, tenant=tenant, pending_left=0
        )
        id_token = make_jwt({
            "aud": client_id,
            "iss": self._issuer(tenant),
            "iat": now,
            "nbf": now,
            "exp": now + self.expires_in,
            "tid": tid,
            "oid": self.user_oid,
            "sub": self.user_oid,
            "preferred_username": self.username,
            "name": "Ada Lovelace",
            "ver": "2.0",
        })
        return 200, {
            "token_type": "Bearer",
            "scope": " ".join(resource_scopes),
            "expires_in": self.expires_in,
            "ext_expires_in": self.expires_in,
            "access_token": token,
            "refresh_token": refresh_token,
            "id_token": id_token,
            "client_info": _b64url_json({"uid": self.user_oid, "utid": tid}),
        }, {}

    # -- GitHub Actions OIDC stand-in --------------------------------------------------------

    def _actions_token(self, req: RecordedRequest) -> Response:
        scheme, _, credential = (req.header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or credential.strip() != self.actions_request_token:
            return 401, {"message": "Bad credentials"}, {}
        audience = req.query.get("audience")
        now = int(time.time())
        assertion = make_jwt(
            {
                "jti": str(uuid.uuid4()),
                "iss": ACTIONS_ISSUER,
                "aud": audience or "https://github.com/contoso",
                "sub": "repo:contoso/rundctl:ref:refs/heads/main",
                "repository": "contoso/rundctl",
                "ref": "refs/heads/main",
                "iat": now,
                "nbf": now,
                "exp": now + 300,
            },
            header={"alg": "RS256", "typ": "JWT", "kid": "test"},
        )
        self.actions_calls += 1
        self.actions_audiences.append(audience)
        self.actions_issued.append(assertion)
        return 200, {"count": 1, "value": assertion}, {}
