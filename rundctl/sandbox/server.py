"""The sandbox: a real local stand-in for Microsoft Graph's industryData runs (SPEC §9).

Standard library only: ``http.server`` (threaded, HTTP/1.1 keep-alive) in front of a SQLite
:class:`~rundctl.sandbox.store.RunStore`. It serves both surfaces of SPEC §1 — the seed's
``/industryData/incomingFlows/{flow}/runs`` and the published ``/external/industryData/...`` —
with Graph's error envelope, headers, paging and the OData options in :mod:`.odata`.

Paths may carry a leading ``/beta`` or ``/v1.0`` (so ``--endpoint http://host:port`` and
``.../beta`` both work); links the server emits keep the form the request came in with.
It never imports the client: the two meet only over HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import socketserver
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn, TextIO
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from rundctl import __version__, model
from rundctl.sandbox import faults, odata
from rundctl.sandbox.store import RunStore, Scope, StoredRun

MAX_BODY = 4 * 1024 * 1024
RUN_TYPE = "#microsoft.graph.industryData.industryDataRun"
FLOW_TYPE = "#microsoft.graph.industryData.inboundFileFlow"
# Runs made by `start` (which names no flow) belong to this fixed flow.
START_FLOW_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://rundctl.invalid/sandbox/start-flow"))
SEED_PROPERTIES = (
    "id",
    "displayName",
    "startDateTime",
    "endDateTime",
    "status",
    "blockingError",
    "statistics",
)
PUBLISHED_PROPERTIES = SEED_PROPERTIES[:-1]
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_HOST = re.compile(r"[A-Za-z0-9.\-]+(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")


@dataclass
class SandboxOptions:
    host: str = "127.0.0.1"
    port: int = 8765  # 0 = ephemeral
    db: str = ":memory:"  # a file path or ":memory:"
    require_token: str | None = None  # then every request needs "Authorization: Bearer <it>"
    run_seconds: float = 5.0  # runs made by `start` turn final after this long
    start_outcome: str = "completed"
    log: TextIO | None = None  # one line per request; None = silent
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep  # for injected latency
    # Faults (SPEC §9, after Microsoft Dev Proxy); the defaults inject none.
    seed: int | None = None  # one random.Random(seed) drives every fault decision
    fail_rate: float = 0.0  # probability that a request is answered with one of fail_codes
    fail_codes: tuple[int, ...] = faults.DEFAULT_CODES
    retry_after: float | None = None  # seconds, sent on fail-rate 429 and 503
    fault_after_commit: bool = False  # POST/PATCH faults commit first, then 500 or drop
    latency_ms: tuple[int, int] | None = None  # delay drawn uniformly in [lo, hi] ms
    rate_limit: tuple[int, float] | None = None  # N requests per WINDOW seconds (fixed window)
    retry_after_strict: bool = False  # 429 again for a client back before its Retry-After


# ---------------------------------------------------------------------------------------------
# Requests, responses and errors, independent of the socket layer


@dataclass
class Request:
    method: str
    target: str  # as received (path + query), for the log
    path: str  # percent-encoded path, prefix included
    segments: list[str]  # decoded, prefix removed
    prefix: str  # "", "/beta" or "/v1.0"
    query: list[tuple[str, str]]
    headers: Message
    body: bytes
    origin: str  # "http://host:port"
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_request_id: str = ""  # as sent, else generated
    remote: str = ""  # the peer's address, without port

    @property
    def client(self) -> str:
        """Who sent it, for retry_after_strict: the client-request-id it sent, else its address."""
        sent = (self.headers.get("client-request-id") or "").strip()
        return f"crid:{sent}" if sent else f"addr:{self.remote}"

    @property
    def root(self) -> str:
        """Absolute base of the API as the client addressed it."""
        return self.origin + self.prefix


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serialisable, or None for no body
    headers: list[tuple[str, str]] = field(default_factory=list)
    raw: bytes | None = None  # a non-JSON body (text/plain), e.g. $count
    close: bool = False
    drop: bool = False  # close the connection without sending anything
    fault: str | None = None  # the injected fault's kind, for the log


class GraphError(Exception):
    """An error answer in Graph's envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        details: list[dict[str, str]] | None = None,
        headers: list[tuple[str, str]] | None = None,
        inner_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details
        self.headers = headers or []
        self.inner_code = inner_code


