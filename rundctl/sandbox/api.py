"""Routes and handlers: a request in, a response out — no SQL, no sockets.

Each handler parses the request (path parameters, OData options, the JSON body), calls the
:class:`~.backend.RunBackend`, and serialises the result with :mod:`.views` through the one
query engine (:mod:`.odata`). It serves the surfaces chosen (docs/api.md): the seed's draft
``/industryData/incomingFlows/{flow}/runs``, the published ``/external/industryData/...``, or
both; a path outside them is Graph's 400 "Resource not found for the segment", a method a path
does not declare a 405 with ``Allow``. In front of the handlers sit the token check and the
configured faults (:mod:`.faults`).
"""

from __future__ import annotations

import hmac
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import quote, urlencode

from rundctl import jsonio
from rundctl.errors import InvalidInput
from rundctl.sandbox import edm, faults, odata, views
from rundctl.sandbox.backend import RunBackend, Year
from rundctl.sandbox.messages import GraphError, IfMatch, Request, Response, bad_request
from rundctl.sandbox.options import Surface
from rundctl.sandbox.store import Scope, StoredFlow, StoredRun, StoreUnavailable

_UTF8_BOM = b"\xef\xbb\xbf"
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")

# ---------------------------------------------------------------------------------------------
# Routing


FLOW = "{flow}"
RUN = "{run}"
ACTIVITY = "{activity}"
CONNECTOR = "{connector}"
YEAR = "{year}"
_PARAMETERS = {FLOW: "flow", RUN: "run", ACTIVITY: "activity", CONNECTOR: "data connector", YEAR: "year"}
# Bound functions and actions carry Org.OData.Core.V1.DefaultNamespace: the short name works too.
_START = ("microsoft.graph.industryData.start", "start")
_STATISTICS = (
    "microsoft.graph.industryData.getStatistics()",
    "microsoft.graph.industryData.getStatistics",
    "getStatistics()",
    "getStatistics",
)
_SEED = ("industryData", "incomingFlows", FLOW, "runs")
_PUBLISHED = ("external", "industryData")
_READ_ONLY_RUNS = (
    " Runs are read-only in Microsoft Graph (industryDataRun is not insertable, updatable or "
    "deletable); ask for an on-demand run with POST /external/industryData/runs/"
    "microsoft.graph.industryData.start."
)

Pattern = tuple[str | tuple[str, ...], ...]
Handler = Callable[[Request, dict[str, str]], Response]


@dataclass(frozen=True)
class Route:
    pattern: Pattern
    methods: dict[str, Handler]
    note: str = ""  # added to the message of a 405


def _match(pattern: Pattern, segments: list[str]) -> tuple[int, dict[str, str] | None]:
    """How many segments *pattern* matches, and its parameters if it matches them all."""
    params: dict[str, str] = {}
    for depth, part in enumerate(pattern):
        if depth >= len(segments):
            return depth, None
        segment = segments[depth]
        if isinstance(part, str) and part in _PARAMETERS:
            params[part] = segment
            continue
        choices = part if isinstance(part, tuple) else (part,)
        if segment.lower() not in (c.lower() for c in choices):
            return depth, None
    if len(segments) != len(pattern):
        return len(pattern), None
    return len(pattern), params


