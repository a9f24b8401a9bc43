"""The work behind the run commands: one function per operation, on a GraphClient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from rundctl import reconcile, routes
from rundctl.client import (
    PERMISSION_FLOWS,
    PERMISSION_READ,
    PERMISSION_START,
    GraphClient,
    Response,
)
from rundctl.errors import (
    ApiErrorInfo,
    BadResponse,
    DraftSurfaceMissing,
    NotFound,
    OutcomeUnknown,
    PreconditionFailed,
    Rejected,
)
from rundctl.reconcile import Baseline, Claims, LookupInconclusive

MAX_TOP = 999


_UNKNOWN_SEGMENT = "resource not found for the segment"
_READ_ONLY_HINT = ("runs are read-only in Microsoft's published industryData API: 'rundctl start' "
                   "asks the service for an on-demand run, and 'rundctl list' shows the runs it "
                   "makes (see docs/api.md)")


def draft_surface_missing(exc: Rejected, what: str) -> Rejected:
    """*exc* as :class:`DraftSurfaceMissing` when the service says the draft paths do not
    exist (400 "Resource not found for the segment …", or 405 on a read-only run)."""
    info = exc.info
    message = (info.message or "").lower()
    if not ((info.status == 400 and _UNKNOWN_SEGMENT in message) or info.status == 405):
        return exc
    return DraftSurfaceMissing(
        f"this service does not offer the draft {what} API (HTTP {info.status}: "
        f"{info.message or info.code or 'not allowed'})", info, hint=_READ_ONLY_HINT)


def create_run(
    client: GraphClient,
    flow: str,
    payload: dict[str, Any],
    parent: str | None = None,
    *,
    on_recovered: Callable[[dict[str, Any]], object] | None = None,
    encoded: bytes | None = None,
    baseline: Baseline | None = None,
    claims: Claims | None = None,
) -> dict[str, Any]:
    """POST the run. When the outcome is unknown, look once (read-only) for a run this
    command provably made (see :mod:`rundctl.reconcile`); otherwise raise OutcomeUnknown.

    Without a *baseline*, one is taken first (the runs with this start that exist now).
    """
    if baseline is None:
        start = payload.get("startDateTime")
        baseline = (reconcile.snapshot(client, flow, parent, start, start)
                    if isinstance(start, str) else Baseline.unknown())
    try:
        try:
            resp = client.send("POST", client.url(reconcile.collection(flow, parent)),
                               body=encoded or payload, kind="create")
        except Rejected as rejected:
            raise draft_surface_missing(rejected, "Create-run") from None
        body = resp.body
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
            raise OutcomeUnknown(
                f"the service answered HTTP {resp.status} without the created run",
                hint=f"client-request-id {resp.client_request_id}; list the flow's runs to "
                "check before running again",
            )
        return body
    except OutcomeUnknown as unknown:
        found = _recover(client, flow, parent, payload, baseline, claims or Claims(), unknown)
    if on_recovered is not None:
        on_recovered(found)
    return found


def _recover(client: GraphClient, flow: str, parent: str | None, payload: dict[str, Any],
             baseline: Baseline, claims: Claims, unknown: OutcomeUnknown) -> dict[str, Any]:
    try:
        run, listed = reconcile.recover(client, flow, parent, payload, baseline, claims)
    except LookupInconclusive as failed:
        unknown.message += f"; checking for the run did not work either ({failed.message})"
        raise unknown from None
    if run is not None:
        return run
    if listed:
        unknown.message += (f"; {listed} run(s) with this body exist, but rundctl cannot prove "
                            "this command created any of them")
    else:
        unknown.message += "; a lookup found no run with this body (yet)"
    raise unknown from None


def get_run(client: GraphClient, run: str, flow: str | None = None) -> dict[str, Any]:
    path = (
        routes.path("flow_run", flow=flow, run=run) if flow else routes.path("run", run=run)
    )
    try:
        body: dict[str, Any] = client.get_json(path, permission=PERMISSION_READ)
    except Rejected as rejected:
        raise draft_surface_missing(rejected, "runs-of-a-flow") if flow else rejected from None
    if "id" not in body:
        raise BadResponse("unreadable response from the service: the run has no id")
    return body


class RunFilter(NamedTuple):
    """What ``list`` asks for; sent as OData and re-checked on each item as it arrives."""

    statuses: tuple[str, ...] = ()
    since: str | None = None  # UTC "...Z", inclusive
    until: str | None = None  # UTC "...Z", inclusive

    def odata(self) -> str | None:
        clauses = []
        if self.statuses:
            ors = " or ".join(f"status eq '{s}'" for s in self.statuses)
            clauses.append(f"({ors})" if len(self.statuses) > 1 else ors)
        if self.since:
            clauses.append(f"startDateTime ge {self.since}")
        if self.until:
            clauses.append(f"startDateTime le {self.until}")
        return " and ".join(clauses) or None

    def matches(self, run: dict[str, Any]) -> bool:
        """Client-side check, for services that ignore part of ``$filter``."""
        if self.statuses and run.get("status") not in self.statuses:
            return False
        if self.since or self.until:
            start = run.get("startDateTime")
            key = _time_key(start)
            if key is None:
                return False
            if self.since and key < _time_key(self.since):  # type: ignore[operator]
                return False
            if self.until and key > _time_key(self.until):  # type: ignore[operator]
                return False
        return True


def _time_key(value: object) -> tuple[str, int] | None:
    from rundctl.model import parse_timestamp, timestamp_key

    if not isinstance(value, str):
        return None
    try:
        return timestamp_key(parse_timestamp(value))
    except ValueError:
        return None


def list_runs(
    client: GraphClient,
    flow: str | None,
    *,
    limit: int | None,
    where: RunFilter | None = None,
    on_more: Callable[[], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Runs newest first; stop after *limit* (None = all) and call *on_more* if cut."""
    where = where or RunFilter()
    path = routes.path("flow_runs", flow=flow) if flow else routes.path("runs")
    params = {"$orderby": "startDateTime desc"}
    if limit:
        params["$top"] = str(min(limit, MAX_TOP))
    expr = where.odata()
    if expr:
        params["$filter"] = expr
    seen = {"left": 0, "next": False}

    def on_page(page: dict[str, Any]) -> None:
        value = page.get("value")
        seen["left"] = len(value) if isinstance(value, list) else 0
        seen["next"] = bool(page.get("@odata.nextLink"))

    count = 0
    items = client.iter_collection(path, params, on_page=on_page)
    if flow:
        items = _draft_reads(items)
    for item in items:
        seen["left"] -= 1
        if not where.matches(item):
            continue
        yield item
        count += 1
        if limit is not None and count >= limit:
            if on_more is not None and (seen["left"] > 0 or seen["next"]):
                on_more()
            return


