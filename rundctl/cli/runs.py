"""The run commands: create, validate, list, get, update, wait, stats, activities, start.

Each function parses its flags into checked values, calls one function of :mod:`rundctl.ops`
(or :mod:`rundctl.runs` for a plain read), and hands the result to the renderer. The return
value is the exit code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rundctl import ci
from rundctl.cli.complete import complete_status
from rundctl.cli.context import (
    conn_settings,
    current_deps,
    need_flow,
    optional_guid,
    output_format,
    query_flag,
    remember_ids,
    renderer,
    run_ref,
    say,
    status_flag,
    stdin,
    time_range,
    wait_options,
)
from rundctl.cli.options import (
    BULK,
    OUTPUT,
    ColumnsOpt,
    ConnArgs,
    FileOpt,
    FlowOpt,
    GithubOutputOpt,
    OutputOpt,
    ProfileOpt,
    QueryOpt,
    RunArg,
    WaitArgs,
    WaitFlag,
    with_connection,
    with_run_flags,
    with_wait,
)
from rundctl.deps import Deps
from rundctl.inputs import RunFlags

if TYPE_CHECKING:
    from rundctl.client import GraphClient
    from rundctl.ops import BulkRequest
    from rundctl.settings import ConnSettings
    from rundctl.wait import WaitOptions, WaitResult

ParentOpt = Annotated[str | None, typer.Option(
    "--parent", metavar="RUN", help="Create a process run under this run ID.", show_default=False)]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the exact request; send nothing.",
                                         rich_help_panel=OUTPUT)]
ParallelOpt = Annotated[int, typer.Option(
    "--parallel", metavar="N", min=1, max=64, help="Bulk: requests in flight at once.",
    rich_help_panel=BULK)]
JournalOpt = Annotated[str | None, typer.Option(
    "--journal", metavar="PATH", help="Bulk: record each outcome here; re-run with the same "
    "journal to finish exactly once.", rich_help_panel=BULK, show_default=False)]
NO_BULK_WAIT = "--wait follows one run; it does not go with bulk input"


@with_wait
@with_run_flags
@with_connection
def create(
    flow: FlowOpt = None,
    parent: ParentOpt = None,
    file: FileOpt = None,
    dry_run: DryRunOpt = False,
    wait: WaitFlag = False,
    parallel: ParallelOpt = 4,
    journal: JournalOpt = None,
    output: OutputOpt = None,
    github_output: GithubOutputOpt = False,
    *,
    run_flags: RunFlags,
    wait_args: WaitArgs,
    conn_args: ConnArgs,
) -> int:
    """Create a run of an inbound flow, or many (bulk) from NDJSON or a JSON array.

    The run comes from flags, from a JSON file (-f PATH) or from stdin (-f -); flags
    override the same fields of the file. Everything is validated before anything is sent.
    With NDJSON (one run per line) or a JSON array, every record is created (bulk): results
    as NDJSON on stdout, exit 0 all created, 12 some not; --journal makes re-runs resume.
    Uses the draft Create-run API (/industryData/incomingFlows/{flow}/runs), which
    Microsoft's published industryData API does not offer.

    \b
    Examples:
      rundctl create --flow $FLOW -n "Nightly import" --start now --status running --stat people=0
      echo '{"displayName":"x","startDateTime":"2026-11-01T10:00:00Z","status":"completed",
        "statistics":{}}' | rundctl create --flow $FLOW -f -
      rundctl create --flow $FLOW -f run.json --status failed --error-code E42 --dry-run
      rundctl create --flow $FLOW -f term.ndjson --parallel 8 --journal term.journal
    """
    from rundctl import inputs, ops

    deps = current_deps()
    flow_id, parent_id = need_flow(flow), optional_guid(parent, "--parent")
    conn = conn_settings(conn_args, waiting=wait)
    fmt = output_format(deps, output)
    waiting = wait_options(conn.timeout, wait_args) if wait else None
    given = inputs.read_run_input(file, run_flags, stdin=stdin(deps), now=deps.clock(),
                                  cleanups=deps.cleanups, token_file=conn.token_file,
                                  refuse_bulk=NO_BULK_WAIT if wait else None)
    if isinstance(given, inputs.Bulk):
        if conn_args.timeout is None:
            conn = conn_settings(conn_args, bulk=True)
        request = ops.BulkRequest(given.plan, flow_id, parent_id, parallel, journal)
        return _bulk(deps, conn, request, output, dry_run, github_output, file or "-")
    if dry_run:
        renderer(deps, fmt).request(ops.dry_run(deps, conn, flow_id, parent_id, given.payload))
        return 0
    with ops.connect(deps, conn) as client:
        created = ops.create_one(client, flow_id, parent_id, given.payload,
                                 say=lambda text: say(deps, text))
        remember_ids(flow_id, created.get("id"), created.get("displayName"))
        deps.did(f"created run {_shown(str(created.get('id')))}")
        ci.created_entry(deps, created)
        if waiting is None:
            _outputs(deps, github_output, created, None)
            renderer(deps, fmt).one(created)
            return 0
        run_id = str(created["id"])
        say(deps, f"created {_shown(run_id)}")
        return _follow(deps, client, run_id, flow_id, waiting, fmt, github_output)


def _outputs(deps: Deps, wanted: bool, run: dict[str, Any] | None, code: int | None,
             run_id: str | None = None) -> None:
    """``run-id`` and ``status`` (and the wait's ``exit-code``) for later workflow steps."""
    if not ci.outputs_wanted(deps, wanted):
        return
    values: dict[str, object] = {"run-id": (run or {}).get("id") or run_id,
                                 "status": (run or {}).get("status")}
    if code is not None:
        values["exit-code"] = code
    ci.write_outputs(deps, values)


def _shown(text: str) -> str:
    from rundctl.redact import neutralise

    return neutralise(text)


def _bulk(deps: Deps, conn: ConnSettings, request: BulkRequest, output: str | None,
          dry_run: bool, github_output: bool, source: str) -> int:
    """Send a validated bulk input, one result line per record; exit 0 or 12."""
    from rundctl import ops
    from rundctl.progress import BulkProgress

    fmt = output_format(deps, output, default="ndjson")
    total = request.plan.total
    if dry_run:
        say(deps, f"valid: {total} records; would POST each to "
            f"{ops.bulk_target(conn, request.flow, request.parent)}")
        return 0
    progress = BulkProgress(deps, fmt, total)
    deps.did(lambda: f"bulk: {progress.created} of {total} records created")
    try:
        summary = ops.create_bulk(deps, conn, request, progress.emit,
                                  say=lambda text: say(deps, text))
    except KeyboardInterrupt:
        progress.close()
        _how_to_finish(deps, request, progress.created)
        raise
    finally:
        progress.close()
    progress.summary(summary)
    ci.bulk_report(deps, source, progress.problems, summary.counts, total)
    if ci.outputs_wanted(deps, github_output):
        ci.write_outputs(deps, {**summary.counts, "total": total})
    if summary.broken is not None:
        raise summary.broken
    code = int(summary.exit_code())
    if code:
        _how_to_finish(deps, request, summary.counts["created"] + summary.counts["skipped"])
    return code


def _how_to_finish(deps: Deps, request: BulkRequest, done: int) -> None:
    """After Ctrl-C or exit 12: how far it got, and how to finish without duplicates."""
    import shlex

    total = request.plan.total
    if request.journal:
        command = shlex.join(["rundctl", *deps.argv])
        say(deps, f"{done} of {total} records are created; to finish exactly once, run the same "
            f"command again with the same input and journal:\n  {command}")
    else:
        say(deps, f"warning: {done} of {total} records are created and there is no journal: a "
            "plain re-run creates them again; re-run only the records that failed, and use "
            "--journal PATH next time")


def _follow(deps: Deps, client: GraphClient, run_id: str, flow_id: str | None,
            options: WaitOptions, fmt: str, github_output: bool = False) -> int:
    """Wait for a run to end, print it, and return the outcome's exit code."""
    from rundctl import notes, ops
    from rundctl.progress import WaitProgress

    progress = WaitProgress(deps, run_id)
    try:
        result = ops.follow(deps, client, run_id, flow_id, options, on_poll=progress.update,
                            sleep=progress.sleep)
    finally:
        progress.close()
    if result.run is not None:
        renderer(deps, fmt).one(result.run)
    progress.report(result)
    _outputs(deps, github_output, result.run, int(result.exit_code), run_id)
    if result.exit_code:
        notes.annotate(deps, _wait_outcome(run_id, result), [], None)
    return int(result.exit_code)


def _wait_outcome(run_id: str, result: WaitResult) -> str:
    """The annotation of a wait that did not end well, with the run's blocking error."""
    from rundctl.errors import ExitCode
    from rundctl.render import human_duration

    run = result.run or {}
    if result.exit_code == ExitCode.WAIT_TIMEOUT:
        state = "still running" if run else "not found"
        return (f"run {_shown(run_id)} timed out after {human_duration(result.elapsed)}, "
                f"{state} (exit 17)")
    text = f"run {_shown(run_id)} ended {_shown(str(run.get('status')))} " \
           f"(exit {int(result.exit_code)})"
    error = run.get("blockingError")
    if isinstance(error, dict) and (error.get("code") or error.get("message")):
        text += ": " + ": ".join(_shown(str(error[k])) for k in ("code", "message")
                                  if error.get(k))
    return text


@with_run_flags
def validate(
    file: FileOpt = None,
    output: OutputOpt = None,
    profile: ProfileOpt = None,
    *,
    run_flags: RunFlags,
) -> int:
    """Check a run without sending it (no credential, no network).

    Takes the same inputs as create and prints the request body that create would send
    (timestamps in UTC, status in canonical case). Exit 0 when valid, 3 when not, with
    every problem listed.

    \b
    Examples:
      rundctl validate -f run.json
      jq -c '.run' build.json | rundctl validate -f - -o none && echo ok
    """
    from rundctl import inputs

    deps = current_deps()
    fmt = output_format(deps, output)
    given = inputs.read_run_input(file, run_flags, stdin=stdin(deps), now=deps.clock(),
                                  cleanups=deps.cleanups)
    if isinstance(given, inputs.Bulk):
        from rundctl import bulk

        say(deps, f"valid: {given.plan.total} records")
        if fmt == "ndjson":
            renderer(deps, fmt).many(bulk.iter_spool_records(given.plan))
        elif fmt == "json":
            renderer(deps, fmt).document({"valid": True, "records": given.plan.total})
        return 0
    if fmt == "table":
        deps.stderr.write("valid: the run below would be sent\n")
    renderer(deps, fmt).one(given.payload)
    return 0


WatchOpt = Annotated[bool, typer.Option(
    "--watch", "-w", help="Keep watching: on a terminal the table is redrawn as runs change; "
    "piped, one NDJSON line per new or changed run. Ctrl-C ends it (exit 0).",
    rich_help_panel=OUTPUT)]
WatchIntervalOpt = Annotated[str, typer.Option(
    "--interval", metavar="DURATION", help="With --watch: how often to look (a longer "
    "Retry-After from the service wins).", rich_help_panel=OUTPUT)]


LimitOpt = Annotated[int, typer.Option("--limit", metavar="N", min=1, help="Show at most N runs.",
                                       rich_help_panel=OUTPUT)]
AllOpt = Annotated[bool, typer.Option("--all", help="Fetch every page.", rich_help_panel=OUTPUT)]
StatusesOpt = Annotated[list[str] | None, typer.Option(
    "--status", autocompletion=complete_status, metavar="STATUS",
    help="Only runs in this status (repeatable).", show_default=False)]
SinceOpt = Annotated[str | None, typer.Option(
    "--since", metavar="TS|DATE|AGE", help="Only runs started at or after TS (RFC 3339), DATE "
    "(2026-12-01, 00:00 UTC) or this long ago (24h, 7d, 1w, 1d2h).", show_default=False)]
UntilOpt = Annotated[str | None, typer.Option(
    "--until", metavar="TS|DATE|AGE", help="Only runs started at or before TS (RFC 3339), DATE "
    "or this long ago.", show_default=False)]


@with_connection
def list_(
    flow: FlowOpt = None,
    limit: LimitOpt = 30,
    all_: AllOpt = False,
    status: StatusesOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    output: OutputOpt = None,
    query: QueryOpt = None,
    columns: ColumnsOpt = None,
    watch: WatchOpt = False,
    interval: WatchIntervalOpt = "5s",
    *,
    conn_args: ConnArgs,
) -> int:
    """List runs, newest first.

    With --flow, the runs of that flow (draft API); without, every run (the published
    /external/industryData/runs API). JSON output is one array of all pages fetched.

    \b
    Examples:
      rundctl list --flow $FLOW
      rundctl list --flow $FLOW --all -o tsv | cut -f1,3
    """
    from rundctl import ops, runs

    deps = current_deps()
    flow_id = optional_guid(flow, "--flow")
    conn = conn_settings(conn_args)
    fmt = output_format(deps, output)
    first, last = time_range(deps, since, until)
    where = runs.RunFilter(statuses=tuple(dict.fromkeys(status_flag(s) for s in status or [])),
                           since=first, until=last)
    shape, out = query_flag(query), renderer(deps, fmt, columns)
    if watch:
        from rundctl.settings import parse_duration

        every = parse_duration(interval, name="--interval")
        with ops.connect(deps, conn) as client:
            return _watch(deps, lambda: list(runs.list_runs(
                client, flow_id, limit=None if all_ else limit, where=where)), every, fmt)
    cut: list[bool] = []
    with ops.connect(deps, conn) as client:
        found = runs.list_runs(client, flow_id, limit=None if all_ else limit, where=where,
                               on_more=lambda: cut.append(True))
        shown = out.queried(shape.search(list(found))) if shape else out.many(found)
    if cut:
        say(deps, f"showing {limit}; more available: --all or --limit N")
    elif shown == 0 and fmt in ("table", "wide") and shape is None:
        say(deps, "no runs" + (" match the filters" if where.odata() else ""))
    return 0


def _watch(deps: Deps, fetch: Callable[[], list[dict[str, Any]]], every: float,
           fmt: str) -> int:
    """``list --watch``: a live table on a terminal, NDJSON lines of changes otherwise."""
    from rundctl import ops
    from rundctl.render import to_json

    live: Any = None
    if fmt in ("table", "wide") and deps.stdout_tty:
        from rich.live import Live

        from rundctl.render import make_console

        console = make_console(deps.stdout, tty=True, env=deps.env)
        live = Live(console=console, auto_refresh=False, transient=False)
        live.start()

    def show(runs: list[dict[str, Any]], changed: list[dict[str, Any]]) -> None:
        if live is not None:
            live.update(renderer(deps, fmt).runs_table(runs, live.console.width), refresh=True)
            return
        for run in changed:
            deps.stdout.write(to_json(run, indent=None) + "\n")
        deps.stdout.flush()

    try:
        ops.watch(deps, fetch, every, show)
    except KeyboardInterrupt:
        return 0
    finally:
        if live is not None:
            live.stop()
    return 0  # not reached: watching ends with Ctrl-C


def show_fetched(conn_args: ConnArgs, output: str | None, fetch: Callable[[Any], Any],
                 kind: str = "run", *, many: bool = False, query: str | None = None,
                 columns: str | None = None) -> int:
    """The common read command: connect, fetch one object (or a collection), show it
    (shaped by ``--query``, with ``--columns``)."""
    from rundctl import ops

    deps = current_deps()
    conn = conn_settings(conn_args)
    fmt = output_format(deps, output)
    shape, out = query_flag(query), renderer(deps, fmt, columns)
    with ops.connect(deps, conn) as client:
        found: Any = list(fetch(client)) if many else fetch(client)
    if shape is not None:
        out.queried(shape.search(found), kind=kind)
    elif many:
        out.many(found, kind=kind)
    else:
        out.one(found, kind=kind)
    return 0


@with_connection
def get(run: RunArg, flow: FlowOpt = None, output: OutputOpt = None, query: QueryOpt = None,
        columns: ColumnsOpt = None, *, conn_args: ConnArgs) -> int:
    """Show one run.

    With --flow the run is read under that flow (draft API); without, through the
    published API.

    \b
    Examples:
      rundctl get $RUN --flow $FLOW
      rundctl get $RUN --flow $FLOW -o json | jq .status
    """
    from rundctl import runs

    ref, flow_id = run_ref(run), optional_guid(flow, "--flow")
    code = show_fetched(conn_args, output, lambda c: runs.get_run(
        c, runs.resolve_run(c, ref, flow_id), flow_id), query=query, columns=columns)
    remember_ids(flow_id, ref if len(ref) == 36 else None)
    return code


@with_run_flags
@with_connection
def update(run: RunArg, flow: FlowOpt = None, output: OutputOpt = None, *,
           run_flags: RunFlags, conn_args: ConnArgs) -> int:
    """Finish or amend a run (PATCH): send only the fields given.

    The change is checked against the stored run before anything is sent: the end must not
    be before the start, and a running run has no end. --stat adds to the stored statistics.
    Uses the draft API (runs are read-only in Microsoft's published industryData API).

    \b
    Examples:
      rundctl update $RUN --flow $FLOW --status completed --end now --stat people=1200
      rundctl update $RUN --flow $FLOW --status failed --end now --error-code E42 \\
          --error-message "source file missing"
    """
    from rundctl import inputs, model, ops, runs

    deps = current_deps()
    ref, flow_id = run_ref(run), need_flow(flow)
    conn = conn_settings(conn_args)
    fmt = output_format(deps, output)
    changes = inputs.overrides(run_flags)
    if changes.is_empty():
        model.build_patch_payload(changes, None, now=deps.clock())  # raises "nothing to update"
    with ops.connect(deps, conn) as client:
        run_id = runs.resolve_run(client, ref, flow_id)
        updated = ops.update_checked(deps, client, flow_id, run_id, changes)
    deps.did(f"updated run {run_id}")
    remember_ids(flow_id, run_id, updated.get("displayName"))
    renderer(deps, fmt).one(updated)
    return 0


@with_wait
@with_connection
def wait(run: RunArg, flow: FlowOpt = None, output: OutputOpt = None,
         github_output: GithubOutputOpt = False, *,
         wait_args: WaitArgs, conn_args: ConnArgs) -> int:
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
    from rundctl import ops, runs

    deps = current_deps()
    ref, flow_id = run_ref(run), optional_guid(flow, "--flow")
    conn = conn_settings(conn_args, waiting=True)
    fmt = output_format(deps, output)
    options = wait_options(conn.timeout, wait_args, grace="0")
    with ops.connect(deps, conn) as client:
        run_id = runs.resolve_run(client, ref, flow_id)
        return _follow(deps, client, run_id, flow_id, options, fmt, github_output)


@with_connection
def stats(run: RunArg, output: OutputOpt = None, query: QueryOpt = None, *,
          conn_args: ConnArgs) -> int:
    """Show a run's statistics (published getStatistics function).

    Totals across inbound flows (people, groups, memberships, organizations, errors,
    warnings) and one line per activity.

    \b
    Examples:
      rundctl stats $RUN
      rundctl stats $RUN -o json | jq .inboundTotals.errors
    """
    from rundctl import runs

    ref = run_ref(run)
    return show_fetched(conn_args, output, lambda c: runs.get_statistics(
        c, runs.resolve_run(c, ref, None)), "stats", query=query)


@with_connection
def activities(run: RunArg, output: OutputOpt = None, query: QueryOpt = None,
               columns: ColumnsOpt = None, *, conn_args: ConnArgs) -> int:
    """List the activities (flows) a run performed (published API).

    Each activity is one inbound flow the run executed, with its status (inProgress,
    skipped, failed, completed, completedWithErrors, completedWithWarnings).

    \b
    Examples:
      rundctl activities $RUN
      rundctl activities $RUN -o ndjson | jq -r 'select(.status != "completed") | .displayName'
    """
    from rundctl import runs

    ref = run_ref(run)
    return show_fetched(conn_args, output, lambda c: runs.list_activities(
        c, runs.resolve_run(c, ref, None)), "activity", many=True, query=query,
        columns=columns)


@with_wait
@with_connection
def start(wait: WaitFlag = False, output: OutputOpt = None,
          github_output: GithubOutputOpt = False, *, wait_args: WaitArgs,
          conn_args: ConnArgs) -> int:
    """Start an on-demand run (published API; at most 5 successful runs per 12 hours).

    The service answers 202 with no body and no run ID; with --wait rundctl finds the new
    run (the newest one that was not there before) and follows it like wait.

    \b
    Examples:
      rundctl start --wait --timeout 2h
      rundctl start && rundctl list --limit 1
    """
    from rundctl import ops

    deps = current_deps()
    conn = conn_settings(conn_args, waiting=wait)
    fmt = output_format(deps, output)
    options = wait_options(conn.timeout, wait_args) if wait else None
    with ops.connect(deps, conn) as client:
        started = ops.start(deps, client, locate_within=options.not_found_grace if options
                            else None)
        deps.did(f"started an on-demand run (client-request-id {started.client_request_id})")
        if options is None or started.run is None:
            # list with a flow (RUNDCTL_FLOW, a profile) reads the draft API: ask for all runs
            every = " --flow ''" if deps.env.get("RUNDCTL_FLOW") else ""
            say(deps, f"started an on-demand run (HTTP {started.status}, client-request-id "
                f"{started.client_request_id}); the service does not return its ID\n"
                f"hint: find it with 'rundctl list{every} --limit 1', or use 'rundctl start "
                "--wait'")
            _outputs(deps, github_output, None, None)
            return 0
        run_id = str(started.run["id"])
        say(deps, f"started run {_shown(run_id)}")
        return _follow(deps, client, run_id, None, options, fmt, github_output)