def _bad_request(message: str) -> NoReturn:
    raise GraphError(400, "BadRequest", message)


# ---------------------------------------------------------------------------------------------
# Routing


FLOW = "{flow}"
RUN = "{run}"
_START = ("microsoft.graph.industryData.start", "start")
_STATISTICS = (
    "microsoft.graph.industryData.getStatistics()",
    "microsoft.graph.industryData.getStatistics",
    "getStatistics()",
    "getStatistics",
)
_SEED = ("industryData", "incomingFlows", FLOW, "runs")
_PUBLISHED = ("external", "industryData")

Pattern = tuple[str | tuple[str, ...], ...]
Handler = Callable[[Request, dict[str, str]], Response]


def _match(pattern: Pattern, segments: list[str]) -> tuple[int, dict[str, str] | None]:
    """How many segments *pattern* matches, and its parameters if it matches them all."""
    params: dict[str, str] = {}
    for depth, part in enumerate(pattern):
        if depth >= len(segments):
            return depth, None
        segment = segments[depth]
        if part in (FLOW, RUN):
            params["flow" if part == FLOW else "run"] = segment
            continue
        choices = part if isinstance(part, tuple) else (part,)
        if segment.lower() not in (c.lower() for c in choices):
            return depth, None
    if len(segments) != len(pattern):
        return len(pattern), None
    return len(pattern), params