class SandboxApi:
    """The request → response logic, testable without sockets."""

    def __init__(
        self,
        backend: RunBackend,
        *,
        injector: faults.FaultInjector | None = None,
        require_token: str | None = None,
        log: TextIO | None = None,
        clock: Callable[[], float] = time.time,
        surface: Surface = "both",
    ) -> None:
        self.backend = backend
        self.faults = injector or faults.FaultInjector(clock=clock)
        self.require_token = require_token
        self.log = log
        self.clock = clock
        self.surface = surface
        self.routes: list[Route] = []
        # Prefixes of paths Graph knows beyond the routes served, so that the segment named
        # in a 400 "Resource not found" is the first one Graph would not know: on the
        # published surface, '/industryData/incomingFlows/...' names 'incomingFlows'.
        self.known: list[Pattern] = []
        if surface in ("both", "draft"):
            self.routes += self._seed_routes()
        if surface in ("both", "published"):
            self.routes += self._published_routes()
        if surface == "published":
            self.known.append(("industryData",))
        self._runs_order = odata.parse_orderby("startDateTime desc", edm.RUN)

    def _seed_routes(self) -> list[Route]:
        return [
            Route((*_SEED,), {"GET": self.list_flow_runs, "POST": self.create_run}),
            Route((*_SEED, RUN), {"GET": self.get_flow_run, "PATCH": self.patch_run}),
            Route((*_SEED, RUN, "process", "runs"), {"GET": self.list_children, "POST": self.create_child}),
            Route((*_SEED, RUN, "process", "runs", RUN), {"GET": self.get_flow_run}),
        ]

    def _published_routes(self) -> list[Route]:
        runs = (*_PUBLISHED, "runs")
        activities = (*runs, RUN, "activities")
        flows = (*_PUBLISHED, "inboundFlows")
        connectors = (*_PUBLISHED, "dataConnectors")
        years = (*_PUBLISHED, "years")
        return [
            Route(_PUBLISHED, {"GET": self.get_root}),
            Route(runs, {"GET": self.list_runs}, _READ_ONLY_RUNS),
            Route((*runs, "$count"), {"GET": self.count_runs}),
            Route((*runs, _START), {"POST": self.start_run}),
            Route((*runs, _STATISTICS), {"GET": self.latest_statistics}),
            Route((*runs, RUN), {"GET": self.get_run}, _READ_ONLY_RUNS),
            Route((*runs, RUN, _STATISTICS), {"GET": self.get_statistics}),
            Route(activities, {"GET": self.list_activities}),
            Route((*activities, "$count"), {"GET": self.count_activities}),
            Route((*activities, ACTIVITY), {"GET": self.get_activity}),
            Route((*activities, ACTIVITY, "activity"), {"GET": self.get_activity_flow}),
            Route(flows, {"GET": self.list_flows}),
            Route((*flows, "$count"), {"GET": self.count_flows}),
            Route((*flows, FLOW), {"GET": self.get_flow}),
            Route((*flows, FLOW, "dataConnector"), {"GET": self.get_flow_connector}),
            Route((*flows, FLOW, "year"), {"GET": self.get_flow_year}),
            Route(connectors, {"GET": self.list_connectors}),
            Route((*connectors, "$count"), {"GET": self.count_connectors}),
            Route((*connectors, CONNECTOR), {"GET": self.get_connector}),
            Route(years, {"GET": self.list_years}),
            Route((*years, "$count"), {"GET": self.count_years}),
            Route((*years, YEAR), {"GET": self.get_year}),
        ]

    # -- dispatch ------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        mark = self.backend.commits()
        try:
            self._authorize(request)
            handler, params = self._route(request)
            return handler(request, params)
        except GraphError as error:
            return self.error_response(request, error)
        except odata.QueryError as exc:
            return self.error_response(request, GraphError(400, "BadRequest", str(exc)))
        except StoreUnavailable as exc:
            written = self.backend.commits() != mark and request.method not in ("GET", "HEAD")
            return self.error_response(request, _store_error(exc, written=written))
        except Exception:
            if self.log is not None:
                self.log.write(traceback.format_exc())
            internal = GraphError(500, "generalException", "The sandbox hit an internal error.")
            return self.error_response(request, internal)

    def error_response(self, request: Request, error: GraphError) -> Response:
        body = views.error_envelope(
            error,
            now=self.clock(),
            request_id=request.request_id,
            client_request_id=request.client_request_id,
        )
        return Response(error.status, body, list(error.headers))

    # -- faults (docs/sandbox.md) --------------------------------------------------------------

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
        if fault.status == 429:
            error = views.throttled(fault.retry_headers())
        else:
            error = GraphError(
                fault.status,
                faults.error_code(fault.status),
                faults.error_message(fault.status),
                headers=fault.retry_headers(),
            )
        response = self.error_response(request, error)
        response.fault = fault.kind
        return response

    def _authorize(self, request: Request) -> None:
        expected = self.require_token
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
        for route in self.routes:
            depth, found = _match(route.pattern, segments)
            if found is None:
                deepest = max(deepest, depth)
                continue
            handler = route.methods.get(request.method)
            if handler is None:
                allowed = ", ".join(route.methods)
                raise GraphError(
                    405,
                    "BadRequest",
                    f"The HTTP method '{request.method}' is not allowed on this resource; it allows "
                    f"{allowed}.{route.note}",
                    headers=[("Allow", allowed)],
                )
            params: dict[str, str] = {}
            for placeholder, value in found.items():
                if not _GUID.fullmatch(value):
                    bad_request(f"Invalid id '{value}': a {_PARAMETERS[placeholder]} id must be a GUID.")
                params[placeholder.strip("{}")] = value.lower()
            return handler, params
        for pattern in self.known:
            deepest = max(deepest, _match(pattern, segments)[0])
        if not segments:
            segment = "/"
        else:
            segment = segments[min(deepest, len(segments) - 1)]
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")

    # -- the seed surface: /industryData/incomingFlows/{flow}/runs -----------------------------

    def create_run(self, request: Request, params: dict[str, str]) -> Response:
        return self._create(request, params["flow"], None)

    def create_child(self, request: Request, params: dict[str, str]) -> Response:
        return self._create(request, params["flow"], params["run"])

    def _create(self, request: Request, flow: str, parent: str | None) -> Response:
        odata.refuse_options(request.query, "a create")
        run = self.backend.create(json_body(request), flow, parent)
        location = f"{request.root}/industryData/incomingFlows/{flow}/runs/{run.id}"
        body = views.entity(_seed_context(request, run), views.seed_view(run))
        return Response(201, body, [("Location", location), _etag_header(run)])

    def get_flow_run(self, request: Request, params: dict[str, str]) -> Response:
        query = odata.parse_item(request.query, edm.SEED_RUN)
        run = self.backend.get(params["run"], params["flow"])
        body = odata.shape(_seed_row(run), query, self._navigate)
        return Response(200, views.entity(_seed_context(request, run), body), [_etag_header(run)])

    def patch_run(self, request: Request, params: dict[str, str]) -> Response:
        odata.refuse_options(request.query, "a PATCH")
        if_match = parse_if_match(request.headers.get_all("If-Match"))
        patch = json_body(request)
        run = self.backend.patch(params["run"], params["flow"], patch, if_match)
        body = views.entity(_seed_context(request, run), views.seed_view(run))
        return Response(200, body, [_etag_header(run)])

    def list_flow_runs(self, request: Request, params: dict[str, str]) -> Response:
        flow = params["flow"]
        rows = [_seed_row(run) for run in self.backend.runs(Scope(flow_id=flow))]
        context = f"industryData/incomingFlows('{flow}')/runs"
        return self._collection(request, rows, edm.SEED_RUN, context, self._seed_order)

    def list_children(self, request: Request, params: dict[str, str]) -> Response:
        flow, parent = params["flow"], params["run"]
        self.backend.require(parent, flow)
        rows = [_seed_row(run) for run in self.backend.runs(Scope(flow_id=flow, parent_id=parent))]
        context = f"industryData/incomingFlows('{flow}')/runs('{parent}')/process/runs"
        return self._collection(request, rows, edm.SEED_RUN, context, self._seed_order)

    @property
    def _seed_order(self) -> tuple[odata.OrderItem, ...]:
        return odata.parse_orderby("startDateTime desc", edm.SEED_RUN)

    # -- the published surface: /external/industryData/... ------------------------------------

    def get_root(self, request: Request, params: dict[str, str]) -> Response:
        query = odata.parse_item(request.query, edm.ROOT)
        body = odata.shape(odata.Row(views.root_view(), (0,)), query, self._navigate)
        return Response(200, views.entity(_context(request, "external/industryData/$entity"), body))

    def list_runs(self, request: Request, params: dict[str, str]) -> Response:
        rows = self._run_rows()
        return self._collection(request, rows, edm.RUN, "external/industryData/runs", self._runs_order)

    def count_runs(self, request: Request, params: dict[str, str]) -> Response:
        query = odata.parse_count(request.query, edm.RUN)
        return _count(odata.count(self._run_rows(), query))

    def get_run(self, request: Request, params: dict[str, str]) -> Response:
        query = odata.parse_item(request.query, edm.RUN)
        run = self.backend.get(params["run"])
        body = odata.shape(_run_row(run), query, self._navigate)
        context = _context(request, "external/industryData/runs/$entity")
        return Response(200, views.entity(context, body), [_etag_header(run)])

    def get_statistics(self, request: Request, params: dict[str, str]) -> Response:
        odata.refuse_options(request.query, "getStatistics")
        return self._statistics(request, self.backend.get(params["run"]))

    def latest_statistics(self, request: Request, params: dict[str, str]) -> Response:
        """``runs/getStatistics()`` (bound to the collection): the latest run's statistics."""
        odata.refuse_options(request.query, "getStatistics")
        return self._statistics(request, self.backend.latest())

    def _statistics(self, request: Request, run: StoredRun) -> Response:
        context = _context(request, "microsoft.graph.industryData.industryDataRunStatistics")
        statistics = views.run_statistics(run, self.backend.statistics(run))
        return Response(200, {"@odata.context": context, **statistics})

    def start_run(self, request: Request, params: dict[str, str]) -> Response:
        odata.refuse_options(request.query, "start")
        self.backend.start()
        return Response(202)

    def list_activities(self, request: Request, params: dict[str, str]) -> Response:
        run = self.backend.get(params["run"])
        context = f"external/industryData/runs('{run.id}')/activities"
        return self._collection(request, _activity_rows(run), edm.ACTIVITY, context)

    def count_activities(self, request: Request, params: dict[str, str]) -> Response:
        query = odata.parse_count(request.query, edm.ACTIVITY)
        return _count(odata.count(_activity_rows(self.backend.get(params["run"])), query))

    def _activity(self, params: dict[str, str]) -> odata.Row:
        run = self.backend.get(params["run"])
        for row in _activity_rows(run):
            if row.entity["id"] == params["activity"]:
                return row
        missing = params["activity"]
        raise GraphError(404, "itemNotFound", f"Activity '{missing}' was not found in run '{run.id}'.")

    def get_activity(self, request: Request, params: dict[str, str]) -> Response:
        query = odata.parse_item(request.query, edm.ACTIVITY)
        row = self._activity(params)
        context = _context(request, f"external/industryData/runs('{params['run']}')/activities/$entity")
        return Response(200, views.entity(context, odata.shape(row, query, self._navigate)))

    def get_activity_flow(self, request: Request, params: dict[str, str]) -> Response:
        query = odata.parse_item(request.query, edm.FLOW)
        activity = self._activity(params)
        assert isinstance(activity.source, StoredRun)
        row = _flow_row(self.backend.flow_of(activity.source))
        return self._entity(request, row, query, "external/industryData/inboundFlows/$entity")

    def list_flows(self, request: Request, params: dict[str, str]) -> Response:
        rows = [_flow_row(flow) for flow in self.backend.flows()]
        return self._collection(request, rows, edm.FLOW, "external/industryData/inboundFlows")

    def count_flows(self, request: Request, params: dict[str, str]) -> Response:
        query = odata.parse_count(request.query, edm.FLOW)
        return _count(odata.count([_flow_row(flow) for flow in self.backend.flows()], query))

    def get_flow(self, request: Request, params: dict[str, str]) -> Response:
        query = odata.parse_item(request.query, edm.FLOW)
        row = _flow_row(self.backend.flow(params["flow"]))
        return self._entity(request, row, query, "external/industryData/inboundFlows/$entity")

    def get_flow_connector(self, request: Request, params: dict[str, str]) -> Response:
        query = odata.parse_item(request.query, edm.CONNECTOR)
        row = _connector_row(self.backend.flow(params["flow"]))
        return self._entity(request, row, query, "external/industryData/dataConnectors/$entity")

    def get_flow_year(self, request: Request, params: dict[str, str]) -> Response:
        query = odata.parse_item(request.query, edm.YEAR)
        row = _year_row(Year(views.year_of(self.backend.flow(params["flow"]))))
        return self._entity(request, row, query, "external/industryData/years/$entity")

    def list_connectors(self, request: Request, params: dict[str, str]) -> Response:
        rows = [_connector_row(flow) for flow in self.backend.flows()]
        return self._collection(request, rows, edm.CONNECTOR, "external/industryData/dataConnectors")

    def count_connectors(self, request: Request, params: dict[str, str]) -> Response:
        query = odata.parse_count(request.query, edm.CONNECTOR)
        return _count(odata.count([_connector_row(flow) for flow in self.backend.flows()], query))

    def get_connector(self, request: Request, params: dict[str, str]) -> Response:
        query = odata.parse_item(request.query, edm.CONNECTOR)
        row = _connector_row(self.backend.connector(params["connector"]))
        return self._entity(request, row, query, "external/industryData/dataConnectors/$entity")

    def list_years(self, request: Request, params: dict[str, str]) -> Response:
        rows = [_year_row(year) for year in self.backend.years()]
        return self._collection(request, rows, edm.YEAR, "external/industryData/years")

    def count_years(self, request: Request, params: dict[str, str]) -> Response:
        query = odata.parse_count(request.query, edm.YEAR)
        return _count(odata.count([_year_row(year) for year in self.backend.years()], query))

    def get_year(self, request: Request, params: dict[str, str]) -> Response:
        query = odata.parse_item(request.query, edm.YEAR)
        row = _year_row(self.backend.year(params["year"]))
        return self._entity(request, row, query, "external/industryData/years/$entity")

    # -- shared --------------------------------------------------------------------------------

    def _run_rows(self) -> list[odata.Row]:
        return [_run_row(run) for run in self.backend.runs(Scope())]

    def _navigate(self, navigation: edm.Navigation, row: odata.Row) -> list[odata.Row] | odata.Row | None:
        """Where an $expand leads from *row* (the navigations edm.py declares)."""
        source, name = row.source, navigation.name
        if name == "activities" and isinstance(source, StoredRun):
            return _activity_rows(source)
        if name == "activity" and isinstance(source, StoredRun):
            return _flow_row(self.backend.flow_of(source))
        if name == "dataConnector" and isinstance(source, StoredFlow):
            return _connector_row(source)
        if name == "year" and isinstance(source, StoredFlow):
            return _year_row(Year(views.year_of(source)))
        if name == "runs":
            return self._run_rows()
        if name == "inboundFlows":
            return [_flow_row(flow) for flow in self.backend.flows()]
        if name == "dataConnectors":
            return [_connector_row(flow) for flow in self.backend.flows()]
        if name == "years":
            return [_year_row(year) for year in self.backend.years()]
        return None  # pragma: no cover - every declared navigation is handled above

    def _entity(self, request: Request, row: odata.Row, query: odata.Query, context: str) -> Response:
        body = odata.shape(row, query, self._navigate)
        return Response(200, views.entity(_context(request, context), body))

    def _collection(
        self,
        request: Request,
        rows: list[odata.Row],
        entity: edm.EntityType,
        context: str,
        default_orderby: tuple[odata.OrderItem, ...] = (),
    ) -> Response:
        query = odata.parse_collection(request.query, entity, default_orderby=default_orderby)
        result = odata.page(rows, query, self._navigate)
        body: dict[str, Any] = {"@odata.context": _context(request, context)}
        if result.count is not None:
            body["@odata.count"] = result.count
        if result.skiptoken is not None:
            pairs = [*query.carried, ("$skiptoken", result.skiptoken)]
            body["@odata.nextLink"] = (
                f"{request.origin}{request.path}?{urlencode(pairs, quote_via=quote, safe='$')}"
            )
        body["value"] = result.items
        return Response(200, body)


