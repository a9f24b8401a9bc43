"""The current command's world and the parse step shared by the commands.

:func:`current_deps` is the :class:`~rundctl.deps.Deps` of the running command (tests pass
their own through ``CliRunner.invoke(app, args, obj=deps)``). The other functions turn flag
text into checked values; they raise :class:`~rundctl.errors.UsageError` (exit 2) and
never touch the network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rundctl.deps import Deps, from_process
from rundctl.errors import UsageError

if TYPE_CHECKING:
    from rundctl.cli.options import ConnArgs, WaitArgs
    from rundctl.inputs import Stdin
    from rundctl.render import Renderer
    from rundctl.settings import ConnSettings
    from rundctl.wait import WaitOptions

DEFAULT_TIMEOUT = "120"
DEFAULT_WAIT_TIMEOUT = "30m"
DEFAULT_BULK_TIMEOUT = "24h"


def current_deps() -> Deps:
    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True)
    if ctx is not None and isinstance(ctx.obj, Deps):
        return ctx.obj
    deps = from_process()
    if ctx is not None:
        ctx.obj = deps
    return deps


def apply_profile(deps: Deps, kwargs: dict[str, Any]) -> None:
    """Fill options the user did not give (flag or environment) from the active profile."""
    if "profile" not in kwargs:
        return
    from rundctl import config

    if not config.config_path(deps.env).exists() and not kwargs["profile"]:
        return
    loaded = config.load(deps.env)
    values = loaded.profile(loaded.profile_name(kwargs["profile"], deps.env))
    if not values:
        return
    from typer._click.core import ParameterSource
    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True)
    for key, value in values.items():
        if key not in kwargs or deps.env.get(config.ENV_FOR_KEY.get(key, "")):
            continue
        source = ctx.get_parameter_source(key) if ctx is not None else None
        if source in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
            kwargs[key] = value


def output_format(deps: Deps, text: str | None, default: str | None = None) -> str:
    """``-o``: as given, else *default*, else table on a terminal and json otherwise."""
    from rundctl.settings import parse_output

    if text:
        return parse_output(text)
    if default is not None:
        return default
    return "table" if deps.stdout_tty else "json"


def renderer(deps: Deps, fmt: str) -> Renderer:
    from rundctl.render import Renderer

    return Renderer(fmt, deps.stdout, now=deps.clock(), tty=bool(deps.stdout_tty), env=deps.env)


def stdin(deps: Deps) -> Stdin:
    from rundctl.inputs import Stdin

    return Stdin(deps.stdin, bool(deps.stdin_tty))


def conn_settings(args: ConnArgs, *, waiting: bool = False, bulk: bool = False) -> ConnSettings:
    """The connection flags checked; the timeout default depends on the kind of command."""
    from rundctl.settings import (
        ConnSettings,
        parse_auth_mode,
        parse_cloud,
        parse_duration,
        parse_endpoint,
    )

    cloud = parse_cloud(args.cloud, current_deps().env)
    default = (DEFAULT_BULK_TIMEOUT if bulk else DEFAULT_WAIT_TIMEOUT if waiting
               else DEFAULT_TIMEOUT)
    return ConnSettings(
        endpoint=parse_endpoint(args.endpoint, cloud),
        cloud=cloud,
        auth_mode=parse_auth_mode(args.auth),
        token_file=args.token_file,
        timeout=parse_duration(args.timeout or default),
        max_retry_wait=parse_duration(args.max_retry_wait, name="--max-retry-wait"),
        debug=args.debug,
        tenant=args.tenant,
        client_id=args.client_id,
    )


def guid(text: str, name: str) -> str:
    from rundctl.settings import parse_guid

    return parse_guid(text, name=name)


def optional_guid(text: str | None, name: str) -> str | None:
    return guid(text, name) if text else None


def need_flow(flow: str | None) -> str:
    if not flow:
        raise UsageError("--flow is required", hint="pass --flow ID or set RUNDCTL_FLOW")
    return guid(flow, "--flow")


def status_flag(text: str) -> str:
    from rundctl import model

    status = model.normalize_status(text)
    if status is None:
        raise UsageError(f"--status: {model.status_problem(text) or text}")
    return status


def time_flag(deps: Deps, text: str | None, name: str) -> str | None:
    """``--since``/``--until``: an RFC 3339 timestamp, ``now``, or an age like 24h / 7d."""
    if text is None:
        return None
    from datetime import timedelta

    from rundctl import model
    from rundctl.settings import DURATION_PATTERN, parse_duration

    now = deps.clock()
    if DURATION_PATTERN.match(text):
        return model.format_utc(now - timedelta(seconds=parse_duration(text, name=name)))
    try:
        return model.parse_timestamp(text, allow_now=True, now=now)
    except ValueError as exc:
        raise UsageError(f"{name}: {exc}", hint="give a timestamp like 2026-11-01T00:00:00Z "
                         "or an age like 24h or 7d") from None


def wait_options(timeout: float, args: WaitArgs, *, grace: str = "60s") -> WaitOptions:
    """The wait flags checked; *grace* is the command's default ``--not-found-grace``."""
    from rundctl.settings import parse_duration
    from rundctl.wait import FAIL_ON, WaitOptions

    fail_on = args.fail_on.strip().lower()
    if fail_on not in FAIL_ON:
        raise UsageError(f"--fail-on: '{args.fail_on}' is not one of {', '.join(FAIL_ON)}")
    interval = args.interval.strip().lower()
    every = None if interval == "auto" else parse_duration(args.interval, name="--interval")
    return WaitOptions(timeout=timeout, interval=every, fail_on=fail_on,
                       not_found_grace=parse_duration(args.not_found_grace or grace,
                                                      name="--not-found-grace",
                                                      allow_zero=True))


def remember_ids(flow: str | None, run: object = None) -> None:
    from rundctl.recent import remember

    remember("flows", flow)
    remember("runs", run if isinstance(run, str) else None)


def say(deps: Deps, text: str) -> None:
    """One note on stderr, ``rundctl: …``; no line of it can start a CI workflow command."""
    from rundctl.redact import ci_safe_line

    deps.stderr.write(f"rundctl: {ci_safe_line(text, keep_newlines=True)}\n")
    deps.stderr.flush()
