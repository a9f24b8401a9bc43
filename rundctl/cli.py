"""The Typer app: one thin function per command (parse -> do -> show).

Shared options are defined once below as ``Annotated`` aliases. Heavy modules (requests,
azure.identity, rich.table, sqlite3) are imported only inside the commands that need them, so
``rundctl --help`` and TAB completion stay fast.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, NoReturn, TypeVar

import typer

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

# -- shared options, defined once ------------------------------------------------------

FlowOpt = Annotated[
    str | None,
    typer.Option("--flow", metavar="ID", envvar="RUNDCTL_FLOW", help="Inbound flow ID (a GUID).",
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
    typer.Option("--cloud", metavar="CLOUD", envvar="RUNDCTL_CLOUD", help="global, usgov, dod or china.",
                 rich_help_panel=CONNECTION),
]
TimeoutOpt = Annotated[
    str,
    typer.Option("--timeout", metavar="DURATION", envvar="RUNDCTL_TIMEOUT",
                 help="Wall-clock limit for the whole command: 90, 90s, 2m, 1h.",
                 rich_help_panel=CONNECTION),
]
DebugOpt = Annotated[
    bool,
    typer.Option("--debug", "-v", help="Log requests to stderr (secrets redacted).",
                 rich_help_panel=CONNECTION),
]
AuthOpt = Annotated[
    str,
    typer.Option("--auth", metavar="MODE", envvar="RUNDCTL_AUTH",
                 help="auto, token, none, environment, azure-cli, device-code, browser, "
                 "managed-identity, workload-identity, github-oidc.",
                 rich_help_panel=AUTH),
]
TokenFileOpt = Annotated[
    str | None,
    typer.Option("--token-file", metavar="PATH", help="Read the bearer token from PATH, or - for stdin "
                 "(else RUNDCTL_TOKEN).", rich_help_panel=AUTH, show_default=False),
]
OutputOpt = Annotated[
    str | None,
    typer.Option("--output", "-o", metavar="FORMAT", envvar="RUNDCTL_OUTPUT",
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
    typer.Option("--status", metavar="STATUS", help="running, failed, completed, completedWithErrors, "
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

DEFAULT_CLOUD = "global"
DEFAULT_AUTH = "auto"
DEFAULT_TIMEOUT = "120"

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


def fail(deps: Deps, exc: RundctlError) -> NoReturn:
    report(deps, exc)
    raise typer.Exit(int(exc.exit_code))


def handled(fn: F) -> F:
    """Run a command body; turn rundctl errors, Ctrl-C and a closed pipe into exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        deps = current_deps()
        try:
            return fn(*args, **kwargs)
        except RundctlError as exc:
            fail(deps, exc)
        except KeyboardInterrupt:
            deps.stderr.write("rundctl: interrupted\n")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(int(ExitCode.BROKEN_PIPE)) from None
        finally:
            deps.close()

    return wrapper  # type: ignore[return-value]


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


def conn_settings(
    endpoint: str | None, cloud: str, auth: str, token_file: str | None, timeout: str,
    debug: bool,
) -> Any:
    from rundctl.settings import (
        ConnSettings,
        parse_auth_mode,
        parse_cloud,
        parse_duration,
        parse_endpoint,
    )

    parsed_cloud = parse_cloud(cloud)
    return ConnSettings(
        endpoint=parse_endpoint(endpoint, parsed_cloud),
        cloud=parsed_cloud,
        auth_mode=parse_auth_mode(auth),
        token_file=token_file,
        timeout=parse_duration(timeout),
        debug=debug,
    )


def need_flow(flow: str | None) -> str:
    from rundctl.settings import parse_guid

    if not flow:
        raise UsageError("--flow is required", hint="pass --flow ID or set RUNDCTL_FLOW")
    return parse_guid(flow, name="--flow")


def read_input(deps: Deps, file: str | None, token_file: str | None) -> object | None:
    """The record from -f PATH / -f - (None without -f)."""
    if file is None:
        return None
    from rundctl import jsonio
    from rundctl.errors import InvalidInput, Problem

    if file == "-":
        if token_file == "-":  # noqa: S105 - "-" means stdin
            raise UsageError("-f - and --token-file - cannot both read stdin")
        if deps.stdin_tty:
            raise UsageError(
                "-f -: stdin is a terminal, not a pipe",
                hint="pipe the JSON in (… | rundctl create -f -) or give -f PATH",
            )
        return jsonio.read_document(deps.stdin, source="stdin")
    try:
        with open(file, "rb") as handle:
            return jsonio.read_document(handle, source=file)
    except OSError as exc:
        raise InvalidInput(
            [Problem("", f"cannot read '{file}': {exc.strerror or exc}")],
            hint="-f takes a path, or - for stdin",
        ) from None


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


