"""The Typer app: one thin function per command (parse -> do -> show).

Shared options are defined once below as ``Annotated`` aliases. Heavy modules (requests,
azure.identity, rich.table, sqlite3) are imported only inside the commands that need them, so
``rundctl --help`` and TAB completion stay fast.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Annotated, Any, NamedTuple, NoReturn, TypeVar

import typer
from typer.core import TyperCommand

from rundctl import __version__
from rundctl.deps import Deps, from_process
from rundctl.errors import EXIT_CODE_TABLE, ExitCode, RundctlError, UsageError
from rundctl.redact import safe_message

HELP = """Create and inspect runs of Microsoft Graph industry-data flows (School Data Sync).

\b
Try it with no account and no network:
  rundctl create --endpoint sandbox --flow 1b4e28ba-2fa1-11d2-883f-0016d3cca427 \\
      --name "Nightly import" --start now --status running --stat people=0
"""

EPILOG = "\b\nExit codes:\n" + "\n".join(
    f"  {code:>3}  {text}" for code, text, _ in EXIT_CODE_TABLE
)

class PanelCommand(TyperCommand):
    """Plain (fast, markup-free) help with options grouped into panels: Input, Output, ..."""

    PANEL_ORDER = ("Options", "Input", "Output", "Wait", "Bulk", "Connection", "Auth")

    def format_options(self, ctx: Any, formatter: Any) -> None:
        groups: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                panel = getattr(param, "rich_help_panel", None) or "Options"
                groups.setdefault(panel, []).append(record)
        order = self.PANEL_ORDER
        for name in sorted(groups, key=lambda n: order.index(n) if n in order else len(order)):
            with formatter.section(name):
                formatter.write_dl(groups[name])


app = typer.Typer(
    name="rundctl",
    help=HELP,
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

CONNECTION = "Connection"
AUTH = "Auth"
OUTPUT = "Output"
INPUT = "Input"
FAULTS = "Faults (like Microsoft Dev Proxy)"
BULK = "Bulk"

# -- TAB completion: local only, never the network --------------------------------------


def _complete_from(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        low = incomplete.lower()
        return [c for c in choices if c.lower().startswith(low)]

    return complete


complete_status = _complete_from(
    ("running", "failed", "completed", "completedWithErrors", "completedWithWarnings"))
complete_output = _complete_from(("table", "json", "ndjson", "tsv", "id", "none"))
complete_cloud = _complete_from(("global", "usgov", "dod", "china", "custom"))
complete_auth = _complete_from(("auto", "token", "none", "environment", "azure-cli",
                                "device-code", "browser", "managed-identity",
                                "workload-identity", "github-oidc"))
complete_fail_on = _complete_from(("errors", "warnings", "never"))


def complete_flow(incomplete: str) -> list[str]:
    from rundctl.recent import recent

    return [i for i in recent("flows") if i.startswith(incomplete.lower())]


def complete_run(incomplete: str) -> list[str]:
    from rundctl.recent import recent

    return [i for i in recent("runs") if i.startswith(incomplete.lower())]


# -- shared options, defined once ------------------------------------------------------

FlowOpt = Annotated[
    str | None,
    typer.Option("--flow", autocompletion=complete_flow, metavar="ID", envvar="RUNDCTL_FLOW",
                 help="Inbound flow ID (a GUID).",
                 show_default=False),
]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint", metavar="URL",
        envvar="RUNDCTL_ENDPOINT",
        help="API base URL, or 'sandbox' for the built-in local sandbox. "
        "[default: the cloud's Graph root + /beta]",
        rich_help_panel=CONNECTION,
        show_default=False,
    ),
]
CloudOpt = Annotated[
    str,
    typer.Option("--cloud", autocompletion=complete_cloud, metavar="CLOUD", envvar="RUNDCTL_CLOUD",
                 help="global, usgov, dod, china, or custom (RUNDCTL_GRAPH_ROOT + "
                 "RUNDCTL_AUTHORITY_HOST).",
                 rich_help_panel=CONNECTION),
]
TimeoutOpt = Annotated[
    str | None,
    typer.Option("--timeout", metavar="DURATION", envvar="RUNDCTL_TIMEOUT",
                 help="Wall-clock limit for the whole command (90, 90s, 2m, 1h). "
                 "[default: 120s; 30m when waiting]", rich_help_panel=CONNECTION,
                 show_default=False),
]
MaxRetryWaitOpt = Annotated[
    str,
    typer.Option("--max-retry-wait", metavar="DURATION", envvar="RUNDCTL_MAX_RETRY_WAIT",
                 help="Longest single wait rundctl will sleep before a retry; a longer "
                 "Retry-After exits 8 with the time to retry.", rich_help_panel=CONNECTION),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", metavar="NAME", envvar="RUNDCTL_PROFILE",
                 help="Settings from [profiles.NAME] in config.toml (flag > env > profile > "
                 "default).", rich_help_panel=CONNECTION, show_default=False),
]
CiAnnotationsOpt = Annotated[
    str,
    typer.Option("--ci-annotations", metavar="auto|off", envvar="RUNDCTL_CI_ANNOTATIONS",
                 autocompletion=lambda incomplete: [v for v in ("auto", "off")
                                                    if v.startswith(incomplete)],
                 help="In GitHub Actions, also report errors and failed waits as ::error:: "
                 "annotations and in the step summary.", rich_help_panel=OUTPUT),
]
DebugOpt = Annotated[
    bool,
    typer.Option("--debug", "-v", help="Log requests to stderr (secrets redacted).",
                 rich_help_panel=CONNECTION),
]
AuthOpt = Annotated[
    str,
    typer.Option("--auth", autocompletion=complete_auth, metavar="MODE", envvar="RUNDCTL_AUTH",
                 help="auto, token, none, environment, azure-cli, device-code, browser, "
                 "managed-identity, workload-identity, github-oidc.",
                 rich_help_panel=AUTH),
]
TokenFileOpt = Annotated[
    str | None,
    typer.Option("--token-file", metavar="PATH", help="Read the bearer token from PATH, or - for stdin "
                 "(else RUNDCTL_TOKEN).", rich_help_panel=AUTH, show_default=False),
]
TenantOpt = Annotated[
    str | None,
    typer.Option("--tenant", metavar="TENANT", help="Entra tenant ID (else AZURE_TENANT_ID).",
                 rich_help_panel=AUTH, show_default=False),
]
ClientIdOpt = Annotated[
    str | None,
    typer.Option("--client-id", metavar="ID", help="Entra app (client) ID (else "
                 "AZURE_CLIENT_ID).", rich_help_panel=AUTH, show_default=False),
]
OutputOpt = Annotated[
    str | None,
    typer.Option("--output", "-o", autocompletion=complete_output, metavar="FORMAT",
                 envvar="RUNDCTL_OUTPUT",
                 help="table, json, ndjson, tsv, id or none. [default: table on a terminal, "
                 "json otherwise]", rich_help_panel=OUTPUT, show_default=False),
]
# Input (create / validate)
FileOpt = Annotated[
    str | None,
    typer.Option("--file", "-f", metavar="PATH", help="Read the run as JSON from PATH, or - for stdin.",
                 rich_help_panel=INPUT, show_default=False),
]
NameOpt = Annotated[
    str | None,
    typer.Option("--name", "-n", metavar="TEXT", help="displayName.", rich_help_panel=INPUT,
                 show_default=False),
]
StartOpt = Annotated[
    str | None,
    typer.Option("--start", metavar="TS", help="startDateTime: RFC 3339 with Z or ±hh:mm, or 'now'.",
                 rich_help_panel=INPUT, show_default=False),
]
EndOpt = Annotated[
    str | None,
    typer.Option("--end", metavar="TS", help="endDateTime: RFC 3339 with Z or ±hh:mm, or 'now'.",
                 rich_help_panel=INPUT, show_default=False),
]
StatusOpt = Annotated[
    str | None,
    typer.Option("--status", autocompletion=complete_status, metavar="STATUS",
                 help="running, failed, completed, completedWithErrors, "
                 "completedWithWarnings (any case).", rich_help_panel=INPUT,
                 show_default=False),
]
StatisticsOpt = Annotated[
    str | None,
    typer.Option("--statistics", metavar="JSON|@FILE", help="statistics object: JSON or @FILE.",
                 rich_help_panel=INPUT, show_default=False),
]
StatOpt = Annotated[
    list[str] | None,
    typer.Option("--stat", metavar="KEY=VALUE",
                 help="Set one statistic (repeatable; VALUE is JSON if it parses, dotted keys nest).",
                 rich_help_panel=INPUT, show_default=False),
]
BlockingErrorOpt = Annotated[
    str | None,
    typer.Option("--blocking-error", metavar="JSON|@FILE", help="blockingError object: JSON or @FILE.",
                 rich_help_panel=INPUT, show_default=False),
]
ErrorCodeOpt = Annotated[
    str | None, typer.Option("--error-code", metavar="TEXT", help="blockingError.code.",
                             rich_help_panel=INPUT, show_default=False)
]
ErrorMessageOpt = Annotated[
    str | None, typer.Option("--error-message", metavar="TEXT", help="blockingError.message.",
                             rich_help_panel=INPUT, show_default=False)
]
ErrorTargetOpt = Annotated[
    str | None, typer.Option("--error-target", metavar="TEXT", help="blockingError.target.",
                             rich_help_panel=INPUT, show_default=False)
]

WAIT = "Wait"
WaitFlag = Annotated[
    bool, typer.Option("--wait", help="Then follow the run until it ends (exit codes as wait).",
                       rich_help_panel=WAIT)
]
IntervalOpt = Annotated[
    str, typer.Option("--interval", metavar="auto|DURATION",
                      help="Poll interval: auto (5s growing to 60s) or e.g. 15s.",
                      rich_help_panel=WAIT)
]
FailOnOpt = Annotated[
    str, typer.Option("--fail-on", autocompletion=complete_fail_on, metavar="errors|warnings|never",
                      help="Which outcomes exit non-zero: errors (completedWithErrors -> 14), "
                      "warnings (also completedWithWarnings -> 15), never (only failed -> 13).",
                      rich_help_panel=WAIT)
]
NotFoundGraceOpt = Annotated[
    str, typer.Option("--not-found-grace", metavar="DURATION",
                      help="Keep polling a run that is not found yet for this long.",
                      rich_help_panel=WAIT)
]

DEFAULT_CLOUD = "global"
DEFAULT_AUTH = "auto"
DEFAULT_TIMEOUT = "120"
DEFAULT_WAIT_TIMEOUT = "30m"
DEFAULT_MAX_RETRY_WAIT = "60s"
DEFAULT_BULK_TIMEOUT = "24h"

# -- error handling: the one place errors become exit codes -----------------------------

F = TypeVar("F", bound=Callable[..., Any])


def current_deps() -> Deps:
    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True)
    if ctx is not None and isinstance(ctx.obj, Deps):
        return ctx.obj
    deps = from_process()
    if ctx is not None:
        ctx.obj = deps
    return deps


def report(deps: Deps, exc: RundctlError) -> None:
    lines = [f"rundctl: error: {safe_message(exc.message)}"]
    lines.extend(safe_message(line) for line in exc.detail_lines())
    if exc.hint:
        lines.append(f"hint: {safe_message(exc.hint)}")
    deps.stderr.write("\n".join(lines) + "\n")
    deps.stderr.flush()
    annotate(deps, safe_message(exc.message), [safe_message(x.strip()) for x in
                                               exc.detail_lines()], exc.hint)


def annotate(deps: Deps, message: str, details: list[str], hint: str | None) -> None:
    """In GitHub Actions: an ``::error::`` annotation and a step-summary entry.

    Written to stderr (GitHub reads workflow commands from both streams), so stdout stays
    data only. ``--ci-annotations off`` or ``RUNDCTL_CI_ANNOTATIONS=off`` turns it off.
    """
    env = deps.env
    mode = deps.ci_annotations or env.get("RUNDCTL_CI_ANNOTATIONS", "auto").lower()
    if env.get("GITHUB_ACTIONS") != "true" or mode == "off":
        return

    def escape(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    body = "\n".join([message, *details] + ([f"hint: {hint}"] if hint else []))
    deps.stderr.write(f"::error title=rundctl::{escape(body)}\n")
    summary = env.get("GITHUB_STEP_SUMMARY")
    if summary:
        from rundctl.redact import safe_message as safe

        md = [f"### :x: rundctl: {safe(message)}", ""]
        md += [f"- `{safe(d)}`" for d in details]
        if hint:
            md.append(f"- hint: {safe(hint)}")
        try:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write("\n".join(md) + "\n\n")
        except OSError:
            pass


def fail(deps: Deps, exc: RundctlError) -> NoReturn:
    report(deps, exc)
    raise typer.Exit(int(exc.exit_code))


def handled(fn: F) -> F:
    """Run a command body; turn rundctl errors, Ctrl-C and a closed pipe into exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        deps = current_deps()
        try:
            apply_profile(deps, kwargs)
            return fn(*args, **kwargs)
        except RundctlError as exc:
            fail(deps, exc)
        except KeyboardInterrupt:
            deps.stderr.write("rundctl: interrupted\n" + _in_flight_note(deps))
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(int(ExitCode.BROKEN_PIPE)) from None
        finally:
            deps.close()

    return wrapper  # type: ignore[return-value]


