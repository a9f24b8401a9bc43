"""``rundctl sandbox``: serve the local Graph stand-in until Ctrl-C."""

from __future__ import annotations

from typing import Annotated

import typer

from rundctl.cli.context import current_deps, renderer, say
from rundctl.cli.options import FAULTS
from rundctl.errors import UsageError

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
    "--start-outcome", metavar="STATUS", help="Final status of runs made by 'start'.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Do not log requests.")]


def sandbox(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8765,
    db: DbOpt = ":memory:",
    require_token: RequireTokenOpt = None,
    run_seconds: RunSecondsOpt = 5.0,
    start_outcome: StartOutcomeOpt = "completed",
    quiet: QuietOpt = False,
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
) -> int:
    """Serve the local Graph stand-in (no account, no network).

    Prints its base URL as the first line of stdout, then logs one line per request on
    stderr. Use the URL as --endpoint. Stop it with Ctrl-C.

    \b
    Examples:
      rundctl sandbox --port 0 --db runs.db
      URL=$(rundctl sandbox --port 0 & ...)   # read the first line
    """
    import threading

    from rundctl import model
    from rundctl.sandbox import faults
    from rundctl.sandbox.server import Sandbox, SandboxOptions
    from rundctl.settings import is_loopback_host

    deps = current_deps()
    outcome = model.normalize_status(start_outcome)
    if outcome is None or outcome == "running":
        raise UsageError(f"--start-outcome: '{start_outcome}' is not a final run status")
    if not is_loopback_host(host):
        say(deps, f"warning: the sandbox listens on {host}, beyond loopback")
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
    renderer(deps, "table").text(url)
    try:
        threading.Event().wait()
    finally:
        server.stop()
    return 0
