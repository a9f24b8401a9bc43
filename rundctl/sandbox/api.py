"""Routes and handlers: a request in, a response out — no SQL, no sockets.

Each handler parses the request (path parameters, OData options, the JSON body), calls the
:class:`~.backend.RunBackend`, and serialises the result with :mod:`.views`. It serves both
surfaces (docs/api.md): the seed's ``/industryData/incomingFlows/{flow}/runs`` and the
published ``/external/industryData/...``. In front of the handlers sit the token check and
the configured faults (:mod:`.faults`).
"""

from __future__ import annotations

import hmac
import re
import time
import traceback
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import quote, urlencode

from rundctl import jsonio, model
from rundctl.errors import InvalidInput
from rundctl.sandbox import faults, odata, views
from rundctl.sandbox.backend import RunBackend
from rundctl.sandbox.messages import GraphError, IfMatch, Request, Response, bad_request
from rundctl.sandbox.store import Scope, StoredRun, StoreUnavailable
from rundctl.sandbox.views import PUBLISHED_PROPERTIES, SEED_PROPERTIES

_UTF8_BOM = b"\xef\xbb\xbf"
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")

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

    def __init__(
        self,
        backend: RunBackend,
        *,
        injector: faults.FaultInjector | None = None,
        require_token: str | None = None,
        log: TextIO | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.faults = injector or faults.FaultInjector(clock=clock)
        self.require_token = require_token
        self.log = log
        self.clock = clock
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
                    bad_request(f"Invalid id '{value}': a {kind} id must be a GUID.")
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
        run = self.backend.create(json_body(request), flow, parent)
        location = f"{request.root}/industryData/incomingFlows/{flow}/runs/{run.id}"
        return Response(201, _seed_entity(request, run), [("Location", location), _etag_header(run)])

    def get_flow_run(self, request: Request, params: dict[str, str]) -> Response:
        query = odata.parse_item_query(request.query, properties=SEED_PROPERTIES)
        run = self.backend.get(params["run"], params["flow"])
        return Response(200, _seed_entity(request, run, query.select), [_etag_header(run)])

    def patch_run(self, request: Request, params: dict[str, str]) -> Response:
        if_match = parse_if_match(request.headers.get_all("If-Match"))
        patch = json_body(request)
        run = self.backend.patch(params["run"], params["flow"], patch, if_match)
        return Response(200, _seed_entity(request, run), [_etag_header(run)])

    def list_flow_runs(self, request: Request, params: dict[str, str]) -> Response:
        flow = params["flow"]
        context = f"industryData/incomingFlows('{flow}')/runs"
        return self._list(request, Scope(flow_id=flow), context, published=False)

    def list_children(self, request: Request, params: dict[str, str]) -> Response:
        flow, parent = params["flow"], params["run"]
        self.backend.require(parent, flow)
        context = f"industryData/incomingFlows('{flow}')/runs('{parent}')/process/runs"
        return self._list(request, Scope(flow_id=flow, parent_id=parent), context, published=False)

    # -- the published surface: /external/industryData/... ------------------------------------

    def list_runs(self, request: Request, params: dict[str, str]) -> Response:
        return self._list(request, Scope(), "external/industryData/runs", published=True)

    def count_runs(self, request: Request, params: dict[str, str]) -> Response:
        options = odata.normalize_options(request.query)
        where = None
        if "filter" in options:
            where = odata.parse_filter(options["filter"], model.RUN_STATUSES)
        total = self.backend.count(Scope(), where)
        return Response(200, raw=str(total).encode())

    def get_run(self, request: Request, params: dict[str, str]) -> Response:
        query = odata.parse_item_query(request.query, properties=PUBLISHED_PROPERTIES)
        run = self.backend.get(params["run"])
        context = f"{request.root}/$metadata#external/industryData/runs/$entity"
        body = views.entity(context, views.published_view(run), query.select)
        return Response(200, body, [_etag_header(run)])

    def get_statistics(self, request: Request, params: dict[str, str]) -> Response:
        run = self.backend.get(params["run"])
        context = f"{request.root}/$metadata#microsoft.graph.industryData.industryDataRunStatistics"
        statistics = views.run_statistics(run, self.backend.statistics(run))
        return Response(200, {"@odata.context": context, **statistics})

    def list_activities(self, request: Request, params: dict[str, str]) -> Response:
        run = self.backend.get(params["run"])
        context = f"{request.root}/$metadata#external/industryData/runs('{run.id}')/activities"
        return Response(200, {"@odata.context": context, "value": views.run_activities(run)})

    def start_run(self, request: Request, params: dict[str, str]) -> Response:
        self.backend.start()
        return Response(202)

    def list_flows(self, request: Request, params: dict[str, str]) -> Response:
        odata.normalize_options(request.query)
        context = f"{request.root}/$metadata#external/industryData/inboundFlows"
        flows = [views.flow_view(flow_id, first) for flow_id, first in self.backend.flows()]
        return Response(200, {"@odata.context": context, "value": flows})

    def get_flow(self, request: Request, params: dict[str, str]) -> Response:
        found = self.backend.flow(params["flow"])
        context = f"{request.root}/$metadata#external/industryData/inboundFlows/$entity"
        return Response(200, views.entity(context, views.flow_view(*found)))

    # -- shared --------------------------------------------------------------------------------

    def _list(self, request: Request, scope: Scope, context: str, *, published: bool) -> Response:
        properties = PUBLISHED_PROPERTIES if published else SEED_PROPERTIES
        query = odata.parse_list_query(request.query, statuses=model.RUN_STATUSES, properties=properties)
        page = self.backend.page(scope, query)
        body: dict[str, Any] = {"@odata.context": f"{request.root}/$metadata#{context}"}
        if page.count is not None:
            body["@odata.count"] = page.count
        if page.next_cursor is not None:
            pairs = [*query.carried, ("$skiptoken", odata.encode_skiptoken(page.next_cursor))]
            body["@odata.nextLink"] = (
                f"{request.origin}{request.path}?{urlencode(pairs, quote_via=quote, safe='$')}"
            )
        view = views.published_view if published else views.seed_view
        body["value"] = [odata.apply_select(view(run), query.select) for run in page.runs]
        return Response(200, body)


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


def _seed_entity(request: Request, run: StoredRun, select: tuple[str, ...] | None = None) -> dict[str, Any]:
    context = f"{request.root}/$metadata#industryData/incomingFlows('{run.flow_id}')/runs/$entity"
    return views.entity(context, views.seed_view(run), select)


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
