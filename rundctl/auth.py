"""Choosing the credential (SPEC §6). azure.identity is imported only inside the modes that use it.

This module decides *which* credential applies and hands back a token provider; it never
prints a token. Entra credential modes arrive with the authentication issue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from rundctl.errors import NotAuthenticated, UsageError
from rundctl.redact import register_secret
from rundctl.settings import Endpoint

ENTRA_MODES = (
    "environment",
    "azure-cli",
    "device-code",
    "browser",
    "managed-identity",
    "workload-identity",
    "github-oidc",
)

FIX_HINT = (
    "set RUNDCTL_TOKEN to a bearer token, or pass --token-file PATH (or - for stdin); "
    "for the local sandbox use --endpoint sandbox"
)


@dataclass(frozen=True)
class Credential:
    """The chosen credential: ``get_token`` is None for mode ``none``."""

    mode: str
    source: str
    get_token: Callable[[], str] | None


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


def resolve(
    mode: str,
    endpoint: Endpoint,
    env: Mapping[str, str],
    *,
    token_file: str | None,
    stdin: BinaryIO,
) -> Credential:
    """Pick the credential for *mode* ("auto" chooses); raise exit 4 when none is usable."""
    if mode == "auto":
        if token_file is not None or env.get("RUNDCTL_TOKEN"):
            mode = "token"
        elif endpoint.loopback:
            mode = "none"
        else:
            raise NotAuthenticated(
                f"no credential for {endpoint.url}",
                hint=FIX_HINT,
            )
    if mode == "none":
        if not endpoint.loopback:
            raise UsageError(
                "--auth none is only allowed for loopback endpoints and the sandbox",
                hint=FIX_HINT,
            )
        return Credential("none", "no credential (loopback endpoint)", None)
    if mode == "token":
        if token_file is not None:
            token = _clean_token(_read_token_file(token_file, stdin), "--token-file")
            source = "--token-file - (stdin)" if token_file == "-" else "--token-file"  # noqa: S105
        elif env.get("RUNDCTL_TOKEN") is not None:
            token = _clean_token(env["RUNDCTL_TOKEN"], "RUNDCTL_TOKEN")
            source = "RUNDCTL_TOKEN"
        else:
            raise NotAuthenticated("--auth token: no token given", hint=FIX_HINT)
        return Credential("token", source, lambda: token)
    if mode in ENTRA_MODES:
        raise NotAuthenticated(
            f"--auth {mode} is not available in this version of rundctl",
            hint=FIX_HINT,
        )
    raise UsageError(f"--auth: unknown mode '{mode}'")
