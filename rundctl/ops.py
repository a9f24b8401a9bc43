"""The "do" step of the commands that talk to a service (twine's ``upload(settings, dists)``).

Each function takes checked inputs (settings, IDs, payloads, options) and returns a result:
a run, a bulk summary, a wait outcome. None of them parses flags, prints data or exits; what
they have to say while they work (a recovered create, progress) goes to the callbacks they
are given. The command layer turns results into output and exit codes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

from rundctl.deps import Deps
from rundctl.settings import ConnSettings

if TYPE_CHECKING:
    from rundctl.bulk import Outcome, Plan, Summary
    from rundctl.client import GraphClient
    from rundctl.model import Overrides
    from rundctl.wait import WaitOptions, WaitResult

Say = Callable[[str], None]
OnPoll = Callable[[dict[str, Any] | None, float], None]


@contextmanager
def connect(deps: Deps, conn: ConnSettings, *, pool: int = 1) -> Iterator[GraphClient]:
    """An open client for *conn* (credential, embedded sandbox, session), closed after."""
    from rundctl.connect import open_client

    with open_client(deps, conn, pool=pool) as client:
        yield client


# -- create -----------------------------------------------------------------------------


def create_one(client: GraphClient, flow: str, parent: str | None, payload: dict[str, Any],
               *, say: Say) -> dict[str, Any]:
    """POST one run; an unknown outcome is settled by one read-only lookup (said via *say*)."""
    from rundctl import runs
    from rundctl.redact import neutralise

    def recovered(run: dict[str, Any]) -> None:
        say(f"recovered: created {neutralise(str(run.get('id')))} (the service's answer was "
            "lost; the run was found by name and start time)")

    return runs.create_run(client, flow, payload, parent, on_recovered=recovered)


def dry_run(deps: Deps, conn: ConnSettings, flow: str, parent: str | None,
            payload: dict[str, Any]) -> dict[str, Any]:
    """The exact request create would send (Authorization redacted); nothing is sent."""
    from rundctl.dryrun import describe_create

    return describe_create(conn, flow, parent, payload, deps.env)


def bulk_target(conn: ConnSettings, flow: str, parent: str | None) -> str:
    """Where a bulk create would POST each record (for ``--dry-run``)."""
    from rundctl import routes

    path = (routes.path("process_runs", flow=flow, run=parent) if parent
            else routes.path("flow_runs", flow=flow))
    return f"{conn.endpoint.url or 'the sandbox'}{path}"


class BulkRequest(NamedTuple):
    plan: Plan
    flow: str
    parent: str | None
    parallel: int
    journal: str | None


def create_bulk(deps: Deps, conn: ConnSettings, request: BulkRequest,
                emit: Callable[[Outcome], None], *, say: Say) -> Summary:
    """Send a validated bulk plan with parallel workers; *emit* gets each record's outcome.

    The journal (if any) is opened and locked before anything is sent; a journal that
    could not be written is in ``Summary.broken``.
    """
    from rundctl import bulk
    from rundctl import journal as journals
    from rundctl.client import Gate

    def clock() -> float:
        return deps.clock().timestamp()

    journal = (bulk.open_journal(request.journal, request.plan, request.flow, request.parent,
                                 clock=clock, say=say) if request.journal else None)
    try:
        with connect(deps, conn, pool=request.parallel) as client:
            client.gate = Gate(deps.monotonic, deps.sleep)
            return bulk.send_all(client, request.plan, flow=request.flow, parent=request.parent,
                                 parallel=request.parallel, journal=journal, emit=emit,
                                 clock=clock, settle=journals.settle_seconds(deps.env))
    finally:
        if journal is not None:
            journal.close()


# -- follow, update, start ------------------------------------------------------------------


def follow(deps: Deps, client: GraphClient, run_id: str, flow: str | None,
           options: WaitOptions, on_poll: OnPoll | None = None,
           sleep: Callable[[float], None] | None = None) -> WaitResult:
    """Poll a run until it ends (or the timeout); the result carries the exit code.

    *sleep* (default ``deps.sleep``) is the pause between polls, e.g. one that ticks."""
    from rundctl import runs
    from rundctl.wait import wait_for

    return wait_for(lambda: runs.get_run(client, run_id, flow), options,
                    monotonic=deps.monotonic, sleep=sleep or deps.sleep, on_poll=on_poll)


UPDATE_ATTEMPTS = 8


def update_checked(deps: Deps, client: GraphClient, flow: str, run_id: str,
                   changes: Overrides) -> dict[str, Any]:
    """PATCH only the given fields, checked against (and merged into) the stored run.

    When the service gives the run an ``@odata.etag``, the PATCH carries ``If-Match``: a run
    changed by someone else in between (412) is read again and the change merged again, so
    concurrent ``--stat`` updates never lose each other's keys.
    """
    from rundctl import model, runs
    from rundctl.errors import DraftSurfaceMissing, PreconditionFailed, TemporaryFailure

    for _ in range(UPDATE_ATTEMPTS):
        try:
            stored = runs.get_run(client, run_id, flow)
        except DraftSurfaceMissing as missing:
            raise runs.draft_surface_missing(missing, "update-run") from None
        patch = model.build_patch_payload(changes, stored, now=deps.clock())
        etag = stored.get("@odata.etag")
        try:
            return runs.update_run(client, flow, run_id, patch,
                                   etag=etag if isinstance(etag, str) and etag else None)
        except PreconditionFailed:
            continue
    raise TemporaryFailure(
        f"run {run_id} kept changing while it was updated ({UPDATE_ATTEMPTS} tries)",
        hint="nothing was applied; run the same update again")


class Started(NamedTuple):
    status: int
    client_request_id: str
    run: dict[str, Any] | None  # found only when asked to locate it


def start(deps: Deps, client: GraphClient, *, locate_within: float | None) -> Started:
    """Ask for an on-demand run; with *locate_within*, find the new run in the run list."""
    from rundctl import runs

    before = runs.recent_run_ids(client) if locate_within is not None else set()
    resp = runs.start_run(client)
    found = None
    if locate_within is not None:
        found = runs.locate_started_run(client, before, grace=locate_within,
                                        monotonic=deps.monotonic, sleep=deps.sleep)
    return Started(resp.status, resp.client_request_id, found)


# -- watch -------------------------------------------------------------------------------


def run_key(run: dict[str, Any]) -> tuple[object, ...]:
    """What makes a run 'changed' for ``list --watch``."""
    return (run.get("status"), run.get("endDateTime"), run.get("displayName"),
            run.get("@odata.etag"))


def watch(deps: Deps, fetch: Callable[[], list[dict[str, Any]]], interval: float,
          show: Callable[[list[dict[str, Any]], list[dict[str, Any]]], None]) -> None:
    """Fetch every *interval* seconds (longer when the service asks with Retry-After) and
    call ``show(all_runs, changed_runs)``; the first call has every run as changed. Runs
    until interrupted (Ctrl-C ends it; the caller turns that into exit 0)."""
    from rundctl.errors import TemporaryFailure

    seen: dict[str, tuple[object, ...]] = {}
    while True:
        pause = interval
        try:
            runs = fetch()
        except TemporaryFailure as busy:
            pause = max(interval, float(busy.retry_after or 0.0))
        else:
            changed = [r for r in runs if seen.get(str(r.get("id"))) != run_key(r)]
            seen = {str(r.get("id")): run_key(r) for r in runs}
            show(runs, changed)
        deps.sleep(pause)