class SandboxApi:
    """The request → response logic, testable without sockets."""

    def __init__(self, store: RunStore, options: SandboxOptions) -> None:
        self.store = store
        self.options = options
        self.clock = options.clock
        self._settle_lock = threading.Lock()
        self.faults = faults.FaultInjector(
            seed=options.seed,
            fail_rate=options.fail_rate,
            fail_codes=options.fail_codes,
            retry_after=options.retry_after,
            fault_after_commit=options.fault_after_commit,
            latency_ms=options.latency_ms,
            rate_limit=options.rate_limit,
            retry_after_strict=options.retry_after_strict,
            clock=options.clock,
            sleep=options.sleep,
        )
        self.routes: list[tuple[Pattern, dict[str, Handler]]] = [
            ((*_SEED,), {"GET": self.list_flow_runs, "POST": self.create_run}),
            ((*_SEED, RUN), {"GET": self.get_flow_run, "PATCH": self.patch_run}),
            (
                (*_SEED, RUN, "process", "runs"),
                {"GET": self.list_children, "POST": self.create_child},
            ),
            ((*_SEED, RUN, "process", "runs", RUN), {"GET": self.get_flow_run}),
            ((*_PUBLISHED, "runs"), {"GET": self.list_runs}),
            ((*_PUBLISHED, "runs", "$count"), {"GET": self.count_runs}),
            ((*_PUBLISHED, "runs", _START), {"POST": self.start_run}),
            ((*_PUBLISHED, "runs", RUN), {"GET": self.get_run}),
            ((*_PUBLISHED, "runs", RUN, _STATISTICS), {"GET": self.get_statistics}),
            ((*_PUBLISHED, "runs", RUN, "activities"), {"GET": self.list_activities}),
            ((*_PUBLISHED, "inboundFlows"), {"GET": self.list_flows}),
            ((*_PUBLISHED, "inboundFlows", FLOW), {"GET": self.get_flow}),
        ]

    # -- dispatch ------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        try:
            self._authorize(request)
            handler, params = self._route(request)
            return handler(request, params)
        except GraphError as error:
            return self.error_response(request, error)
        except odata.QueryError as exc:
            return self.error_response(request, GraphError(400, "BadRequest", str(exc)))
        except Exception:
            if self.options.log is not None:
                self.options.log.write(traceback.format_exc())
            internal = GraphError(500, "generalException", "The sandbox hit an internal error.")
            return self.error_response(request, internal)

    def error_response(self, request: Request, error: GraphError) -> Response:
        body: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.target is not None:
            body["target"] = error.target
        if error.details is not None:
            body["details"] = error.details
        inner: dict[str, str] = {} if error.inner_code is None else {"code": error.inner_code}
        body["innerError"] = {
            **inner,
            "date": datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": request.request_id,
            "client-request-id": request.client_request_id,
        }
        return Response(error.status, {"error": body}, list(error.headers))

    # -- faults (SPEC §9) ------------------------------------------------------------------------

    def serve(self, request: Request) -> Response:
        """:meth:`handle` behind the configured faults: latency, rate limit, errors, drops."""
        injector = self.faults
        if not injector.active:
            return self.handle(request)
        injector.delay()
        decision = injector.decide(request.method, request.client)
        fault = decision.fault
        if fault is None:
            response = self.handle(request)
        else:
            if fault.after_commit:
                self.handle(request)  # the service applied it; the client will never learn
            response = self.fault_response(request, fault)
        response.headers.extend(decision.headers)
        return response

    def fault_response(self, request: Request, fault: faults.Fault) -> Response:
        if fault.drop:
            return Response(0, close=True, drop=True, fault=fault.kind)
        error = GraphError(
            fault.status,
            faults.error_code(fault.status),
            faults.error_message(fault.status),
            headers=fault.retry_headers(),
            inner_code=faults.INNER_CODES.get(fault.status),
        )
        response = self.error_response(request, error)
        response.fault = fault.kind
        return response

    def _authorize(self, request: Request) -> None:
        expected = self.options.require_token
        if expected is None:
            return
        scheme, _, token = (request.headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode()):
            return
        message = (
            "Access token is empty."
            if not token.strip()
            else "Access token validation failure. Invalid audience or signature."
        )
        raise GraphError(
            401,
            "InvalidAuthenticationToken",
            message,
            headers=[("WWW-Authenticate", 'Bearer realm="rundctl-sandbox"')],
        )

    def _route(self, request: Request) -> tuple[Handler, dict[str, str]]:
        segments = request.segments
        deepest = 0
        for pattern, methods in self.routes:
            depth, params = _match(pattern, segments)
            if params is None:
                deepest = max(deepest, depth)
                continue
            handler = methods.get(request.method)
            if handler is None:
                allowed = ", ".join(methods)
                raise GraphError(
                    405,
                    "BadRequest",
                    f"The HTTP method '{request.method}' is not allowed on this resource; use {allowed}.",
                    headers=[("Allow", allowed)],
                )
            for name, value in params.items():
                if not _GUID.fullmatch(value):
                    kind = "flow" if name == "flow" else "run"
                    _bad_request(f"Invalid id '{value}': a {kind} id must be a GUID.")
                params[name] = value.lower()
            return handler, params
        if not segments:
            segment = "/"
        else:
            segment = segments[min(deepest, len(segments) - 1)]
        raise GraphError(404, "BadRequest", f"Resource not found for the segment '{segment}'.")

    # -- the seed surface: /industryData/incomingFlows/{flow}/runs -----------------------------

    def create_run(self, request: Request, params: dict[str, str]) -> Response:
        return self._create(request, params["flow"], None)

    def create_child(self, request: Request, params: dict[str, str]) -> Response:
        return self._create(request, params["flow"], params["run"])

    def _create(self, request: Request, flow: str, parent: str | None) -> Response:
        document = self._json_body(request)
        problems = model.validate_run(document)
        if problems:
            raise _validation_error(problems)
        assert isinstance(document, dict)
        if parent is not None and self.store.get(parent, flow) is None:
            raise self._run_not_found(parent, flow)
        normalized = model.normalize_run(document)
        # "@odata.type" first, then the new id, then the rest as normalized.
        body = {"@odata.type": normalized.get("@odata.type"), "id": str(uuid.uuid4())}
        body.update(normalized)
        run = self.store.create(body, flow_id=flow, parent_id=parent, now=self.clock())
        location = f"{request.root}/industryData/incomingFlows/{flow}/runs/{run.id}"
        return Response(201, self._seed_entity(request, run), [("Location", location)])

    def get_flow_run(self, request: Request, params: dict[str, str]) -> Response:
        query = self._item_query(request, SEED_PROPERTIES)
        self.settle()
        run = self.store.get(params["run"], params["flow"])
        if run is None:
            raise self._run_not_found(params["run"], params["flow"])
        return Response(200, self._seed_entity(request, run, query.select))

    def patch_run(self, request: Request, params: dict[str, str]) -> Response:
        patch = self._json_body(request)
        self.settle()
        run = self.store.get(params["run"], params["flow"])
        if run is None:
            raise self._run_not_found(params["run"], params["flow"])
        problems = model.validate_patch(patch, run.body)
        if problems:
            raise _validation_error(problems)
        assert isinstance(patch, dict)
        merged = {**model.merge_patch(run.body, patch), "id": run.id}
        # An explicit status wins over the pending outcome of a `start` run.
        self.store.update(run.id, merged, keep_schedule="status" not in patch)
        updated = self.store.get(run.id)
        assert updated is not None
        return Response(200, self._seed_entity(request, updated))

    def list_flow_runs(self, request: Request, params: dict[str, str]) -> Response:
        flow = params["flow"]
        context = f"industryData/incomingFlows('{flow}')/runs"
        return self._list(request, Scope(flow_id=flow), context, published=False)

    def list_children(self, request: Request, params: dict[str, str]) -> Response:
        flow, parent = params["flow"], params["run"]
        if self.store.get(parent, flow) is None:
            raise self._run_not_found(parent, flow)
        context = f"industryData/incomingFlows('{flow}')/runs('{parent}')/process/runs"
        return self._list(request, Scope(flow_id=flow, parent_id=parent), context, published=False)

    def _seed_entity(
        self, request: Request, run: StoredRun, select: tuple[str, ...] | None = None
    ) -> dict[str, Any]:
        context = f"{request.root}/$metadata#industryData/incomingFlows('{run.flow_id}')/runs/$entity"
        return {"@odata.context": context, **odata.apply_select(run.body, select)}

    # -- the published surface: /external/industryData/... ------------------------------------

    def list_runs(self, request: Request, params: dict[str, str]) -> Response:
        return self._list(request, Scope(), "external/industryData/runs", published=True)

    def count_runs(self, request: Request, params: dict[str, str]) -> Response:
        options = odata.normalize_options(request.query)
        where = None
        if "filter" in options:
            where = odata.parse_filter(options["filter"], model.RUN_STATUSES)
        self.settle()
        total = self.store.count(Scope(), where=where)
        return Response(200, raw=str(total).encode())

    def get_run(self, request: Request, params: dict[str, str]) -> Response:
        query = self._item_query(request, PUBLISHED_PROPERTIES)
        run = self._published_run(params["run"])
        context = f"{request.root}/$metadata#external/industryData/runs/$entity"
        entity = odata.apply_select(published_view(run), query.select)
        return Response(200, {"@odata.context": context, **entity})

    def get_statistics(self, request: Request, params: dict[str, str]) -> Response:
        run = self._published_run(params["run"])
        context = f"{request.root}/$metadata#microsoft.graph.industryData.industryDataRunStatistics"
        return Response(200, {"@odata.context": context, **run_statistics(run)})

    def list_activities(self, request: Request, params: dict[str, str]) -> Response:
        run = self._published_run(params["run"])
        context = f"{request.root}/$metadata#external/industryData/runs('{run.id}')/activities"
        return Response(200, {"@odata.context": context, "value": run_activities(run)})

    def start_run(self, request: Request, params: dict[str, str]) -> Response:
        now = self.clock()
        started = datetime.fromtimestamp(now, UTC)
        body: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "displayName": f"Run {started:%Y-%m-%d %H:%M} UTC",
            "startDateTime": _timestamp(now),
            "endDateTime": None,
            "status": "running",
            "statistics": {},
        }
        self.store.create(
            body,
            flow_id=START_FLOW_ID,
            now=now,
            due_at=now + self.options.run_seconds,
            outcome=self.options.start_outcome,
        )
        return Response(202)

    def list_flows(self, request: Request, params: dict[str, str]) -> Response:
        odata.normalize_options(request.query)
        context = f"{request.root}/$metadata#external/industryData/inboundFlows"
        flows = [flow_view(flow_id, first) for flow_id, first in self.store.flows()]
        return Response(200, {"@odata.context": context, "value": flows})

    def get_flow(self, request: Request, params: dict[str, str]) -> Response:
        found = self.store.flow(params["flow"])
        if found is None:
            raise GraphError(404, "itemNotFound", f"Inbound flow '{params['flow']}' was not found.")
        context = f"{request.root}/$metadata#external/industryData/inboundFlows/$entity"
        return Response(200, {"@odata.context": context, **flow_view(*found)})

    def _published_run(self, run_id: str) -> StoredRun:
        self.settle()
        run = self.store.get(run_id)
        if run is None:
            raise GraphError(404, "itemNotFound", f"Run '{run_id}' was not found.")
        return run

    # -- shared --------------------------------------------------------------------------------

    def _list(self, request: Request, scope: Scope, context: str, *, published: bool) -> Response:
        properties = PUBLISHED_PROPERTIES if published else SEED_PROPERTIES
        try:
            query = odata.parse_list_query(request.query, statuses=model.RUN_STATUSES, properties=properties)
        except odata.QueryError as exc:
            _bad_request(str(exc))
        self.settle()
        rows: list[StoredRun] = []
        if query.top > 0:
            rows = self.store.list_runs(
                scope,
                where=query.filter,
                descending=query.descending,
                after=query.cursor,
                offset=query.skip if query.cursor is None else 0,
                limit=query.top + 1,
            )
        body: dict[str, Any] = {"@odata.context": f"{request.root}/$metadata#{context}"}
        if query.count:
            body["@odata.count"] = self.store.count(scope, where=query.filter)
        if len(rows) > query.top:
            rows = rows[: query.top]
            token = odata.encode_skiptoken(rows[-1].cursor(query.descending))
            pairs = [*query.carried, ("$skiptoken", token)]
            link = f"{request.origin}{request.path}?{urlencode(pairs, quote_via=quote, safe='$')}"
            body["@odata.nextLink"] = link
        views = [published_view(r) if published else r.body for r in rows]
        body["value"] = [odata.apply_select(v, query.select) for v in views]
        return Response(200, body)

    def _item_query(self, request: Request, properties: tuple[str, ...]) -> odata.ListQuery:
        return odata.parse_item_query(request.query, properties=properties)

    def _json_body(self, request: Request) -> object:
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise GraphError(
                415,
                "UnsupportedMediaType",
                f"Content-Type '{content_type or '(none)'}' is not supported; send application/json.",
            )
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            _bad_request("The request body is not valid UTF-8.")
        if not text.strip():
            _bad_request("The request body is empty; a JSON object is required.")
        try:
            return json.loads(
                text.removeprefix("\ufeff"),
                object_pairs_hook=_no_duplicates,
                parse_constant=_no_constant,
            )
        except ValueError as exc:
            _bad_request(f"The request body is not valid JSON: {exc}")

    def _run_not_found(self, run_id: str, flow: str) -> GraphError:
        return GraphError(404, "itemNotFound", f"Run '{run_id}' was not found in flow '{flow}'")

    def settle(self) -> None:
        """Give runs made by ``start`` their outcome once it is due (lazy, no timer thread)."""
        now = self.clock()
        with self._settle_lock:
            for run in self.store.due(now):
                outcome = run.outcome or "completed"
                body = dict(run.body)
                body["status"] = outcome
                body["endDateTime"] = _timestamp(run.due_at if run.due_at is not None else now)
                body["statistics"] = generated_statistics(run.id, outcome)
                if outcome == "failed":
                    body["blockingError"] = {
                        "code": "sandboxOutcome",
                        "message": "The sandbox ended this run as failed (--start-outcome).",
                    }
                self.store.settle(run.id, body)