def apply_profile(deps: Deps, kwargs: dict[str, Any]) -> None:
    """Fill options the user did not give (flag or environment) from the active profile."""
    if "profile" not in kwargs:
        return
    from rundctl import config

    if not config.config_path(deps.env).exists() and not kwargs["profile"]:
        return
    loaded = config.load(deps.env)
    name = loaded.profile_name(kwargs["profile"], deps.env)
    values = loaded.profile(name)
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


def _in_flight_note(deps: Deps) -> str:
    pending = deps.in_flight() if deps.in_flight is not None else None
    if pending is None:
        return "no create was in flight: nothing was half-sent\n"
    import time

    crid, url, sent_at = pending
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sent_at))
    return (
        f"a create was in flight (POST {url}, client-request-id {crid}, sent at {stamp}): "
        "it may have been applied\nhint: list the flow's runs to check before running again\n"
    )


def _silence_stdout() -> None:
    import os
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# -- helpers shared by the commands -----------------------------------------------------


def output_format(deps: Deps, text: str | None) -> str:
    from rundctl.settings import parse_output

    if text:
        return parse_output(text)
    return "table" if deps.stdout_tty else "json"


def renderer(deps: Deps, fmt: str) -> Any:
    from rundctl.render import Renderer

    return Renderer(fmt, deps.stdout, now=deps.clock(), tty=bool(deps.stdout_tty), env=deps.env)