def _context(request: Request, fragment: str) -> str:
    return f"{request.root}/$metadata#{fragment}"


def _count(total: int) -> Response:
    return Response(200, raw=str(total).encode())


def _seed_row(run: StoredRun) -> odata.Row:
    return odata.Row(views.seed_view(run), (run.seq,), run)


def _run_row(run: StoredRun) -> odata.Row:
    return odata.Row(views.published_view(run), (run.seq,), run)


def _activity_rows(run: StoredRun) -> list[odata.Row]:
    return [odata.Row(activity, (index,), run) for index, activity in enumerate(views.run_activities(run))]


def _flow_order(flow: StoredFlow) -> tuple[int | str, ...]:
    return (round(flow.first_seen * 1_000_000), flow.id)


def _flow_row(flow: StoredFlow) -> odata.Row:
    return odata.Row(views.flow_view(flow), _flow_order(flow), flow)


def _connector_row(flow: StoredFlow) -> odata.Row:
    return odata.Row(views.connector_view(flow), _flow_order(flow), flow)


def _year_row(year: Year) -> odata.Row:
    return odata.Row(views.year_view(year.year), (year.year,), year)


def _store_error(exc: StoreUnavailable, *, written: bool) -> GraphError:
    """503 + Retry-After when SQLite refused before this request wrote anything (a retry is
    safe); 500 ("outcome unknown") only if the request had already committed a change."""
    if written:
        return GraphError(
            500, "generalException", f"The sandbox's database failed after a change was stored ({exc})."
        )
    return GraphError(
        503,
        "serviceNotAvailable",
        f"The sandbox's database is unavailable ({exc}); nothing was stored. Retry shortly.",
        headers=faults.retry_headers(1.0),
    )


