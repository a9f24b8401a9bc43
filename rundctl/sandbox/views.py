"""What Graph shows: the JSON shapes of runs, flows, activities, statistics and errors.

Pure functions from stored data to JSON-ready dicts; no SQL, no sockets, no decisions (those
are in :mod:`.backend`). The shapes follow the published industryData types (docs/api.md) as
Microsoft's beta metadata and SDK models declare them: property names, ``@odata.type``
values, and the concrete types of abstract ones (an ``inboundFlow`` is an
``inboundFileFlow``; an ``industryDataConnector`` an ``azureDataLakeConnector``).
"""

from __future__ import annotations

import uuid
from typing import Any

from rundctl.sandbox import odata
from rundctl.sandbox.messages import GraphError
from rundctl.sandbox.store import StoredFlow, StoredRun

_NS = "#microsoft.graph.industryData."
RUN_TYPE = _NS + "industryDataRun"
ACTIVITY_TYPE = _NS + "inboundFlowActivity"
FLOW_TYPE = _NS + "inboundFileFlow"
CONNECTOR_TYPE = _NS + "azureDataLakeConnector"
YEAR_TYPE = _NS + "yearTimePeriodDefinition"
ROOT_TYPE = _NS + "industryDataRoot"
STATISTICS_TYPE = _NS + "industryDataRunStatistics"
# Ids the sandbox derives (uuid5), so that the same flow always has the same connector and year.
_IDS = uuid.UUID("8f0c7d1e-2b3a-4c5d-9e6f-0a1b2c3d4e5f")
ROOT_ID = str(uuid.uuid5(_IDS, "industryDataRoot"))


# ---------------------------------------------------------------------------------------------
# Runs


def etag(run: StoredRun) -> str:
    """The run's entity tag: weak, opaque, new with every change (its stored version)."""
    return f'W/"{run.version}"'


def seed_view(run: StoredRun) -> dict[str, Any]:
    """The run as ``/industryData/incomingFlows/{flow}/runs`` shows it: its stored body, with
    its ``@odata.etag`` after the ``@odata.type``."""
    body = run.body
    view: dict[str, Any] = {"@odata.type": body["@odata.type"]} if "@odata.type" in body else {}
    view["@odata.etag"] = etag(run)
    view.update((k, v) for k, v in body.items() if k not in view)
    return view


def published_view(run: StoredRun) -> dict[str, Any]:
    """The run as ``/external/industryData/runs`` shows it (no seed-only ``statistics``)."""
    body = run.body
    return {
        "@odata.type": RUN_TYPE,
        "@odata.etag": etag(run),
        "id": run.id,
        "displayName": body.get("displayName"),
        "startDateTime": body.get("startDateTime"),
        "endDateTime": body.get("endDateTime"),
        "status": body.get("status"),
        "blockingError": body.get("blockingError"),
    }


def entity(context: str, view: dict[str, Any]) -> dict[str, Any]:
    """One entity with its ``@odata.context`` first."""
    return {"@odata.context": context, **view}


# ---------------------------------------------------------------------------------------------
# Flows, their data connectors and years


def flow_view(flow: StoredFlow) -> dict[str, Any]:
    return {
        "@odata.type": FLOW_TYPE,
        "id": flow.id,
        "displayName": f"Sandbox flow {flow.id[:8]}",
        "dataDomain": "educationRostering",
        "effectiveDateTime": odata.format_timestamp(flow.first_seen),
        "expirationDateTime": None,
        "readinessStatus": "ready",
    }


def connector_id(flow: StoredFlow) -> str:
    return str(uuid.uuid5(_IDS, f"dataConnector:{flow.id}"))


def connector_view(flow: StoredFlow) -> dict[str, Any]:
    """The flow's data connector: an Azure Data Lake (file) connector, as a file flow has."""
    return {
        "@odata.type": CONNECTOR_TYPE,
        "id": connector_id(flow),
        "displayName": f"Sandbox connector {flow.id[:8]}",
        "fileFormat": None,
    }


