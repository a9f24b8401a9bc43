"""Choosing the credential (README "Authentication", docs/api.md).

azure.identity is imported only inside the modes that use it.

This module decides *which* credential applies and hands back a token provider; it never
prints a token. Rules:
- ``auto`` picks from what is configured, in a fixed order, without probing the network;
- nothing prompts unless stdin and stderr are terminals and ``CI`` is unset;
- a token from Entra goes only to the selected cloud's Graph host (exit 10 otherwise);
- every azure-identity failure becomes exit 4 with one readable line and a hint.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple
from urllib.parse import urlsplit

from rundctl import vocab
from rundctl.errors import NotAuthenticated, SecurityRefused, UsageError
from rundctl.paths import config_dir
from rundctl.redact import register_secret, safe_message
from rundctl.settings import Cloud, Endpoint

# Every mode but auto, token and none gets its token from Entra (azure-identity).
ENTRA_MODES: tuple[str, ...] = tuple(m for m in vocab.AUTH_MODES if m not in ("auto", "token",
                                                                             "none"))
AUTO_ORDER = (
    "RUNDCTL_TOKEN / --token-file",
    "no credential for loopback endpoints and the sandbox",
    "environment (AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or "
    "AZURE_CLIENT_CERTIFICATE_PATH)",
    "workload-identity (AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID)",
    "github-oidc (ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN, AZURE_CLIENT_ID, AZURE_TENANT_ID)",
    "managed-identity (IDENTITY_ENDPOINT or MSI_ENDPOINT present)",
    "a cached 'rundctl auth login'",
    "azure-cli (az on PATH)",
)
FIX_HINT = (
    "set RUNDCTL_TOKEN (or --token-file PATH|-), or AZURE_TENANT_ID + AZURE_CLIENT_ID + "
    "AZURE_CLIENT_SECRET (--auth environment), or run 'rundctl auth login'; "
    "for the local sandbox use --endpoint sandbox"
)
ACTIONS_AUDIENCE = "api://AzureADTokenExchange"
# Microsoft Graph Command Line Tools: a public client registered for Graph, used by
# `auth login` unless --client-id names your own app registration.
DEFAULT_PUBLIC_CLIENT_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
CACHE_NAME = "rundctl"
RECORD_FILE = "auth_record.json"
LOGIN_FILE = "login.json"
REFRESH_MARGIN = 300  # seconds before expiry when a token is renewed


class AuthOptions(NamedTuple):
    mode: str
    token_file: str | None = None
    tenant: str | None = None
    client_id: str | None = None


@dataclass
class Credential:
    """The chosen credential: ``get_token`` is None for mode ``none``."""

    mode: str
    source: str
    get_token: Callable[[], str] | None
    refresh: Callable[[], bool] | None = None
    details: dict[str, str] = field(default_factory=dict)


def interactive(env: Mapping[str, str], stdin_tty: bool, stderr_tty: bool) -> bool:
    return stdin_tty and stderr_tty and not env.get("CI")


# -- static tokens --------------------------------------------------------------------


def _clean_token(raw: str, source: str) -> str:
    token = raw.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if not token:
        raise NotAuthenticated(f"{source} is empty", hint=FIX_HINT)
    if any(ch.isspace() or ord(ch) < 0x21 or ord(ch) == 0x7F for ch in token):
        raise NotAuthenticated(
            f"{source} does not look like a bearer token (it contains spaces or control "
            "characters)",
            hint="the token must be one line with no spaces",
        )
    register_secret(token)
    return token


def _read_token_file(path: str, stdin: BinaryIO) -> str:
    if path == "-":
        data = stdin.read(64 * 1024)
    else:
        try:
            with open(path, "rb") as handle:
                data = handle.read(64 * 1024)
        except OSError as exc:
            raise NotAuthenticated(
                f"--token-file: cannot read '{path}': {exc.strerror or exc}", hint=FIX_HINT
            ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotAuthenticated("--token-file: the token is not UTF-8 text") from None


def _static(opts: AuthOptions, env: Mapping[str, str], stdin: BinaryIO) -> Credential:
    if opts.token_file is not None:
        token = _clean_token(_read_token_file(opts.token_file, stdin), "--token-file")
        source = "--token-file - (stdin)" if opts.token_file == "-" else "--token-file"  # noqa: S105
    elif env.get("RUNDCTL_TOKEN") is not None:
        token = _clean_token(env["RUNDCTL_TOKEN"], "RUNDCTL_TOKEN")
        source = "RUNDCTL_TOKEN"
    else:
        raise NotAuthenticated("--auth token: no token given", hint=FIX_HINT)
    return Credential("token", source, lambda: token)


# -- Entra credentials ----------------------------------------------------------------


def _need(env: Mapping[str, str], mode: str, **values: str | None) -> dict[str, str]:
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise NotAuthenticated(
            f"--auth {mode}: {', '.join(missing)} not set",
            hint=f"set {' and '.join(missing)} (or the matching --tenant/--client-id flags)",
        )
    return {k: v for k, v in values.items() if v}


def _github_assertion(env: Mapping[str, str]) -> Callable[[], str]:
    """A callback that fetches a FRESH GitHub Actions ID token on every call."""
    url = env["ACTIONS_ID_TOKEN_REQUEST_URL"]
    request_token = env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]
    register_secret(request_token)

    def fetch() -> str:
        from urllib.parse import quote

        import requests

        full = f"{url}{'&' if '?' in url else '?'}audience={quote(ACTIONS_AUDIENCE, safe='')}"
        resp = requests.get(
            full, headers={"Authorization": f"bearer {request_token}",
                           "Accept": "application/json"},
            timeout=(10, 30), allow_redirects=False,
        )
        if resp.status_code != 200:
            raise NotAuthenticated(
                f"GitHub Actions refused the ID token request (HTTP {resp.status_code})",
                hint="the workflow needs 'permissions: id-token: write'",
            )
        value = resp.json().get("value")
        if not isinstance(value, str) or not value:
            raise NotAuthenticated("GitHub Actions returned no ID token")
        register_secret(value)
        return value

    return fetch


def _federated_file(path: str) -> Callable[[], str]:
    """Re-read AZURE_FEDERATED_TOKEN_FILE on every call: the file is rotated underneath us."""

    def read() -> str:
        try:
            with open(path, encoding="utf-8") as handle:
                value = handle.read().strip()
        except OSError as exc:
            raise NotAuthenticated(
                f"cannot read AZURE_FEDERATED_TOKEN_FILE '{path}': {exc.strerror or exc}"
            ) from None
        register_secret(value)
        return value

    return read


def _quiet_azure_logging() -> None:
    """azure-identity logs failures as warnings; rundctl reports them itself, once."""
    import logging

    for name in ("azure", "msal"):
        logger = logging.getLogger(name)
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


def _record_path(env: Mapping[str, str]) -> Path:
    return config_dir(env) / RECORD_FILE


def _build_entra(
    mode: str, opts: AuthOptions, cloud: Cloud, env: Mapping[str, str], can_prompt: bool
) -> tuple[Any, str, dict[str, str]]:
    """(azure credential, source description, details) for an Entra *mode*."""
    _quiet_azure_logging()
    import azure.identity as ai

    common: dict[str, Any] = {"authority": cloud.authority_host}
    if cloud.name == "custom":
        common["disable_instance_discovery"] = True
    tenant = opts.tenant or env.get("AZURE_TENANT_ID")
    client = opts.client_id or env.get("AZURE_CLIENT_ID")
    cred: Any
    if mode == "environment":
        if env.get("AZURE_CLIENT_SECRET"):
            got = _need(env, mode, AZURE_TENANT_ID=tenant, AZURE_CLIENT_ID=client)
            register_secret(env["AZURE_CLIENT_SECRET"])
            cred = ai.ClientSecretCredential(got["AZURE_TENANT_ID"], got["AZURE_CLIENT_ID"],
                                             env["AZURE_CLIENT_SECRET"], **common)
            return cred, "environment: client secret", {"tenant": got["AZURE_TENANT_ID"],
                                                        "client_id": got["AZURE_CLIENT_ID"]}
        if env.get("AZURE_CLIENT_CERTIFICATE_PATH"):
            got = _need(env, mode, AZURE_TENANT_ID=tenant, AZURE_CLIENT_ID=client)
            cred = ai.CertificateCredential(
                got["AZURE_TENANT_ID"], got["AZURE_CLIENT_ID"],
                env["AZURE_CLIENT_CERTIFICATE_PATH"],
                password=env.get("AZURE_CLIENT_CERTIFICATE_PASSWORD"), **common)
            return cred, "environment: client certificate", {
                "tenant": got["AZURE_TENANT_ID"], "client_id": got["AZURE_CLIENT_ID"]}
        raise NotAuthenticated(
            "--auth environment: neither AZURE_CLIENT_SECRET nor AZURE_CLIENT_CERTIFICATE_PATH "
            "is set", hint="set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET")
    if mode == "workload-identity":
        got = _need(env, mode, AZURE_TENANT_ID=tenant, AZURE_CLIENT_ID=client,
                    AZURE_FEDERATED_TOKEN_FILE=env.get("AZURE_FEDERATED_TOKEN_FILE"))
        cred = ai.ClientAssertionCredential(
            got["AZURE_TENANT_ID"], got["AZURE_CLIENT_ID"],
            _federated_file(got["AZURE_FEDERATED_TOKEN_FILE"]), **common)
        return cred, "workload identity: AZURE_FEDERATED_TOKEN_FILE", {
            "tenant": got["AZURE_TENANT_ID"], "client_id": got["AZURE_CLIENT_ID"]}
    if mode == "github-oidc":
        got = _need(env, mode, AZURE_TENANT_ID=tenant, AZURE_CLIENT_ID=client,
                    ACTIONS_ID_TOKEN_REQUEST_URL=env.get("ACTIONS_ID_TOKEN_REQUEST_URL"),
                    ACTIONS_ID_TOKEN_REQUEST_TOKEN=env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
        cred = ai.ClientAssertionCredential(got["AZURE_TENANT_ID"], got["AZURE_CLIENT_ID"],
                                            _github_assertion(env), **common)
        return cred, "GitHub Actions OIDC", {"tenant": got["AZURE_TENANT_ID"],
                                             "client_id": got["AZURE_CLIENT_ID"]}
    if mode == "managed-identity":
        mi: dict[str, Any] = {"client_id": client} if client else {}
        return ai.ManagedIdentityCredential(**mi), "managed identity", dict(mi)
    if mode == "azure-cli":
        cli: dict[str, Any] = {"tenant_id": tenant} if tenant else {}
        return ai.AzureCliCredential(**cli), "Azure CLI (az login)", dict(cli)
    # device-code / browser: the cached login if there is one, a prompt only when allowed.
    record = None
    path = _record_path(env)
    if path.exists():
        record = ai.AuthenticationRecord.deserialize(path.read_text(encoding="utf-8"))
    if record is None and not can_prompt:
        raise NotAuthenticated(
            f"--auth {mode} needs a terminal to sign in, and there is no cached login",
            hint="run 'rundctl auth login' on a terminal first; in CI use --auth environment, "
            "workload-identity or github-oidc",
        )
    kwargs: dict[str, Any] = dict(common)
    kwargs["client_id"] = (record.client_id if record else None) or client or \
        DEFAULT_PUBLIC_CLIENT_ID
    if tenant or record:
        kwargs["tenant_id"] = record.tenant_id if record else tenant
    if record is not None:
        kwargs.pop("authority", None)  # the record names its own authority
        kwargs["authentication_record"] = record
        kwargs["cache_persistence_options"] = _cache_options(
            env, allow_unencrypted=_login_settings(env).get("allow_unencrypted_cache") is True)
    kwargs["disable_automatic_authentication"] = not can_prompt
    cls = ai.DeviceCodeCredential if mode == "device-code" else ai.InteractiveBrowserCredential
    source = f"cached login ({record.username})" if record else mode
    return cls(**kwargs), source, {"tenant": str(kwargs.get("tenant_id", "")),
                                   "client_id": str(kwargs["client_id"])}


def _login_settings(env: Mapping[str, str]) -> dict[str, Any]:
    try:
        data = json.loads((config_dir(env) / LOGIN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_private(path: Path, text: str) -> None:
    """Write *text* to *path* readable by the owner only (0600), in a 0700 folder."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def login(
    env: Mapping[str, str],
    cloud: Cloud,
    *,
    browser: bool,
    tenant: str | None,
    client_id: str | None,
    allow_unencrypted_cache: bool,
    can_prompt: bool,
    say: Callable[[str], object],
) -> dict[str, str]:
    """``rundctl auth login``: sign in once, keep an encrypted token cache and a record."""
    if env.get("CI"):
        raise NotAuthenticated(
            "auth login keeps a persistent token cache, which rundctl never does when CI is set",
            hint="in CI use --auth environment, workload-identity or github-oidc",
        )
    if not can_prompt:
        raise NotAuthenticated(
            "auth login needs a terminal (stdin and stderr) to sign in",
            hint="run it in an interactive shell, or use RUNDCTL_TOKEN / --auth environment",
        )
    _quiet_azure_logging()
    import azure.identity as ai

    try:
        cache = _cache_options(env, allow_unencrypted=allow_unencrypted_cache)
        kwargs: dict[str, Any] = {
            "authority": cloud.authority_host,
            "client_id": client_id or env.get("AZURE_CLIENT_ID") or DEFAULT_PUBLIC_CLIENT_ID,
            "cache_persistence_options": cache,
        }
        if cloud.name == "custom":
            kwargs["disable_instance_discovery"] = True
        if tenant or env.get("AZURE_TENANT_ID"):
            kwargs["tenant_id"] = tenant or env.get("AZURE_TENANT_ID")
        if browser:
            cred: Any = ai.InteractiveBrowserCredential(**kwargs)
        else:
            kwargs["prompt_callback"] = lambda uri, code, _exp: say(
                f"To sign in, open {uri} and enter the code {code}")
            cred = ai.DeviceCodeCredential(**kwargs)
        record = cred.authenticate(scopes=[cloud.scope])
    except NotAuthenticated:
        raise
    except Exception as exc:
        raise _login_failure(exc, allow_unencrypted_cache) from None
    folder = config_dir(env)
    _write_private(folder / RECORD_FILE, record.serialize())
    _write_private(folder / LOGIN_FILE, json.dumps(
        {"allow_unencrypted_cache": allow_unencrypted_cache,
         "mode": "browser" if browser else "device-code"}))
    return {"username": record.username, "tenant": record.tenant_id,
            "client_id": record.client_id}


