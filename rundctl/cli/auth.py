"""``rundctl auth status | login | logout``."""

from __future__ import annotations

from typing import Annotated

import typer

from rundctl.cli.context import conn_settings, current_deps, output_format, renderer, say
from rundctl.cli.options import (
    DEFAULT_CLOUD,
    ClientIdOpt,
    CloudOpt,
    ConnArgs,
    OutputOpt,
    TenantOpt,
    with_connection,
)
from rundctl.errors import UsageError


@with_connection
def auth_status(output: OutputOpt = None, *, conn_args: ConnArgs) -> int:
    """Show which credential is used and what its token says (never the token).

    Mode, source, tenant, identity, expiry, and the roles or scopes in the token's claims.
    Exit 4 when no credential works, naming what would fix it.

    \b
    Examples:
      rundctl auth status
      rundctl auth status -o json | jq .roles
    """
    from rundctl import auth

    deps = current_deps()
    conn = conn_settings(conn_args)
    fmt = output_format(deps, output)
    credential = deps.credential(conn)
    token = credential.get_token() if credential.get_token else None
    info = auth.describe(credential, token)
    info["endpoint"] = conn.endpoint.url or "sandbox"
    renderer(deps, fmt).pairs(info)
    return 0


DeviceCodeOpt = Annotated[bool, typer.Option(
    "--device-code", help="Sign in with a code on another device (the default).")]
BrowserOpt = Annotated[bool, typer.Option("--browser", help="Sign in with a local browser.")]
UnencryptedOpt = Annotated[bool, typer.Option(
    "--allow-unencrypted-cache",
    help="Without an OS keyring (headless Linux), keep the token cache in a 0600 file.")]


def auth_login(
    device_code: DeviceCodeOpt = False,
    browser: BrowserOpt = False,
    tenant: TenantOpt = None,
    client_id: ClientIdOpt = None,
    cloud: CloudOpt = DEFAULT_CLOUD,
    allow_unencrypted_cache: UnencryptedOpt = False,
) -> int:
    """Sign in once; later commands get tokens silently from an encrypted cache.

    Stores the token cache with the OS keyring (TokenCachePersistenceOptions name
    "rundctl") and an AuthenticationRecord (no secrets, mode 0600) in the config folder.
    Never in CI. Uses the Microsoft Graph Command Line Tools app unless --client-id names
    your own app registration.

    \b
    Examples:
      rundctl auth login --tenant contoso.onmicrosoft.com
      rundctl auth login --browser
    """
    from rundctl import auth
    from rundctl.redact import neutralise
    from rundctl.settings import parse_cloud

    deps = current_deps()
    if device_code and browser:
        raise UsageError("give --device-code or --browser, not both")
    parsed = parse_cloud(cloud, deps.env)
    can_prompt = deps.can_prompt()
    if allow_unencrypted_cache and can_prompt:
        say(deps, "warning: the token cache will be an unencrypted file (mode 0600) under "
            "~/.IdentityService")
    who = auth.login(
        deps.env, parsed, browser=browser, tenant=tenant, client_id=client_id,
        allow_unencrypted_cache=allow_unencrypted_cache, can_prompt=can_prompt,
        say=lambda text: deps.stderr.write(text + "\n"),
    )
    say(deps, f"signed in as {neutralise(str(who['username']))} (tenant "
        f"{neutralise(str(who['tenant']))})")
    return 0


def auth_logout() -> int:
    """Forget the cached login (the record; the keyring entry expires on its own).

    Later commands no longer pick the cached login in --auth auto.

    \b
    Examples:
      rundctl auth logout
    """
    from rundctl import auth

    deps = current_deps()
    say(deps, "signed out" if auth.logout(deps.env) else "no cached login")
    return 0