def year_of(flow: StoredFlow) -> int:
    """The calendar year (UTC) the flow was first seen in."""
    return odata.utc(flow.first_seen).year


def year_id(year: int) -> str:
    return str(uuid.uuid5(_IDS, f"year:{year:04d}"))


def year_view(year: int) -> dict[str, Any]:
    return {
        "@odata.type": YEAR_TYPE,
        "id": year_id(year),
        "displayName": f"{year:04d}",
        "startDate": f"{year:04d}-01-01",
        "endDate": f"{year:04d}-12-31",
        "year": {"code": f"{year:04d}"},
    }


def root_view() -> dict[str, Any]:
    """``GET /external/industryData``: the industryDataRoot singleton (an entity with an id
    and navigations only)."""
    return {"@odata.type": ROOT_TYPE, "id": ROOT_ID}


# ---------------------------------------------------------------------------------------------
# Activities and statistics


def _activity_status(run_status: object) -> str:
    if run_status == "running":
        return "inProgress"
    if run_status in ("failed", "completed", "completedWithErrors", "completedWithWarnings"):
        return str(run_status)
    return "unknownFutureValue"


def activity_id(run: StoredRun) -> str:
    return str(uuid.uuid5(uuid.UUID(run.id), run.flow_id))


def run_activities(run: StoredRun) -> list[dict[str, Any]]:
    """One inbound flow activity per run: the flow it ran in."""
    return [
        {
            "@odata.type": ACTIVITY_TYPE,
            "id": activity_id(run),
            "displayName": f"Sandbox flow {run.flow_id[:8]}",
            "status": _activity_status(run.body.get("status")),
            "blockingError": run.body.get("blockingError"),
        }
    ]


def run_statistics(run: StoredRun, counts: dict[str, int]) -> dict[str, Any]:
    """An ``industryDataRunStatistics`` object for the run, from its counts (docs/api.md)."""
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
        "@odata.type": STATISTICS_TYPE,
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


# ---------------------------------------------------------------------------------------------
# Errors


def error_envelope(
    error: GraphError, *, now: float, request_id: str, client_request_id: str
) -> dict[str, Any]:
    """``{"error": {code, message, [target, details,] innerError: {..., date, request-id,
    client-request-id}}}``."""
    body: dict[str, Any] = {"code": error.code, "message": _unicode(error.message)}
    if error.target is not None:
        body["target"] = _unicode(error.target)
    if error.details is not None:
        body["details"] = [{k: _unicode(v) for k, v in detail.items()} for detail in error.details]
    body["innerError"] = {
        **error.inner,
        # Graph's innerError.date has no zone designator.
        "date": odata.iso_seconds(odata.utc(now)),
        "request-id": request_id,
        "client-request-id": client_request_id,
    }
    return {"error": body}


def throttled(headers: list[tuple[str, str]]) -> GraphError:
    """A 429 as Graph's throttling documentation shows it (learn.microsoft.com/graph/throttling):
    code ``TooManyRequests``, innerError ``{"code": "429", "message": "Please retry after",
    "status": "429"}``."""
    return GraphError(
        429,
        "TooManyRequests",
        "Please retry again later.",
        headers=headers,
        inner={"code": "429", "message": "Please retry after", "status": "429"},
    )


def _unicode(text: str) -> str:
    """*text* as valid Unicode: a lone surrogate quoted from the input becomes ``\\udfff``."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def validation_error(problems: list[Any]) -> GraphError:
    """A 400 ``invalidRequest`` naming each problem's field (``target`` is the first's)."""
    first = problems[0]
    if len(problems) == 1:
        message = str(first)
    else:
        shown = "; ".join(str(p) for p in problems[:5])
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        message = f"{len(problems)} problems: {shown}{more}"
    details = [{"code": "invalidValue", "message": str(p), "target": p.path} for p in problems]
    return GraphError(400, "invalidRequest", message, target=first.path, details=details)


def duration_text(seconds: float) -> str:
    """``12 hours``, ``1 minute``, ``90 seconds``: a window as people say it."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    shown = f"{seconds:g}"
    return f"{shown} second{'' if shown == '1' else 's'}"