_KEYRING_WORDS = ("keyring", "libsecret", "secret service", "persistence", "encrypt",
                  "dbus", "keychain")
LOGIN_ELSEWHERE = ("or skip the login: set RUNDCTL_TOKEN, or AZURE_TENANT_ID + AZURE_CLIENT_ID + "
                   "AZURE_CLIENT_SECRET with --auth environment")


def _login_failure(exc: Exception, allow_unencrypted: bool) -> NotAuthenticated:
    """Why ``auth login`` failed, with a hint that never points back at ``auth login``."""
    text = _first_line(exc)
    if isinstance(exc, ValueError) or any(w in text.lower() for w in _KEYRING_WORDS):
        if allow_unencrypted:
            return NotAuthenticated(
                f"the token cache could not be stored, even unencrypted: {text}",
                hint="check that ~/.IdentityService is writable; " + LOGIN_ELSEWHERE)
        return NotAuthenticated(
            f"no usable OS keyring for the token cache: {text}",
            hint="install and unlock a keyring (on Linux: libsecret, gir1.2-secret-1 and "
            "python3-gi), or run 'rundctl auth login --allow-unencrypted-cache' to keep the "
            "cache in a 0600 file; " + LOGIN_ELSEWHERE)
    return NotAuthenticated(f"sign-in failed: {text}",
                            hint="check the tenant and client ID; " + LOGIN_ELSEWHERE)