@app.command()
@handled
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
    output: OutputOpt = None,
    endpoint: EndpointOpt = None,
    cloud: CloudOpt = DEFAULT_CLOUD,
    auth: AuthOpt = DEFAULT_AUTH,
    token_file: TokenFileOpt = None,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    debug: DebugOpt = False,
) -> None:
    """Create a run of an inbound flow.

    The run comes from flags, from a JSON file (-f PATH) or from stdin (-f -); flags
    override the same fields of the file. Everything is validated before anything is sent.

    \b
    Examples:
      rundctl create --flow $FLOW -n "Nightly import" --start now --status running --stat people=0
      echo '{"displayName":"x","startDateTime":"2026-11-01T10:00:00Z","status":"completed",
        "statistics":{}}' | rundctl create --flow $FLOW -f -
      rundctl create --flow $FLOW -f run.json --status failed --error-code E42 --dry-run
    """
    deps = current_deps()
    from rundctl.settings import parse_guid

    flow_id = need_flow(flow)
    parent_id = parse_guid(parent, name="--parent") if parent else None
    conn = conn_settings(endpoint, cloud, auth, token_file, timeout, debug)
    fmt = output_format(deps, output)
    overrides = build_overrides(name, start, end, status, statistics, stat, blocking_error,
                                error_code, error_message, error_target)
    record = read_input(deps, file, token_file)

    from rundctl import model

    payload = model.build_create_payload(record, overrides, now=deps.clock())
    if dry_run:
        from rundctl import dryrun

        dryrun.show(deps, fmt, conn, flow_id, parent_id, payload)
        return

    from rundctl import runs
    from rundctl.connect import open_client

    with open_client(deps, conn) as client:
        created = runs.create_run(client, flow_id, payload, parent_id)
    renderer(deps, fmt).one(created)


@app.command()
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
    record = read_input(deps, file, None)
    from rundctl import model

    payload = model.build_create_payload(record, overrides, now=deps.clock())
    if fmt == "table":
        deps.stderr.write("valid: the run below would be sent\n")
    renderer(deps, fmt).one(payload)


@app.command("list")
@handled
def list_(
    flow: FlowOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", min=1, help="Show at most N runs.", rich_help_panel=OUTPUT)
    ] = 30,
    all_: Annotated[
        bool, typer.Option("--all", help="Fetch every page.", rich_help_panel=OUTPUT)
    ] = False,
    output: OutputOpt = None,
    endpoint: EndpointOpt = None,
    cloud: CloudOpt = DEFAULT_CLOUD,
    auth: AuthOpt = DEFAULT_AUTH,
    token_file: TokenFileOpt = None,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    debug: DebugOpt = False,
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
    conn = conn_settings(endpoint, cloud, auth, token_file, timeout, debug)
    fmt = output_format(deps, output)
    from rundctl import runs
    from rundctl.connect import open_client

    cut: list[bool] = []
    with open_client(deps, conn) as client:
        renderer(deps, fmt).many(
            runs.list_runs(client, flow_id, limit=None if all_ else limit,
                           on_more=lambda: cut.append(True))
        )
    if cut:
        deps.stderr.write(f"rundctl: showing {limit}; more available: --all or --limit N\n")


@app.command()
@handled
def get(
    run: Annotated[str, typer.Argument(metavar="RUN", help="Run ID (a GUID).", show_default=False)],
    flow: FlowOpt = None,
    output: OutputOpt = None,
    endpoint: EndpointOpt = None,
    cloud: CloudOpt = DEFAULT_CLOUD,
    auth: AuthOpt = DEFAULT_AUTH,
    token_file: TokenFileOpt = None,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    debug: DebugOpt = False,
) -> None:
    """Show one run.

    With --flow the run is read under that flow; without, through the published API.

    \b
    Examples:
      rundctl get $RUN --flow $FLOW
      rundctl get $RUN --flow $FLOW -o json | jq .status
    """
    deps = current_deps()
    from rundctl.settings import parse_guid

    run_id = parse_guid(run, name="RUN")
    flow_id = parse_guid(flow, name="--flow") if flow else None
    conn = conn_settings(endpoint, cloud, auth, token_file, timeout, debug)
    fmt = output_format(deps, output)
    from rundctl import runs
    from rundctl.connect import open_client

    with open_client(deps, conn) as client:
        found = runs.get_run(client, run_id, flow_id)
    renderer(deps, fmt).one(found)


@app.command()
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
    server = Sandbox(SandboxOptions(
        host=host, port=port, db=db, require_token=require_token, run_seconds=run_seconds,
        start_outcome=outcome, log=None if quiet else deps.stderr,
    ))
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


@app.command()
def version() -> None:
    """Show the version of rundctl."""
    typer.echo(f"rundctl {__version__}")