class ConnArgs(NamedTuple):
    """The shared connection flags, as typed (checked by :func:`conn_settings`)."""

    endpoint: str | None
    cloud: str
    auth: str
    token_file: str | None
    tenant: str | None
    client_id: str | None
    timeout: str | None
    max_retry_wait: str
    debug: bool
    ci_annotations: str
    profile: str | None


_CONN_PARAMS = (
    ("endpoint", EndpointOpt, None),
    ("cloud", CloudOpt, DEFAULT_CLOUD),
    ("auth", AuthOpt, DEFAULT_AUTH),
    ("token_file", TokenFileOpt, None),
    ("tenant", TenantOpt, None),
    ("client_id", ClientIdOpt, None),
    ("timeout", TimeoutOpt, None),
    ("max_retry_wait", MaxRetryWaitOpt, DEFAULT_MAX_RETRY_WAIT),
    ("debug", DebugOpt, False),
    ("ci_annotations", CiAnnotationsOpt, "auto"),
    ("profile", ProfileOpt, None),
)


def with_connection(fn: F) -> F:
    """Add the shared connection options to a command, defined once here.

    Typer sees the command's own parameters plus these; the body receives them bundled as
    ``conn_args`` (a :class:`ConnArgs`).
    """
    import inspect

    sig = inspect.signature(fn, eval_str=True)
    own = [p for p in sig.parameters.values() if p.name != "conn_args"]
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                          annotation=annotation)
        for name, annotation, default in _CONN_PARAMS
    ]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name, default) for name, _, default in _CONN_PARAMS}
        mode = str(values["ci_annotations"]).strip().lower()
        if mode not in ("auto", "off"):
            raise UsageError(f"--ci-annotations: '{values['ci_annotations']}' is not auto or off")
        current_deps().ci_annotations = mode
        return fn(*args, conn_args=ConnArgs(**values), **kwargs)

    params = [*own, *extra]
    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper  # type: ignore[return-value]


def conn_settings(args: ConnArgs, *, waiting: bool = False) -> Any:
    from rundctl.settings import (
        ConnSettings,
        parse_auth_mode,
        parse_cloud,
        parse_duration,
        parse_endpoint,
    )

    parsed_cloud = parse_cloud(args.cloud, current_deps().env)
    return ConnSettings(
        endpoint=parse_endpoint(args.endpoint, parsed_cloud),
        cloud=parsed_cloud,
        auth_mode=parse_auth_mode(args.auth),
        token_file=args.token_file,
        timeout=parse_duration(
            args.timeout or (DEFAULT_WAIT_TIMEOUT if waiting else DEFAULT_TIMEOUT)
        ),
        max_retry_wait=parse_duration(args.max_retry_wait, name="--max-retry-wait"),
        debug=args.debug,
        tenant=args.tenant,
        client_id=args.client_id,
    )


def need_flow(flow: str | None) -> str:
    from rundctl.settings import parse_guid

    if not flow:
        raise UsageError("--flow is required", hint="pass --flow ID or set RUNDCTL_FLOW")
    return parse_guid(flow, name="--flow")


SMALL_INPUT = 1024 * 1024


def read_file_input(deps: Deps, file: str, token_file: str | None) -> tuple[Any, str]:
    """What -f names: ``(record, source)`` for one JSON object, ``(Path, source)`` for bulk
    input (NDJSON or an array; stdin is then spooled to a temporary file)."""
    from pathlib import Path

    from rundctl import bulk, jsonio
    from rundctl.errors import InvalidInput, Problem

    if file != "-":
        if not os.path.isfile(file):
            raise InvalidInput([Problem("", f"cannot read '{file}': no such file")],
                               hint="-f takes a path, or - for stdin")
        if bulk.is_bulk(file):
            return Path(file), file
        with open(file, "rb") as handle:
            return jsonio.read_document(handle, source=file), file
    if token_file == "-":  # noqa: S105 - "-" means stdin
        raise UsageError("-f - and --token-file - cannot both read stdin")
    if deps.stdin_tty:
        raise UsageError(
            "-f -: stdin is a terminal, not a pipe",
            hint="pipe the JSON in (… | rundctl create -f -) or give -f PATH",
        )
    head = deps.stdin.read(SMALL_INPUT + 1)
    if len(head) <= SMALL_INPUT and not bulk.is_bulk(head):
        import io

        return jsonio.read_document(io.BytesIO(head), source="stdin"), "stdin"
    spooled = bulk.spool_stdin(deps.stdin, head)
    deps.cleanups.append(lambda: os.unlink(spooled))
    return Path(spooled), "stdin"


def build_overrides(
    name: str | None, start: str | None, end: str | None, status: str | None,
    statistics: str | None, stat: list[str] | None, blocking_error: str | None,
    error_code: str | None, error_message: str | None, error_target: str | None,
) -> Any:
    from rundctl import jsonio, model

    return model.Overrides(
        display_name=name,
        start=start,
        end=end,
        status=status,
        statistics=jsonio.parse_json_arg(statistics, name="--statistics")
        if statistics is not None else None,
        stats=list(stat or []),
        blocking_error=jsonio.parse_json_arg(blocking_error, name="--blocking-error")
        if blocking_error is not None else None,
        error_code=error_code,
        error_message=error_message,
        error_target=error_target,
    )


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


def parse_duration_flag(text: str, name: str = "--timeout") -> float:
    from rundctl.settings import parse_duration

    return parse_duration(text, name=name)


def run_bulk(deps: Deps, conn: Any, plan: Any, flow_id: str, parent_id: str | None,
             parallel: int, journal_path: str | None, output: str | None,
             dry_run: bool) -> None:
    """Send a validated bulk input and report each record; exit 0 or 12."""
    from rundctl import bulk, routes
    from rundctl.settings import parse_output

    fmt = parse_output(output) if output else "ndjson"
    if dry_run:
        path = (routes.path("process_runs", flow=flow_id, run=parent_id) if parent_id
                else routes.path("flow_runs", flow=flow_id))
        deps.stderr.write(f"rundctl: valid: {plan.total} records; would POST each to "
                          f"{conn.endpoint.url or 'the sandbox'}{path}\n")
        return
    from rundctl.client import Gate
    from rundctl.connect import open_client
    from rundctl.progress import BulkProgress

    journal = bulk.Journal(journal_path, plan, flow_id, parent_id) if journal_path else None
    progress = BulkProgress(deps, fmt, plan.total)
    try:
        with open_client(deps, conn, pool=parallel) as client:
            client.gate = Gate(deps.monotonic, deps.sleep)
            summary = bulk.send_all(client, plan, flow=flow_id, parent=parent_id,
                                    parallel=parallel, journal=journal, emit=progress.emit)
    finally:
        progress.close()
        if journal is not None:
            journal.close()
    progress.summary(summary)
    code = summary.exit_code()
    if code:
        raise typer.Exit(int(code))


def show_fetched(conn_args: ConnArgs, output: str | None, fetch: Callable[[Any], Any],
                 kind: str = "run", *, many: bool = False) -> Any:
    """The common read command: connect, fetch one object (or a collection), show it."""
    deps = current_deps()
    conn = conn_settings(conn_args)
    fmt = output_format(deps, output)
    from rundctl.connect import open_client

    with open_client(deps, conn) as client:
        if many:
            renderer(deps, fmt).many(fetch(client), kind=kind)
            return None
        found = fetch(client)
    renderer(deps, fmt).one(found, kind=kind)
    return found


