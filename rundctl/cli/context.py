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


def renderer(deps: Deps, fmt: str, columns: str | None = None) -> Renderer:
    from rundctl.render import Renderer

    return Renderer(fmt, deps.stdout, now=deps.clock(), tty=bool(deps.stdout_tty), env=deps.env,
                    columns=columns_flag(columns))


def columns_flag(text: str | None) -> tuple[str, ...] | None:
    """``--columns a,b.c``: the dotted paths, checked (no empty names)."""
    if text is None:
        return None
    import re

    names = tuple(part.strip() for part in text.split(","))
    bad = [n for n in names if not re.fullmatch(r"[A-Za-z@][\w@.#-]*", n)]
    if not names or bad:
        raise UsageError(f"--columns: '{text}' is not a list of field names",
                         hint="e.g. --columns id,displayName,status,statistics.people")
    return names


def query_flag(text: str | None) -> Any:
    """``--query``: the compiled JMESPath expression (exit 2 when it is not valid)."""
    if text is None:
        return None
    from rundctl.query import compile_query

    return compile_query(text)


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


def run_ref(text: str) -> str:
    """RUN: a whole GUID, or the start of one (at least 4 hex digits, as a narrow table
    shows them); resolved against the service by :func:`rundctl.runs.resolve_run`."""
    import re

    candidate = text.strip().lower()
    if re.fullmatch(r"[0-9a-f]{4,8}(?:-[0-9a-f-]{0,27})?", candidate) and len(candidate) < 36:
        return candidate
    return guid(text, "RUN")


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


_AGE_PART = r"(\d+(?:\.\d+)?)(w|d|h|m|s)"
_AGE_SECONDS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def age_seconds(text: str) -> float | None:
    """``24h``, ``7d``, ``1w``, ``1d2h``, ``90m``, ``90`` (seconds) -> seconds, else None."""
    import re

    compact = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", compact):
        return float(compact)
    if not compact or not re.fullmatch(f"(?:{_AGE_PART})+", compact):
        return None
    return sum(float(n) * _AGE_SECONDS[u] for n, u in re.findall(_AGE_PART, compact))


def time_flag(deps: Deps, text: str | None, name: str) -> str | None:
    """``--since``/``--until``: an RFC 3339 timestamp, a date (``2026-12-01`` = 00:00Z),
    ``now``, or an age like 24h, 7d, 1w or 1d2h."""
    if text is None:
        return None
    import re
    from datetime import timedelta

    from rundctl import model

    now = deps.clock()
    age = age_seconds(text)
    if age is not None:
        return model.format_utc(now - timedelta(seconds=age))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        text = text.strip() + "T00:00:00Z"
    try:
        return model.parse_timestamp(text, allow_now=True, now=now)
    except ValueError as exc:
        raise UsageError(f"{name}: {exc}", hint="give a timestamp like 2026-11-01T00:00:00Z, "
                         "a date like 2026-11-01 (00:00 UTC), or an age like 24h, 7d or 1d2h"
                         ) from None


def time_range(deps: Deps, since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """``--since`` and ``--until`` checked together: an inverted range is a usage error."""
    from rundctl.model import timestamp_key

    first, last = time_flag(deps, since, "--since"), time_flag(deps, until, "--until")
    if first and last and timestamp_key(first) > timestamp_key(last):
        raise UsageError(f"--since {since} is after --until {until}: no run can match",
                         hint="swap them, or drop one")
    return first, last


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


def remember_ids(flow: str | None, run: object = None, name: object = None) -> None:
    """Keep the IDs for TAB completion (with the run's name, shown by zsh and fish)."""
    from rundctl.recent import remember

    remember("flows", flow)
    remember("runs", run if isinstance(run, str) else None,
             name=name if isinstance(name, str) else None)


def say(deps: Deps, text: str) -> None:
    """One note on stderr, ``rundctl: …``; no line of it can start a CI workflow command."""
    from rundctl.redact import ci_safe_line

    deps.stderr.write(f"rundctl: {ci_safe_line(text, keep_newlines=True)}\n")
    deps.stderr.flush()