def _draft_reads(items: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    try:
        yield from items
    except Rejected as rejected:
        raise draft_surface_missing(rejected, "runs-of-a-flow") from None


def update_run(
    client: GraphClient, flow: str, run: str, patch: dict[str, Any], *,
    etag: str | None = None,
) -> dict[str, Any]:
    """PATCH the run; with *etag*, only if it is still the version read (else 412,
    :class:`~rundctl.errors.PreconditionFailed`)."""
    path = routes.path("flow_run", flow=flow, run=run)
    try:
        resp = client.send("PATCH", client.url(path), body=patch, kind="update",
                           headers={"If-Match": etag} if etag else None)
    except PreconditionFailed:
        raise
    except Rejected as rejected:
        raise draft_surface_missing(rejected, "update-run") from None
    if isinstance(resp.body, dict) and isinstance(resp.body.get("id"), str) and resp.body["id"]:
        return resp.body
    return get_run(client, run, flow)  # a 204 answer (or no usable body): read the run back


PREFIX_SCAN = 1000


def resolve_run(client: GraphClient, ref: str, flow: str | None) -> str:
    """A run ID from a whole GUID, or from an unambiguous prefix of one (as a narrow table
    shows them): the flow's runs (or all runs) are looked through, newest first."""
    if len(ref) == 36:
        return ref
    matches: list[str] = []
    for run in list_runs(client, flow, limit=PREFIX_SCAN):
        run_id = str(run.get("id", ""))
        if run_id.lower().startswith(ref):
            matches.append(run_id)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"no run ID starts with '{ref}' among the newest {PREFIX_SCAN} runs"
                       + (" of the flow" if flow else ""), ApiErrorInfo(status=404),
                       hint="give the whole ID (rundctl list -o id)")
    from rundctl.errors import UsageError

    shown = ", ".join(matches[:5]) + (" …" if len(matches) > 5 else "")
    raise UsageError(f"RUN: '{ref}' is the start of {len(matches)} run IDs: {shown}",
                     hint="give more characters, or the whole ID")


def get_statistics(client: GraphClient, run: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get_json(routes.path("run_statistics", run=run))
    return body


def list_activities(client: GraphClient, run: str) -> Iterator[dict[str, Any]]:
    return client.iter_collection(routes.path("run_activities", run=run))


def list_flows(client: GraphClient) -> Iterator[dict[str, Any]]:
    return client.iter_collection(routes.path("flows"), permission=PERMISSION_FLOWS)


def get_flow(client: GraphClient, flow: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get_json(routes.path("flow", flow=flow),
                                           permission=PERMISSION_FLOWS)
    return body


def recent_run_ids(client: GraphClient, count: int = 50) -> set[str]:
    return {str(r.get("id")) for r in list_runs(client, None, limit=count)}


def start_run(client: GraphClient) -> Response:
    """POST .../runs/start: 202 and no body; the new run has to be found by listing."""
    return client.send("POST", client.url(routes.path("start")), kind="create",
                       permission=PERMISSION_START)


def find_new_run(client: GraphClient, before: set[str]) -> dict[str, Any] | None:
    """The newest run not in *before* (the runs that existed before ``start``)."""
    for run in list_runs(client, None, limit=20):
        if str(run.get("id")) not in before:
            return run
    return None


def locate_started_run(
    client: GraphClient,
    before: set[str],
    *,
    grace: float,
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """Poll the run list until the run made by ``start`` shows up (at most *grace* s)."""
    began = monotonic()
    while True:
        found = find_new_run(client, before)
        if found is not None:
            return found
        if monotonic() - began >= grace:
            raise NotFound(
                f"the started run did not appear in the run list within {grace:.0f}s",
                ApiErrorInfo(status=404),
                hint="run 'rundctl list --limit 5' to look for it",
            )
        sleep(2.0)
