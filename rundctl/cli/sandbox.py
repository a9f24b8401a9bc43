"""``rundctl sandbox``: serve the local Graph stand-in until Ctrl-C."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rundctl.cli.complete import complete_start_outcome
from rundctl.cli.context import current_deps, renderer, say
from rundctl.cli.options import FAULTS, Param, option_group
from rundctl.errors import UsageError
from rundctl.sandbox.flags import FAULT_SETTINGS, FaultSetting

HostOpt = Annotated[str, typer.Option("--host", metavar="HOST", help="Address to listen on.")]
PortOpt = Annotated[int, typer.Option("--port", metavar="PORT", min=0, max=65535,
                                      help="Port; 0 picks a free one.")]
DbOpt = Annotated[str, typer.Option("--db", metavar="PATH", help="SQLite file, or :memory:.")]
RequireTokenOpt = Annotated[str | None, typer.Option(
    "--require-token", metavar="TOKEN", envvar="RUNDCTL_SANDBOX_REQUIRE_TOKEN",
    help="Answer 401 unless this bearer token is sent.", show_default=False)]
RunSecondsOpt = Annotated[float, typer.Option(
    "--run-seconds", metavar="SECONDS", min=0, help="How long runs made by 'start' stay running.")]
StartOutcomeOpt = Annotated[str, typer.Option(
    "--start-outcome", metavar="STATUS", help="Final status of runs made by 'start'.",
    autocompletion=complete_start_outcome)]
SurfaceOpt = Annotated[str, typer.Option(
    "--surface", metavar="both|published|draft",
    help="Which API to serve: both, Graph's published paths only, or the draft create paths only.")]
StartLimitOpt = Annotated[str, typer.Option(
    "--start-limit", metavar="N/WINDOW",
    help="At most N successful on-demand runs (start) per WINDOW, e.g. 5/12h; 0 for no limit.")]
ScheduleOpt = Annotated[str | None, typer.Option(
    "--schedule-every", metavar="DURATION", show_default=False,
    help="Make a run by itself every DURATION (e.g. 12h, 5m), as the service does.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Do not log requests.")]


def _fault_param(setting: FaultSetting) -> Param:
    """A Typer option for one fault setting of the sandbox's table."""
    kind = setting.kind if setting.default is not None or setting.kind is bool \
        else setting.kind | None
    option = typer.Option(setting.flag, metavar=setting.metavar or None, help=setting.help,
                          min=setting.min, max=setting.max, rich_help_panel=FAULTS,
                          show_default=setting.default is not None and setting.kind is not bool)
    return Param(setting.name, Annotated[kind, option], setting.default)


@option_group("faults", dict, tuple(_fault_param(s) for s in FAULT_SETTINGS))
def sandbox(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8765,
    db: DbOpt = ":memory:",
    require_token: RequireTokenOpt = None,
    run_seconds: RunSecondsOpt = 5.0,
    start_outcome: StartOutcomeOpt = "completed",
    surface: SurfaceOpt = "both",
    start_limit: StartLimitOpt = "5/12h",
    schedule_every: ScheduleOpt = None,
    quiet: QuietOpt = False,
    *,
    faults: dict[str, Any],
) -> int:
    """Serve the local Graph stand-in (no account, no network).

    Prints its base URL as the first line of stdout, then logs one line per request on
    stderr. Use the URL as --endpoint. Stop it with Ctrl-C.

    \b
    Examples:
      rundctl sandbox --port 0 --db runs.db
      rundctl sandbox --surface published --schedule-every 5m
      URL=$(rundctl sandbox --port 0 & ...)   # read the first line
    """
    import threading

    from rundctl import model
    from rundctl.sandbox import options
    from rundctl.sandbox.server import Sandbox, SandboxOptions
    from rundctl.settings import is_loopback_host

    deps = current_deps()
    outcome = model.normalize_status(start_outcome)
    if outcome is None or outcome == "running":
        raise UsageError(f"--start-outcome: '{start_outcome}' is not a final run status")
    try:
        chosen_surface = options.parse_surface(surface)
    except ValueError as exc:
        raise UsageError(f"--surface: {exc}") from None
    try:
        limit = options.parse_start_limit(start_limit)
    except ValueError as exc:
        raise UsageError(f"--start-limit: {exc}") from None
    try:
        every = None if schedule_every is None else options.parse_duration(schedule_every)
    except ValueError as exc:
        raise UsageError(f"--schedule-every: {exc}") from None
    if not is_loopback_host(host):
        say(deps, f"warning: the sandbox listens on {host}, beyond loopback")
    from rundctl.sandbox.faults import fault_options

    try:
        server = Sandbox(SandboxOptions(
            host=host, port=port, db=db, require_token=require_token, run_seconds=run_seconds,
            start_outcome=outcome, surface=chosen_surface, start_limit=limit, schedule_every=every,
            log=None if quiet else deps.stderr,
            **fault_options(faults)))
    except ValueError as exc:
        raise UsageError(f"sandbox: {exc}") from None
    import sqlite3

    try:
        url = server.start()
    except sqlite3.Error as exc:
        raise UsageError(f"--db: '{db}' cannot be used: {exc}",
                         hint="give a writable SQLite file, or :memory:") from None
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    renderer(deps, "table").text(url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM or SIGHUP: the way a server is stopped
        say(deps, "sandbox stopped")
    finally:
        server.stop()
    return 0