# ---------------------------------------------------------------------------------------------
# Views and generated data


def published_view(run: StoredRun) -> dict[str, Any]:
    """The run as ``/external/industryData/runs`` shows it (no seed-only ``statistics``)."""
    body = run.body
    return {
        "@odata.type": RUN_TYPE,
        "id": run.id,
        "displayName": body.get("displayName"),
        "startDateTime": body.get("startDateTime"),
        "endDateTime": body.get("endDateTime"),
        "status": body.get("status"),
        "blockingError": body.get("blockingError"),
    }


def flow_view(flow_id: str, first_seen: float) -> dict[str, Any]:
    return {
        "@odata.type": FLOW_TYPE,
        "id": flow_id,
        "displayName": f"Sandbox flow {flow_id[:8]}",
        "dataDomain": "educationRostering",
        "effectiveDateTime": _timestamp(first_seen),
        "expirationDateTime": None,
        "readinessStatus": "ready",
    }


def _activity_status(run_status: object) -> str:
    if run_status == "running":
        return "inProgress"
    if run_status in ("failed", "completed", "completedWithErrors", "completedWithWarnings"):
        return str(run_status)
    return "unknownFutureValue"


def _activity_id(run: StoredRun) -> str:
    return str(uuid.uuid5(uuid.UUID(run.id), run.flow_id))