FLAGS_HINT = ("a run needs --name, --start (a timestamp or now), --status and statistics "
              "(--statistics '{}' or --stat KEY=VALUE); or -f FILE / -f -")


def build_payload(deps: Deps, record: object | None, overrides: Any) -> dict[str, Any]:
    """The request body of one create, with a hint on the flags when they were the input."""
    from rundctl import model
    from rundctl.errors import InvalidInput

    try:
        return model.build_create_payload(record, overrides, now=deps.clock())
    except InvalidInput as exc:
        if exc.hint is None and record is None:
            exc.hint = FLAGS_HINT
        raise


def remember_ids(flow: str | None, run: object = None) -> None:
    from rundctl.recent import remember

    remember("flows", flow)
    remember("runs", run if isinstance(run, str) else None)


def wait_options(timeout: float, interval: str, fail_on: str, grace: str) -> Any:
    from rundctl.settings import parse_duration
    from rundctl.wait import FAIL_ON, WaitOptions

    if fail_on.strip().lower() not in FAIL_ON:
        raise UsageError(f"--fail-on: '{fail_on}' is not one of {', '.join(FAIL_ON)}")
    every = None if interval.strip().lower() == "auto" else parse_duration(interval,
                                                                            name="--interval")
    return WaitOptions(timeout=timeout, interval=every, fail_on=fail_on.strip().lower(),
                       not_found_grace=parse_duration(grace, name="--not-found-grace"))


def follow(deps: Deps, client: Any, run_id: str, flow_id: str | None, options: Any,
           fmt: str) -> None:
    """Wait for a run to end, print it, and exit with the outcome's code."""
    from rundctl import runs
    from rundctl.progress import WaitProgress
    from rundctl.wait import wait_for

    progress = WaitProgress(deps, run_id)
    try:
        result = wait_for(
            lambda: runs.get_run(client, run_id, flow_id),
            options,
            monotonic=deps.monotonic,
            sleep=deps.sleep,
            on_poll=progress.update,
        )
    finally:
        progress.close()
    if result.run is not None:
        renderer(deps, fmt).one(result.run)
    progress.report(result)
    if result.exit_code:
        status = (result.run or {}).get("status", "still running")
        annotate(deps, f"run {run_id} ended {safe_message(str(status))} "
                 f"(exit {int(result.exit_code)})", [], None)
        raise typer.Exit(int(result.exit_code))


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"rundctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True,
                     help="Show the version and exit."),
    ] = False,
) -> None:
    """Create and inspect runs of Microsoft Graph industry-data flows (School Data Sync)."""


# -- commands ---------------------------------------------------------------------------


@app.command(cls=PanelCommand)
@handled
@with_connection
def create(
    flow: FlowOpt = None,
    parent: Annotated[
        str | None,
        typer.Option("--parent", metavar="RUN", help="Create a process run under this run ID.",
                     show_default=False),
    ] = None,
    file: FileOpt = None,
    name: NameOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    status: StatusOpt = None,
    statistics: StatisticsOpt = None,
    stat: StatOpt = None,
    blocking_error: BlockingErrorOpt = None,
    error_code: ErrorCodeOpt = None,
    error_message: ErrorMessageOpt = None,
    error_target: ErrorTargetOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the exact request; send nothing.",
                           rich_help_panel=OUTPUT)
    ] = False,
    wait: WaitFlag = False,
    interval: IntervalOpt = "auto",
    fail_on: FailOnOpt = "errors",
    not_found_grace: NotFoundGraceOpt = "60s",
    parallel: Annotated[int, typer.Option(
        "--parallel", metavar="N", min=1, max=64, help="Bulk: requests in flight at once.",
        rich_help_panel=BULK)] = 4,
    journal: Annotated[str | None, typer.Option(
        "--journal", metavar="PATH", help="Bulk: record each outcome here; re-run with the "
        "same journal to finish exactly once.", rich_help_panel=BULK, show_default=False)]
    = None,
    output: OutputOpt = None,
    conn_args: Any = None,
) -> None:
    """Create a run of an inbound flow, or many (bulk) from NDJSON or a JSON array.

    The run comes from flags, from a JSON file (-f PATH) or from stdin (-f -); flags
    override the same fields of the file. Everything is validated before anything is sent.
    With NDJSON (one run per line) or a JSON array, every record is created (bulk): results
    as NDJSON on stdout, exit 0 all created, 12 some not; --journal makes re-runs resume.

    \b
    Examples:
      rundctl create --flow $FLOW -n "Nightly import" --start now --status running --stat people=0
      echo '{"displayName":"x","startDateTime":"2026-11-01T10:00:00Z","status":"completed",
        "statistics":{}}' | rundctl create --flow $FLOW -f -
      rundctl create --flow $FLOW -f run.json --status failed --error-code E42 --dry-run
      rundctl create --flow $FLOW -f term.ndjson --parallel 8 --journal term.journal
    """
    deps = current_deps()
    from rundctl.settings import parse_guid

    flow_id = need_flow(flow)
    parent_id = parse_guid(parent, name="--parent") if parent else None
    conn = conn_settings(conn_args, waiting=wait)
    fmt = output_format(deps, output)
    waiting = wait_options(conn.timeout, interval, fail_on, not_found_grace) if wait else None
    overrides = build_overrides(name, start, end, status, statistics, stat, blocking_error,
                                error_code, error_message, error_target)
    record = None
    if file is not None:
        from pathlib import Path

        record, source = read_file_input(deps, file, conn.token_file)
        if isinstance(record, Path):
            from rundctl import bulk

            if wait:
                raise UsageError("--wait follows one run; it does not go with bulk input")
            plan = bulk.validate(str(record), overrides, now=deps.clock(), source=source)
            deps.cleanups.append(lambda: os.unlink(plan.spool))
            if conn_args.timeout is None:
                conn = conn._replace(timeout=parse_duration_flag(DEFAULT_BULK_TIMEOUT))
            run_bulk(deps, conn, plan, flow_id, parent_id, parallel, journal, output, dry_run)
            return


    payload = build_payload(deps, record, overrides)
    if dry_run:
        from rundctl import dryrun

        dryrun.show(deps, fmt, conn, flow_id, parent_id, payload)
        return

    from rundctl import runs
    from rundctl.connect import open_client

    with open_client(deps, conn) as client:
        created = runs.create_run(
            client, flow_id, payload, parent_id,
            on_recovered=lambda run: deps.stderr.write(
                f"rundctl: recovered: created {run.get('id')} (the service's answer was lost; "
                "the run was found by name and start time)\n"),
        )
        remember_ids(flow_id, created.get("id"))
        if waiting is None:
            renderer(deps, fmt).one(created)
            return
        deps.stderr.write(f"rundctl: created {created['id']}\n")
        follow(deps, client, str(created["id"]), flow_id, waiting, fmt)