def _etag_header(run: StoredRun) -> tuple[str, str]:
    return ("ETag", views.etag(run))


_ENTITY_TAG = re.compile(r'\s*((?:W/)?"[\x21\x23-\x7e\x80-\xff]*")\s*')


def parse_if_match(values: list[str] | None) -> IfMatch | None:
    """The ``If-Match`` header(s), or None when absent (the PATCH is then unconditional);
    400 if it is not ``*`` or a list of entity tags."""
    if not values:
        return None
    tags: list[str] = []
    for value in values:
        if value.strip() == "*":
            tags.append("*")
            continue
        for part in value.split(","):
            match = _ENTITY_TAG.fullmatch(part)
            if match is None:
                bad_request(
                    f"The If-Match header '{value[:80]}' is not a list of entity tags; send the "
                    'ETag (or @odata.etag) of the run as read, e.g. If-Match: W/"3".'
                )
            tags.append(match.group(1).removeprefix("W/"))
    return IfMatch(tuple(tags), ", ".join(v.strip() for v in values))


def _seed_context(request: Request, run: StoredRun) -> str:
    return _context(request, f"industryData/incomingFlows('{run.flow_id}')/runs/$entity")


# ---------------------------------------------------------------------------------------------
# Request bodies


def json_body(request: Request) -> object:
    """The request's JSON document, read by the client's own strict rules (:mod:`rundctl.jsonio`).

    415 unless it is ``application/json``; 413 over ``jsonio.MAX_DOCUMENT_BYTES``; 400 for what
    rundctl itself refuses to read: bad UTF-8, duplicate keys, NaN/Infinity or numbers out of
    range, lone surrogates, nesting deeper than ``jsonio.MAX_DEPTH``.
    """
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise GraphError(
            415,
            "UnsupportedMediaType",
            f"Content-Type '{content_type or '(none)'}' is not supported; send application/json.",
        )
    if len(request.body) > jsonio.MAX_DOCUMENT_BYTES:
        raise document_too_large()
    if not request.body.removeprefix(_UTF8_BOM).strip(b" \t\r\n"):
        bad_request("The request body is empty; a JSON object is required.")
    try:
        return jsonio.loads_strict(request.body)
    except InvalidInput as exc:
        shown = "; ".join(str(problem) for problem in exc.problems[:5])
        more = f"; and {len(exc.problems) - 5} more" if len(exc.problems) > 5 else ""
        bad_request(f"The request body is not valid JSON: {shown}{more}")


def document_too_large() -> GraphError:
    limit = jsonio.MAX_DOCUMENT_BYTES // (1024 * 1024)
    return GraphError(413, "RequestEntityTooLarge", f"The request body exceeds {limit} MiB.")