def logout(env: Mapping[str, str]) -> bool:
    """Forget the cached login. True when there was one."""
    removed = False
    for name in (RECORD_FILE, LOGIN_FILE):
        path = config_dir(env) / name
        if path.exists():
            path.unlink()
            removed = True
    return removed


def _cache_options(env: Mapping[str, str], *, allow_unencrypted: bool) -> Any:
    from azure.identity import TokenCachePersistenceOptions

    return TokenCachePersistenceOptions(name=CACHE_NAME,
                                        allow_unencrypted_storage=allow_unencrypted)


class EntraTokens:
    """Tokens from an azure-identity credential: cached, renewed before expiry, errors -> 4."""

    def __init__(self, credential: Any, scope: str, mode: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.credential = credential
        self.clock = clock
        self.scope = scope
        self.mode = mode
        self._token: str | None = None
        self._expires_on = 0.0

    def get(self) -> str:
        if self._token is None or self._expires_on - REFRESH_MARGIN <= self.clock():
            self._acquire()
        assert self._token is not None
        return self._token

    def refresh(self) -> bool:
        """After a 401: get a token again; True only if it is a different one."""
        old = self._token
        self._token = None
        return self.get() != old

    def _acquire(self) -> None:
        try:
            access = self.credential.get_token(self.scope)
        except NotAuthenticated:
            raise
        except Exception as exc:  # azure-identity / MSAL errors of every kind
            raise NotAuthenticated(
                f"--auth {self.mode}: could not get a token: {_first_line(exc)}",
                hint=FIX_HINT,
            ) from None
        register_secret(access.token)
        self._token = access.token
        self._expires_on = float(access.expires_on)


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    for line in text.splitlines():
        if line.strip():
            return safe_message(line.strip())[:300]
    return type(exc).__name__


def _is_graph_host(endpoint: Endpoint, cloud: Cloud) -> bool:
    if endpoint.url is None:
        return False
    target, graph = urlsplit(endpoint.url), urlsplit(cloud.graph_root)
    return (target.scheme, target.hostname, target.port) == (graph.scheme, graph.hostname,
                                                             graph.port)


def auto_mode(
    env: Mapping[str, str], endpoint: Endpoint, cloud: Cloud, has_token: bool
) -> str | None:
    """The mode ``auto`` picks, from configuration only (no network probes)."""
    if has_token:
        return "token"
    if endpoint.loopback and not _is_graph_host(endpoint, cloud):
        return "none"
    tenant, client = env.get("AZURE_TENANT_ID"), env.get("AZURE_CLIENT_ID")
    if tenant and client and (env.get("AZURE_CLIENT_SECRET")
                              or env.get("AZURE_CLIENT_CERTIFICATE_PATH")):
        return "environment"
    if tenant and client and env.get("AZURE_FEDERATED_TOKEN_FILE"):
        return "workload-identity"
    if tenant and client and env.get("ACTIONS_ID_TOKEN_REQUEST_URL") and \
            env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        return "github-oidc"
    if env.get("IDENTITY_ENDPOINT") or env.get("MSI_ENDPOINT"):
        return "managed-identity"
    if _record_path(env).exists():
        return "device-code"
    if shutil.which("az", path=env.get("PATH")):
        return "azure-cli"
    return None


def check_token_destination(endpoint: Endpoint, cloud: Cloud) -> None:
    """Entra tokens go only to the selected cloud's Graph host."""
    if endpoint.sandbox or endpoint.url is None:
        raise SecurityRefused(
            "an Entra token is never sent to the sandbox",
            hint="the sandbox needs no credential (--auth none), or use --auth token",
        )
    if not _is_graph_host(endpoint, cloud):
        raise SecurityRefused(
            f"refusing to send an Entra token for {cloud.graph_root} to "
            f"{urlsplit(endpoint.url).netloc}",
            hint="a custom --endpoint needs --auth token (RUNDCTL_TOKEN) or --auth none; or "
            "pick the matching --cloud",
        )


def resolve(
    opts: AuthOptions,
    endpoint: Endpoint,
    cloud: Cloud,
    env: Mapping[str, str],
    *,
    stdin: BinaryIO,
    can_prompt: bool = False,
    clock: Callable[[], float] = time.time,
) -> Credential:
    """Pick the credential for ``opts.mode`` ("auto" chooses); raise exit 4 when none works."""
    mode = opts.mode
    if mode == "auto":
        picked = auto_mode(env, endpoint, cloud, opts.token_file is not None or
                           bool(env.get("RUNDCTL_TOKEN")))
        if picked is None:
            raise NotAuthenticated(
                f"no credential for {endpoint.url}: nothing is configured",
                hint=FIX_HINT + ". Checked, in order: " + "; ".join(AUTO_ORDER),
            )
        mode = picked
    if mode == "none":
        if not endpoint.loopback:
            raise UsageError(
                "--auth none is only allowed for loopback endpoints and the sandbox",
                hint=FIX_HINT,
            )
        return Credential("none", "no credential (loopback endpoint)", None)
    if mode == "token":
        return _static(opts, env, stdin)
    if mode not in ENTRA_MODES:
        raise UsageError(f"--auth: unknown mode '{mode}'")
    check_token_destination(endpoint, cloud)
    try:
        credential, source, details = _build_entra(mode, opts, cloud, env, can_prompt)
    except (ValueError, OSError) as exc:  # no OS keyring, a malformed setting, a missing file
        raise NotAuthenticated(f"--auth {mode}: {_first_line(exc)}", hint=FIX_HINT) from None
    tokens = EntraTokens(credential, cloud.scope, mode, clock)
    return Credential(mode, source, tokens.get, tokens.refresh, details)


# -- token claims (auth status) ---------------------------------------------------------


def decode_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, decoded WITHOUT verification (for display only)."""
    parts = token.split(".")
    if len(parts) < 2:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def describe(credential: Credential, token: str | None) -> dict[str, Any]:
    """What ``auth status`` shows: never the token itself."""
    claims = decode_claims(token) if token else {}
    exp = claims.get("exp")
    info: dict[str, Any] = {
        "mode": credential.mode,
        "source": credential.source,
        "tenant": claims.get("tid") or credential.details.get("tenant"),
        "identity": claims.get("upn") or claims.get("preferred_username")
        or claims.get("unique_name") or claims.get("appid") or claims.get("azp")
        or claims.get("oid") or credential.details.get("client_id"),
        "audience": claims.get("aud"),
        "expires": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp))
        if isinstance(exp, int | float) else None,
        "roles": claims.get("roles") if isinstance(claims.get("roles"), list) else [],
        "scopes": str(claims.get("scp")).split() if claims.get("scp") else [],
    }
    return info