@app.command(cls=PanelCommand)
@handled
def validate(
    file: FileOpt = None,
    name: NameOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    status: StatusOpt = None,
    statistics: StatisticsOpt = None,
    stat: StatOpt = None,
    blocking_error: BlockingErrorOpt = None,
    error_code: ErrorCodeOpt = None,
    error_message: ErrorMessageOpt = None,
    error_target: ErrorTargetOpt = None,
    output: OutputOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Check a run without sending it (no credential, no network).

    Takes the same inputs as create and prints the request body that create would send
    (timestamps in UTC, status in canonical case). Exit 0 when valid, 3 when not, with
    every problem listed.

    \b
    Examples:
      rundctl validate -f run.json
      jq -c '.run' build.json | rundctl validate -f - -o none && echo ok
    """
    deps = current_deps()
    fmt = output_format(deps, output)
    overrides = build_overrides(name, start, end, status, statistics, stat, blocking_error,
                                error_code, error_message, error_target)
    record = None
    if file is not None:
        from pathlib import Path

        record, source = read_file_input(deps, file, None)
        if isinstance(record, Path):
            from rundctl import bulk

            plan = bulk.validate(str(record), overrides, now=deps.clock(), source=source)
            deps.cleanups.append(lambda: os.unlink(plan.spool))
            deps.stderr.write(f"rundctl: valid: {plan.total} records\n")
            if fmt == "ndjson":
                for _, _, body in bulk.iter_spool(plan):
                    deps.stdout.write(body.decode("utf-8") + "\n")
            elif fmt == "json":
                deps.stdout.write(f'{{"valid": true, "records": {plan.total}}}\n')
            return

    payload = build_payload(deps, record, overrides)
    if fmt == "table":
        deps.stderr.write("valid: the run below would be sent\n")
    renderer(deps, fmt).one(payload)


@app.command("list", cls=PanelCommand)
@handled
@with_connection
def list_(
    flow: FlowOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", min=1, help="Show at most N runs.", rich_help_panel=OUTPUT)
    ] = 30,
    all_: Annotated[
        bool, typer.Option("--all", help="Fetch every page.", rich_help_panel=OUTPUT)
    ] = False,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", autocompletion=complete_status, metavar="STATUS",
                     help="Only runs in this status (repeatable).",
                     show_default=False),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="TS|AGE", help="Only runs started at or after TS "
                     "(RFC 3339) or this long ago (24h, 7d).", show_default=False),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="TS|AGE", help="Only runs started at or before TS "
                     "(RFC 3339) or this long ago.", show_default=False),
    ] = None,
    output: OutputOpt = None,
    conn_args: Any = None,
) -> None:
    """List runs, newest first.

    With --flow, the runs of that flow; without, every run (the published
    /external/industryData/runs API). JSON output is one array of all pages fetched.

    \b
    Examples:
      rundctl list --flow $FLOW
      rundctl list --flow $FLOW --all -o tsv | cut -f1,3
    """
    deps = current_deps()
    from rundctl.settings import parse_guid

    flow_id = parse_guid(flow, name="--flow") if flow else None
    conn = conn_settings(conn_args)
    fmt = output_format(deps, output)
    from rundctl import runs

    where = runs.RunFilter(
        statuses=tuple(dict.fromkeys(status_flag(s) for s in status or [])),
        since=time_flag(deps, since, "--since"),
        until=time_flag(deps, until, "--until"),
    )
    from rundctl.connect import open_client

    cut: list[bool] = []
    with open_client(deps, conn) as client:
        renderer(deps, fmt).many(
            runs.list_runs(client, flow_id, limit=None if all_ else limit, where=where,
                           on_more=lambda: cut.append(True))
        )
    if cut:
        deps.stderr.write(f"rundctl: showing {limit}; more available: --all or --limit N\n")


@app.command(cls=PanelCommand)
@handled
@with_connection
def get(
    run: Annotated[str, typer.Argument(metavar="RUN", help="Run ID (a GUID).", show_default=False,
                                    autocompletion=complete_run)],
    flow: FlowOpt = None,
    output: OutputOpt = None,
    conn_args: Any = None,
) -> None:
    """Show one run.

    With --flow the run is read under that flow; without, through the published API.

    \b
    Examples:
      rundctl get $RUN --flow $FLOW
      rundctl get $RUN --flow $FLOW -o json | jq .status
    """
    from rundctl import runs
    from rundctl.settings import parse_guid

    run_id = parse_guid(run, name="RUN")
    flow_id = parse_guid(flow, name="--flow") if flow else None
    show_fetched(conn_args, output, lambda c: runs.get_run(c, run_id, flow_id))
    remember_ids(flow_id, run_id)


@app.command(cls=PanelCommand)
@handled
@with_connection
def update(
    run: Annotated[str, typer.Argument(metavar="RUN", help="Run ID (a GUID).", show_default=False,
                                    autocompletion=complete_run)],
    flow: FlowOpt = None,
    status: StatusOpt = None,
    end: EndOpt = None,
    start: StartOpt = None,
    name: NameOpt = None,
    statistics: StatisticsOpt = None,
    stat: StatOpt = None,
    blocking_error: BlockingErrorOpt = None,
    error_code: ErrorCodeOpt = None,
    error_message: ErrorMessageOpt = None,
    error_target: ErrorTargetOpt = None,
    output: OutputOpt = None,
    conn_args: Any = None,
) -> None:
    """Finish or amend a run (PATCH): send only the fields given.

    The change is checked against the stored run before anything is sent: the end must not
    be before the start, and a running run has no end. --stat adds to the stored statistics.

    \b
    Examples:
      rundctl update $RUN --flow $FLOW --status completed --end now --stat people=1200
      rundctl update $RUN --flow $FLOW --status failed --end now --error-code E42 \\
          --error-message "source file missing"
    """
    deps = current_deps()
    from rundctl.settings import parse_guid

    run_id = parse_guid(run, name="RUN")
    flow_id = need_flow(flow)
    conn = conn_settings(conn_args)
    fmt = output_format(deps, output)
    overrides = build_overrides(name, start, end, status, statistics, stat, blocking_error,
                                error_code, error_message, error_target)
    from rundctl import model, runs

    if overrides.is_empty():
        model.build_patch_payload(overrides, None, now=deps.clock())  # raises "nothing to update"
    from rundctl.connect import open_client

    with open_client(deps, conn) as client:
        stored = runs.get_run(client, run_id, flow_id)
        patch = model.build_patch_payload(overrides, stored, now=deps.clock())
        updated = runs.update_run(client, flow_id, run_id, patch)
    remember_ids(flow_id, run_id)
    renderer(deps, fmt).one(updated)


@app.command(cls=PanelCommand)
@handled
@with_connection
def wait(
    run: Annotated[str, typer.Argument(metavar="RUN", help="Run ID (a GUID).", show_default=False,
                                    autocompletion=complete_run)],
    flow: FlowOpt = None,
    interval: IntervalOpt = "auto",
    fail_on: FailOnOpt = "errors",
    not_found_grace: NotFoundGraceOpt = "60s",
    output: OutputOpt = None,
    conn_args: Any = None,
) -> None:
    """Wait until a run ends; the exit code tells how it ended.

    Stops on any final status and prints the run. Exit 0 completed (or a tolerated
    outcome), 13 failed, 14 completedWithErrors, 15 completedWithWarnings with
    --fail-on warnings, 16 a status rundctl does not know, 17 still running at --timeout
    (default 30m, the whole wait).

    \b
    Examples:
      rundctl wait $RUN --flow $FLOW --timeout 1h
      rundctl wait $RUN --fail-on warnings --interval 15s -o none || echo "run did not succeed"
    """
    deps = current_deps()
    from rundctl.settings import parse_guid

    run_id = parse_guid(run, name="RUN")
    flow_id = parse_guid(flow, name="--flow") if flow else None
    conn = conn_settings(conn_args, waiting=True)
    fmt = output_format(deps, output)
    options = wait_options(conn.timeout, interval, fail_on, not_found_grace)
    from rundctl.connect import open_client

    with open_client(deps, conn) as client:
        follow(deps, client, run_id, flow_id, options, fmt)


@app.command(cls=PanelCommand)
@handled
@with_connection
def stats(
    run: Annotated[str, typer.Argument(metavar="RUN", help="Run ID (a GUID).", show_default=False,
                                    autocompletion=complete_run)],
    output: OutputOpt = None,
    conn_args: Any = None,
) -> None:
    """Show a run's statistics (published getStatistics function).

    Totals across inbound flows (people, groups, memberships, organizations, errors,
    warnings) and one line per activity.

    \b
    Examples:
      rundctl stats $RUN
      rundctl stats $RUN -o json | jq .inboundTotals.errors
    """
    from rundctl import runs
    from rundctl.settings import parse_guid

    run_id = parse_guid(run, name="RUN")
    show_fetched(conn_args, output, lambda c: runs.get_statistics(c, run_id), "stats")


@app.command(cls=PanelCommand)
@handled
@with_connection
def activities(
    run: Annotated[str, typer.Argument(metavar="RUN", help="Run ID (a GUID).", show_default=False,
                                    autocompletion=complete_run)],
    output: OutputOpt = None,
    conn_args: Any = None,
) -> None:
    """List the activities (flows) a run performed.

    Each activity is one inbound flow the run executed, with its status (inProgress,
    skipped, failed, completed, completedWithErrors, completedWithWarnings).

    \b
    Examples:
      rundctl activities $RUN
      rundctl activities $RUN -o ndjson | jq -r 'select(.status != "completed") | .displayName'
    """
    from rundctl import runs
    from rundctl.settings import parse_guid

    run_id = parse_guid(run, name="RUN")
    show_fetched(conn_args, output, lambda c: runs.list_activities(c, run_id), "activity",
                 many=True)


@app.command("start", cls=PanelCommand)
@handled
@with_connection
def start_(
    wait: WaitFlag = False,
    interval: IntervalOpt = "auto",
    fail_on: FailOnOpt = "errors",
    not_found_grace: NotFoundGraceOpt = "60s",
    output: OutputOpt = None,
    conn_args: Any = None,
) -> None:
    """Start an on-demand run (published API; at most 5 successful runs per 12 hours).

    The service answers 202 with no body and no run ID; with --wait rundctl finds the new
    run (the newest one that was not there before) and follows it like wait.

    \b
    Examples:
      rundctl start --wait --timeout 2h
      rundctl start && rundctl list --limit 1
    """
    deps = current_deps()
    conn = conn_settings(conn_args, waiting=wait)
    fmt = output_format(deps, output)
    options = wait_options(conn.timeout, interval, fail_on, not_found_grace) if wait else None
    from rundctl import runs
    from rundctl.connect import open_client

    with open_client(deps, conn) as client:
        before = runs.recent_run_ids(client) if options is not None else set()
        resp = runs.start_run(client)
        if options is None:
            deps.stderr.write(
                f"rundctl: started an on-demand run (HTTP {resp.status}, client-request-id "
                f"{resp.client_request_id}); the service does not return its ID\n"
                "hint: find it with 'rundctl list --limit 1', or use 'rundctl start --wait'\n"
            )
            return

        located = runs.locate_started_run(client, before, grace=options.not_found_grace,
                                          monotonic=deps.monotonic, sleep=deps.sleep)
        run_id = str(located["id"])
        deps.stderr.write(f"rundctl: started run {run_id}\n")
        follow(deps, client, run_id, None, options, fmt)


flows_app = typer.Typer(help="Inbound flows (published API).", no_args_is_help=True)
app.add_typer(flows_app, name="flows")


@flows_app.command("list", cls=PanelCommand)
@handled
@with_connection
def flows_list(
    output: OutputOpt = None,
    conn_args: Any = None,
) -> None:
    """List inbound flows.

    The flows of the published industryData API, with their readiness and data domain.

    \b
    Examples:
      rundctl flows list
      rundctl flows list -o id | head -1
    """
    from rundctl import runs

    show_fetched(conn_args, output, runs.list_flows, "flow", many=True)


@flows_app.command("get", cls=PanelCommand)
@handled
@with_connection
def flows_get(
    flow: Annotated[str, typer.Argument(metavar="ID", help="Flow ID (a GUID).", show_default=False)],
    output: OutputOpt = None,
    conn_args: Any = None,
) -> None:
    """Show one inbound flow.

    Its display name, readiness, data domain, type and validity window.

    \b
    Examples:
      rundctl flows get $FLOW
    """
    from rundctl import runs
    from rundctl.settings import parse_guid

    flow_id = parse_guid(flow, name="ID")
    show_fetched(conn_args, output, lambda c: runs.get_flow(c, flow_id), "flow")


auth_app = typer.Typer(help="Sign in, see which credential wins, sign out.",
                       no_args_is_help=True)
app.add_typer(auth_app, name="auth")


@auth_app.command("status", cls=PanelCommand)
@handled
@with_connection
def auth_status(
    output: OutputOpt = None,
    conn_args: Any = None,
) -> None:
    """Show which credential is used and what its token says (never the token).

    Mode, source, tenant, identity, expiry, and the roles or scopes in the token's claims.
    Exit 4 when no credential works, naming what would fix it.

    \b
    Examples:
      rundctl auth status
      rundctl auth status -o json | jq .roles
    """
    deps = current_deps()
    conn = conn_settings(conn_args)
    fmt = output_format(deps, output)
    from rundctl import auth

    credential = auth.resolve(
        auth.AuthOptions(conn.auth_mode, conn.token_file, conn.tenant, conn.client_id),
        conn.endpoint, conn.cloud, deps.env, stdin=deps.stdin,
        can_prompt=auth.interactive(deps.env, bool(deps.stdin_tty), bool(deps.stderr_tty)),
    )
    token = credential.get_token() if credential.get_token else None
    info = auth.describe(credential, token)
    info["endpoint"] = conn.endpoint.url or "sandbox"
    if fmt == "table":
        width = max(len(k) for k in info)
        from rundctl.redact import neutralise

        for key, value in info.items():
            shown = ", ".join(value) if isinstance(value, list) else ("" if value is None
                                                                      else str(value))
            deps.stdout.write(f"{key:<{width}}  {neutralise(shown) or '-'}\n")
    else:
        renderer(deps, fmt).one(info, kind="auth")


@auth_app.command("login", cls=PanelCommand)
@handled
def auth_login(
    device_code: Annotated[bool, typer.Option("--device-code", help="Sign in with a code "
                                              "on another device (the default).")] = False,
    browser: Annotated[bool, typer.Option("--browser", help="Sign in with a local "
                                          "browser.")] = False,
    tenant: TenantOpt = None,
    client_id: ClientIdOpt = None,
    cloud: CloudOpt = DEFAULT_CLOUD,
    allow_unencrypted_cache: Annotated[bool, typer.Option(
        "--allow-unencrypted-cache",
        help="Without an OS keyring (headless Linux), keep the token cache in a 0600 file.")]
    = False,
) -> None:
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
    deps = current_deps()
    if device_code and browser:
        raise UsageError("give --device-code or --browser, not both")
    from rundctl import auth
    from rundctl.settings import parse_cloud

    parsed = parse_cloud(cloud, deps.env)
    can_prompt = auth.interactive(deps.env, bool(deps.stdin_tty), bool(deps.stderr_tty))
    if allow_unencrypted_cache and can_prompt:
        deps.stderr.write("rundctl: warning: the token cache will be an unencrypted file "
                          "(mode 0600) under ~/.IdentityService\n")
    who = auth.login(
        deps.env, parsed, browser=browser, tenant=tenant, client_id=client_id,
        allow_unencrypted_cache=allow_unencrypted_cache, can_prompt=can_prompt,
        say=lambda text: deps.stderr.write(text + "\n"),
    )
    deps.stderr.write(f"rundctl: signed in as {who['username']} (tenant {who['tenant']})\n")


@auth_app.command("logout", cls=PanelCommand)
@handled
def auth_logout() -> None:
    """Forget the cached login (the record; the keyring entry expires on its own).

    Later commands no longer pick the cached login in --auth auto.

    \b
    Examples:
      rundctl auth logout
    """
    deps = current_deps()
    from rundctl import auth

    if auth.logout(deps.env):
        deps.stderr.write("rundctl: signed out\n")
    else:
        deps.stderr.write("rundctl: no cached login\n")


@app.command(cls=PanelCommand)
@handled
def sandbox(
    host: Annotated[str, typer.Option("--host", metavar="HOST", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="PORT", min=0, max=65535,
                                      help="Port; 0 picks a free one.")] = 8765,
    db: Annotated[str, typer.Option("--db", metavar="PATH", help="SQLite file, or :memory:.")] = ":memory:",
    require_token: Annotated[
        str | None,
        typer.Option("--require-token", metavar="TOKEN", envvar="RUNDCTL_SANDBOX_REQUIRE_TOKEN",
                     help="Answer 401 unless this bearer token is sent.", show_default=False),
    ] = None,
    run_seconds: Annotated[float, typer.Option(
        "--run-seconds", metavar="SECONDS", min=0, help="How long runs made by 'start' stay running.")] = 5.0,
    start_outcome: Annotated[str, typer.Option(
        "--start-outcome", metavar="STATUS", help="Final status of runs made by 'start'.")] = "completed",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not log requests.")] = False,
    seed: Annotated[int | None, typer.Option(
        "--seed", metavar="N", help="Make the faults below repeatable.", rich_help_panel=FAULTS,
        show_default=False)] = None,
    fail_rate: Annotated[float, typer.Option(
        "--fail-rate", metavar="R", min=0.0, max=1.0,
        help="Answer this share of requests (0-1) with one of --fail-codes.",
        rich_help_panel=FAULTS)] = 0.0,
    fail_codes: Annotated[str, typer.Option(
        "--fail-codes", metavar="CODES", help="Status codes for --fail-rate.",
        rich_help_panel=FAULTS)] = "429,500,503",
    retry_after: Annotated[float | None, typer.Option(
        "--retry-after", metavar="S", min=0.0, help="Retry-After on injected 429/503.",
        rich_help_panel=FAULTS, show_default=False)] = None,
    latency: Annotated[str | None, typer.Option(
        "--latency", metavar="MS[-MS]", help="Delay every answer.", rich_help_panel=FAULTS,
        show_default=False)] = None,
    rate_limit: Annotated[str | None, typer.Option(
        "--rate-limit", metavar="N/WINDOW", help="e.g. 10/1s: RateLimit-* headers, then 429.",
        rich_help_panel=FAULTS, show_default=False)] = None,
    retry_after_strict: Annotated[bool, typer.Option(
        "--retry-after-strict", help="429 again when a client comes back before Retry-After.",
        rich_help_panel=FAULTS)] = False,
    fault_after_commit: Annotated[bool, typer.Option(
        "--fault-after-commit", help="Injected failures on POST/PATCH happen after the "
        "change is stored (500 or a dropped connection).", rich_help_panel=FAULTS)] = False,
) -> None:
    """Serve the local Graph stand-in (no account, no network).

    Prints its base URL as the first line of stdout, then logs one line per request on
    stderr. Use the URL as --endpoint. Stop it with Ctrl-C.

    \b
    Examples:
      rundctl sandbox --port 0 --db runs.db
      URL=$(rundctl sandbox --port 0 & ...)   # read the first line
    """
    deps = current_deps()
    from rundctl import model
    from rundctl.sandbox.server import Sandbox, SandboxOptions
    from rundctl.settings import is_loopback_host

    outcome = model.normalize_status(start_outcome)
    if outcome is None or outcome == "running":
        raise UsageError(f"--start-outcome: '{start_outcome}' is not a final run status")
    if not is_loopback_host(host):
        deps.stderr.write(f"rundctl: warning: the sandbox listens on {host}, beyond loopback\n")
    from rundctl.sandbox import faults

    try:
        server = Sandbox(SandboxOptions(
            host=host, port=port, db=db, require_token=require_token, run_seconds=run_seconds,
            start_outcome=outcome, log=None if quiet else deps.stderr, seed=seed,
            fail_rate=fail_rate, fail_codes=faults.parse_codes(fail_codes),
            retry_after=retry_after,
            latency_ms=faults.parse_latency(latency) if latency else None,
            rate_limit=faults.parse_rate_limit(rate_limit) if rate_limit else None,
            retry_after_strict=retry_after_strict, fault_after_commit=fault_after_commit,
        ))
    except ValueError as exc:
        raise UsageError(f"sandbox: {exc}") from None
    try:
        url = server.start()
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    deps.stdout.write(url + "\n")
    deps.stdout.flush()
    import threading

    try:
        threading.Event().wait()
    finally:
        server.stop()


config_app = typer.Typer(help="Settings profiles in config.toml.", no_args_is_help=True)
app.add_typer(config_app, name="config")

KeyArg = Annotated[str, typer.Argument(
    metavar="KEY", help="endpoint, cloud, flow, auth, tenant, client_id, output or timeout.",
    autocompletion=_complete_from(("endpoint", "cloud", "flow", "auth", "tenant", "client_id",
                                   "output", "timeout")))]
WriteProfileOpt = Annotated[str | None, typer.Option(
    "--profile", metavar="NAME", envvar="RUNDCTL_PROFILE",
    help="The profile to change. [default: default]", show_default=False)]


@config_app.command("list", cls=PanelCommand)
@handled
def config_list(
    show_origin: Annotated[bool, typer.Option("--show-origin",
                                              help="Say where each value comes from.")] = False,
    profile: ProfileOpt = None,
    output: OutputOpt = None,
) -> None:
    """Show each effective setting (flag > environment > profile > default).

    The profile is --profile, else RUNDCTL_PROFILE, else a profile named "default" when
    config.toml has one. --show-origin says which of them each value came from.

    \b
    Examples:
      rundctl config list --show-origin
      rundctl config list --profile lab -o json
    """
    deps = current_deps()
    from rundctl import config

    loaded = config.load(deps.env)
    name = loaded.profile_name(profile, deps.env)
    settings = config.effective({}, deps.env, loaded, name)
    fmt = output_format(deps, output)
    if fmt in ("json", "ndjson"):
        data = {k: ({"value": v.value, "origin": v.origin} if show_origin else v.value)
                for k, v in settings.items()}
        renderer(deps, fmt).one(data, kind="auth")
        return
    from rundctl.redact import neutralise

    for key, item in settings.items():
        shown = neutralise(item.value) if item.value is not None else "(unset)"
        origin = f"\t# {item.origin}" if show_origin else ""
        deps.stdout.write(f"{key}={shown}{origin}\n")


@config_app.command("get", cls=PanelCommand)
@handled
def config_get(key: KeyArg, target: WriteProfileOpt = None) -> None:
    """Print one value of a profile (nothing when it is not set).

    Reads config.toml only: no flag or environment variable is taken into account.

    \b
    Examples:
      rundctl config get endpoint --profile lab
    """
    deps = current_deps()
    from rundctl import config

    value = config.get_value(deps.env, target or config.DEFAULT_PROFILE, key)
    if value is not None:
        deps.stdout.write(value + "\n")


@config_app.command("set", cls=PanelCommand)
@handled
def config_set(
    key: KeyArg,
    value: Annotated[str, typer.Argument(metavar="VALUE", help="The value.")],
    target: WriteProfileOpt = None,
) -> None:
    """Set a value in a profile (created if new); secrets are refused.

    Keys: endpoint, cloud, flow, auth, tenant, client_id, output, timeout. Values are
    checked as the matching flags are. The file is rewritten with mode 0600.

    \b
    Examples:
      rundctl config set endpoint sandbox --profile lab
      rundctl config set flow 1b4e28ba-2fa1-11d2-883f-0016d3cca427
    """
    deps = current_deps()
    from rundctl import config

    name = target or config.DEFAULT_PROFILE
    path = config.set_value(deps.env, name, key, value)
    deps.stderr.write(f"rundctl: set {key} in profile {name} ({path})\n")


@config_app.command("unset", cls=PanelCommand)
@handled
def config_unset(key: KeyArg, target: WriteProfileOpt = None) -> None:
    """Remove a value from a profile.

    A profile left empty is removed from config.toml.

    \b
    Examples:
      rundctl config unset timeout --profile lab
    """
    deps = current_deps()
    from rundctl import config

    name = target or config.DEFAULT_PROFILE
    removed = config.unset_value(deps.env, name, key)
    deps.stderr.write(f"rundctl: {'removed' if removed else 'no'} {key} in profile {name}\n")


@config_app.command("path", cls=PanelCommand)
@handled
def config_path() -> None:
    """Print the path of config.toml (it may not exist yet).

    $XDG_CONFIG_HOME/rundctl/config.toml, or the folder named by RUNDCTL_CONFIG_DIR.

    \b
    Examples:
      ${EDITOR:-vi} "$(rundctl config path)"
    """
    deps = current_deps()
    from rundctl import config

    deps.stdout.write(str(config.config_path(deps.env)) + "\n")


SHELLS = ("bash", "zsh", "fish", "powershell")
COMPLETION_FILES = {"bash": "rundctl.bash", "zsh": "_rundctl", "fish": "rundctl.fish",
                    "powershell": "rundctl.ps1"}


def completion_script(shell: str) -> str:
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name="rundctl", complete_var="_RUNDCTL_COMPLETE",
                                 shell=shell) + "\n"


@app.command(cls=PanelCommand)
@handled
def completion(
    shell: Annotated[str, typer.Argument(metavar="SHELL", help="bash, zsh, fish or powershell.",
                                         autocompletion=_complete_from(SHELLS))],
) -> None:
    """Print the TAB-completion script for a shell (nothing is installed or edited).

    Completes commands, flags, status values, output formats, and recently used flow and
    run IDs from a local cache; TAB never touches the network. The same scripts ship in
    completions/.

    \b
    Examples:
      source <(rundctl completion bash)                       # bash, this session
      rundctl completion bash > ~/.local/share/bash-completion/completions/rundctl
      rundctl completion zsh > "${fpath[1]}/_rundctl"         # zsh
      rundctl completion fish > ~/.config/fish/completions/rundctl.fish
      rundctl completion powershell >> $PROFILE               # PowerShell
    """
    deps = current_deps()
    name = shell.strip().lower()
    if name == "pwsh":
        name = "powershell"
    if name not in SHELLS:
        raise UsageError(f"SHELL: '{shell}' is not one of {', '.join(SHELLS)}")
    deps.stdout.write(completion_script(name))


@app.command(cls=PanelCommand)
@handled
def version(output: OutputOpt = None) -> None:
    """Show the versions of rundctl, Python and the libraries it uses.

    rundctl, Python, the platform, typer, rich, requests, azure-identity, msal and urllib3:
    what a bug report needs.

    \b
    Examples:
      rundctl version
      rundctl version -o json | jq -r '."azure-identity"'
    """
    deps = current_deps()
    from rundctl.about import versions

    info = versions()
    fmt = output_format(deps, output)
    if fmt in ("json", "ndjson"):
        renderer(deps, fmt).one(info, kind="auth")
        return
    width = max(len(k) for k in info)
    for key, value in info.items():
        deps.stdout.write(f"{key:<{width}}  {value or 'not installed'}\n")


@app.command("help", cls=PanelCommand)
@handled
def help_(
    topic: Annotated[str | None, typer.Argument(
        metavar="TOPIC", help="exit-codes, environment, formatting or ci.", show_default=False,
        autocompletion=_complete_from(("exit-codes", "environment", "formatting", "ci")))]
    = None,
) -> None:
    """Read a help topic: exit-codes, environment, formatting, ci.

    Longer pages than --help: every exit code and whether a re-run is safe, every
    environment variable, the exact output shapes, and recipes for CI systems.

    \b
    Examples:
      rundctl help exit-codes
      rundctl help ci | less
    """
    deps = current_deps()
    from rundctl.helptext import TOPICS, topic_names

    if topic is None:
        deps.stdout.write("Topics: " + ", ".join(topic_names()) + "\n"
                          "Read one with: rundctl help TOPIC; commands: rundctl --help\n")
        return
    text = TOPICS.get(topic.strip().lower())
    if text is None:
        raise UsageError(f"TOPIC: '{topic}' is not one of {', '.join(topic_names())}")
    deps.stdout.write(text.rstrip("\n") + "\n")


@app.command(cls=PanelCommand)
@handled
def schema() -> None:
    """Print the JSON Schema of the run payload (for editors and CI linting).

    The same rules validate applies, as far as JSON Schema can say them (draft 2020-12).

    \b
    Examples:
      rundctl schema > run.schema.json
    """
    deps = current_deps()
    from rundctl.render import to_json
    from rundctl.schema import run_schema

    deps.stdout.write(to_json(run_schema()) + "\n")


@app.command(cls=PanelCommand)
@handled
@with_connection
def doctor(output: OutputOpt = None, conn_args: Any = None) -> None:
    """Check the installation, settings, network, clock, keyring and credential.

    Each check says pass, warn or fail, with the fix. Exit 0 when nothing failed; 8 when
    the endpoint or authority is unreachable, 2 for bad settings, 4 for no credential.
    Never prints a token.

    \b
    Examples:
      rundctl doctor
      rundctl doctor --endpoint sandbox -o json
    """
    deps = current_deps()
    fmt = output_format(deps, output)
    from rundctl import doctor as checks_mod

    args: ConnArgs = conn_args
    checks = checks_mod.run_checks(
        deps.env, endpoint_text=args.endpoint, cloud_text=args.cloud, auth_mode=args.auth,
        tenant=args.tenant, client_id=args.client_id, stdin_tty=bool(deps.stdin_tty),
        stdout_tty=bool(deps.stdout_tty), stderr_tty=bool(deps.stderr_tty),
        now=deps.clock, session_factory=deps.session_factory, token_file=args.token_file,
    )
    if fmt in ("json", "ndjson"):
        from rundctl.render import to_json

        deps.stdout.write(to_json(checks_mod.as_json(checks), indent=2 if fmt == "json"
                                  else None) + "\n")
    else:
        deps.stdout.write(checks_mod.as_text(checks))
    code = checks_mod.exit_code(checks)
    if code:
        raise typer.Exit(code)