def run_activities(run: StoredRun) -> list[dict[str, Any]]:
    """One inbound flow activity per run: the flow it ran in."""
    return [
        {
            "@odata.type": "#microsoft.graph.industryData.inboundFlowActivity",
            "id": _activity_id(run),
            "displayName": f"Sandbox flow {run.flow_id[:8]}",
            "status": _activity_status(run.body.get("status")),
            "blockingError": run.body.get("blockingError"),
        }
    ]


_COUNT_KEYS = ("people", "groups", "memberships", "organizations", "errors", "warnings")


def generated_statistics(run_id: str, status: str) -> dict[str, int]:
    """Deterministic, plausible counts for a run (the same id always gives the same numbers)."""
    digest = hashlib.sha256(run_id.encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    people = 200 + number % 4800
    counts = {
        "people": people,
        "groups": people // 12 + 3,
        "memberships": people * 4 + number % 97,
        "organizations": 1 + number % 9,
        "errors": 0,
        "warnings": 0,
    }
    if status == "completedWithErrors":
        counts["errors"] = 1 + number % 23
    if status in ("completedWithErrors", "completedWithWarnings"):
        counts["warnings"] = 1 + (number >> 8) % 41
    return counts


def _stat_counts(run: StoredRun) -> dict[str, int]:
    """Counts from the run's own ``statistics`` where it has them, generated otherwise."""
    status = str(run.body.get("status"))
    counts = generated_statistics(run.id, status)
    stored = run.body.get("statistics")
    if isinstance(stored, dict):
        lowered = {str(k).lower(): v for k, v in stored.items()}
        for key in _COUNT_KEYS:
            value = lowered.get(key)
            if isinstance(value, dict):
                value = value.get("total")
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                counts[key] = value
    return counts


def run_statistics(run: StoredRun) -> dict[str, Any]:
    """An ``industryDataRunStatistics`` object for the run (GRAPH.md §2.7)."""
    counts = _stat_counts(run)
    students = counts["people"] * 4 // 5
    by_role = [
        {"role": "student", "count": students},
        {"role": "teacher", "count": counts["people"] - students},
    ]

    def metric(total: int) -> dict[str, int]:
        inactive = total // 20
        return {"active": total - inactive, "inactive": inactive, "total": total}

    activity = run_activities(run)[0]
    return {
        "@odata.type": "#microsoft.graph.industryData.industryDataRunStatistics",
        "runId": run.id,
        "status": run.body.get("status"),
        "activityStatistics": [
            {
                "@odata.type": "#microsoft.graph.industryData.inboundActivityResults",
                "activityId": activity["id"],
                "displayName": activity["displayName"],
                "status": activity["status"],
                "errors": counts["errors"],
                "warnings": counts["warnings"],
                "groups": metric(counts["groups"]),
                "memberships": metric(counts["memberships"]),
                "organizations": metric(counts["organizations"]),
                "people": metric(counts["people"]),
                "matchedPeopleByRole": by_role,
                "unmatchedPeopleByRole": [],
            }
        ],
        "inboundTotals": {
            "errors": counts["errors"],
            "warnings": counts["warnings"],
            "groups": counts["groups"],
            "memberships": counts["memberships"],
            "organizations": counts["organizations"],
            "people": counts["people"],
            "matchedPeopleByRole": by_role,
            "unmatchedPeopleByRole": [],
        },
    }


def _timestamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _validation_error(problems: list[Any]) -> GraphError:
    first = problems[0]
    if len(problems) == 1:
        message = str(first)
    else:
        shown = "; ".join(str(p) for p in problems[:5])
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        message = f"{len(problems)} problems: {shown}{more}"
    details = [{"code": "invalidValue", "message": str(p), "target": p.path} for p in problems]
    return GraphError(400, "invalidRequest", message, target=first.path, details=details)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


# ---------------------------------------------------------------------------------------------
# The HTTP layer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up stop()

    def __init__(self, address: tuple[str, int], api: SandboxApi, base_url: str) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.api = api
        self.base_url = base_url
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.log_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can stall.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"rundctl-sandbox/{__version__}"
    sys_version = ""
    wbufsize = -1  # buffer each response and send it in one write (see handle_one_request)
    disable_nagle_algorithm = True  # with HTTP/1.1 keep-alive, Nagle adds ~40 ms per response
    timeout = 300  # idle keep-alive connections are closed after this
    server: _Server

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's stderr logging; requests are logged by :meth:`_log`."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol-level errors (bad request line, unknown method, ...) as Graph envelopes."""
        self.close_connection = True
        try:
            status = HTTPStatus(code)
            text = message or status.phrase
        except ValueError:
            text = message or "Error"
        request = Request(
            method=getattr(self, "command", None) or "-",
            target=getattr(self, "path", "") or "-",
            path="",
            segments=[],
            prefix="",
            query=[],
            headers=Message(),
            body=b"",
            origin=self.server.base_url,
        )
        code_name = "BadRequest" if code < 500 else "generalException"
        if code == 501:
            code_name = "notSupported"
        error = GraphError(code, code_name, text)
        self._respond(request, self.server.api.error_response(request, error), time.perf_counter())

    def _dispatch(self) -> None:
        started = time.perf_counter()
        split = urlsplit(self.path)
        raw_segments = [s for s in split.path.split("/")]
        segments = [unquote(s) for s in raw_segments[1:]]
        if segments and segments[-1] == "":
            segments.pop()  # one trailing slash is tolerated
        prefix = ""
        if segments and segments[0].lower() in ("beta", "v1.0"):
            prefix = "/" + segments.pop(0).lower()
        client_request_id = (self.headers.get("client-request-id") or "").strip()[:200]
        request = Request(
            method=self.command,
            target=self.path,
            path=split.path,
            segments=segments,
            prefix=prefix,
            query=parse_qsl(split.query, keep_blank_values=True),
            headers=self.headers,
            body=b"",
            origin=self._origin(),
            client_request_id=client_request_id or str(uuid.uuid4()),
            remote=str(self.client_address[0]) if self.client_address else "",
        )
        try:
            request.body = self._read_body()
        except GraphError as error:
            response = self.server.api.error_response(request, error)
            response.close = True
        else:
            response = self.server.api.serve(request)
        self._respond(request, response, started)

    def _origin(self) -> str:
        host = (self.headers.get("Host") or "").strip()
        if host and _HOST.fullmatch(host):
            return f"http://{host}"
        return self.server.base_url

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError(length_text)
        except ValueError:
            raise GraphError(400, "BadRequest", "Invalid Content-Length header.") from None
        if length > MAX_BODY:
            raise _too_large()
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise GraphError(400, "BadRequest", "Malformed chunked body.") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                raise _too_large()
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)

    def _respond(self, request: Request, response: Response, started: float) -> None:
        if response.drop:
            # "The service applied it but the client never learned": no status line at all.
            self.close_connection = True
            self._log(request, response, started)
            return
        if response.raw is not None:
            payload, content_type = response.raw, "text/plain; charset=utf-8"
        elif response.body is not None:
            payload = json.dumps(response.body, ensure_ascii=False, separators=(",", ":")).encode()
            content_type = "application/json; charset=utf-8"
        else:
            payload, content_type = b"", None
        if response.close:
            self.close_connection = True
        self.send_response(response.status)
        self.send_header("request-id", request.request_id)
        self.send_header("client-request-id", request.client_request_id or str(uuid.uuid4()))
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if payload and request.method != "HEAD":
            self.wfile.write(payload)
        self._log(request, response, started)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: see :meth:`_log`."""

    def _log(self, request: Request, response: Response, started: float) -> None:
        log = self.server.api.options.log
        if log is None:
            return
        line = log_line(
            self.server.api.clock(),
            request,
            response,
            (time.perf_counter() - started) * 1000,
        )
        with self.server.log_lock:
            try:
                log.write(line + "\n")
                log.flush()
            except (OSError, ValueError):
                pass


_UNSAFE = re.compile(r"[^\x21-\x7e]")


def log_line(now: float, request: Request, response: Response, elapsed_ms: float) -> str:
    """``<ISO time> <METHOD> <target> <status> <ms>ms crid=<id> [fault=<kind>]``; one line."""

    def safe(text: str) -> str:
        return _UNSAFE.sub(lambda m: quote(m.group(), safe=""), text) or "-"

    moment = datetime.fromtimestamp(now, UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    status = "-" if response.drop else str(response.status)
    crid = (request.headers.get("client-request-id") or "").strip()
    line = (
        f"{stamp} {safe(request.method)} {safe(request.target)} {status} {elapsed_ms:.1f}ms"
        f" crid={safe(crid[:200])}"
    )
    if response.fault is not None:
        line += f" fault={response.fault}"
    return line


def _too_large() -> GraphError:
    return GraphError(
        413, "RequestEntityTooLarge", f"The request body exceeds {MAX_BODY // (1024 * 1024)} MiB."
    )


# ---------------------------------------------------------------------------------------------
# The public object


class Sandbox:
    """A sandbox server: ``start()`` in a daemon thread, or ``serve_forever()`` in this one."""

    def __init__(self, options: SandboxOptions) -> None:
        if options.start_outcome not in model.FINAL_STATUSES:
            finals = [s for s in model.RUN_STATUSES if s in model.FINAL_STATUSES]
            raise ValueError(
                f"start_outcome {options.start_outcome!r} is not a final status; "
                f"use one of {', '.join(finals)}"
            )
        if options.run_seconds < 0:
            raise ValueError("run_seconds must not be negative")
        faults.check_options(
            fail_rate=options.fail_rate,
            fail_codes=options.fail_codes,
            retry_after=options.retry_after,
            latency_ms=options.latency_ms,
            rate_limit=options.rate_limit,
        )
        self.options = options
        self._server: _Server | None = None
        self._store: RunStore | None = None
        self._thread: threading.Thread | None = None
        self._serving = False
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """``http://host:port`` (no ``/beta``); binding the socket on first use."""
        return self._bind().base_url

    def _bind(self) -> _Server:
        with self._lock:
            if self._server is None:
                if self.options.db != ":memory:":
                    Path(self.options.db).expanduser().parent.mkdir(parents=True, exist_ok=True)
                store = RunStore(
                    self.options.db
                    if self.options.db == ":memory:"
                    else str(Path(self.options.db).expanduser())
                )
                try:
                    api = SandboxApi(store, self.options)
                    server = _Server((self.options.host, self.options.port), api, "")
                except BaseException:
                    store.close()
                    raise
                host, port = self.options.host, int(server.server_address[1])
                shown = f"[{host}]" if ":" in host else host
                server.base_url = f"http://{shown}:{port}"
                self._store, self._server = store, server
            return self._server

    def start(self) -> str:
        """Bind and serve in a daemon thread; return the base URL."""
        server = self._bind()
        with self._lock:
            if self._thread is None:
                self._serving = True
                self._thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.01},  # stop() waits up to one poll
                    name="rundctl-sandbox",
                    daemon=True,
                )
                self._thread.start()
        return server.base_url

    def serve_forever(self) -> None:
        """Serve until :meth:`stop` (from another thread) or KeyboardInterrupt."""
        if self._thread is not None:
            while self._thread.is_alive():
                self._thread.join(0.5)
            return
        server = self._bind()
        self._serving = True
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            self._serving = False

    def stop(self) -> None:
        """Stop serving, drop open connections and close the database. Idempotent."""
        with self._lock:
            server, store, thread = self._server, self._store, self._thread
            self._server = self._store = self._thread = None
        if server is not None:
            if self._serving:
                server.shutdown()
                self._serving = False
            server.close_connections()
            server.server_close()
        if thread is not None:
            thread.join(5)
        if store is not None:
            store.close()

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - manual use
    """``python -m rundctl.sandbox.server [PORT]``: serve an in-memory sandbox."""
    args = sys.argv[1:] if argv is None else argv
    port = int(args[0]) if args else 8765
    sandbox = Sandbox(SandboxOptions(port=port, log=sys.stderr))
    print(sandbox.base_url, flush=True)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
