"""What Graph shows: the JSON shapes of runs, flows, activities, statistics and errors.

Pure functions from stored data to JSON-ready dicts; no SQL, no sockets, no decisions (those
are in :mod:`.backend`). The shapes follow the published industryData types (docs/api.md).
"""

from __future__ import annotations

import uuid
from typing import Any

from rundctl.sandbox import odata
from rundctl.sandbox.messages import GraphError
from rundctl.sandbox.store import StoredRun

RUN_TYPE = "#microsoft.graph.industryData.industryDataRun"
FLOW_TYPE = "#microsoft.graph.industryData.inboundFileFlow"
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


# ---------------------------------------------------------------------------------------------
# Entities


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


def entity(context: str, view: dict[str, Any], select: tuple[str, ...] | None = None) -> dict[str, Any]:
    """One entity with its ``@odata.context`` first and ``$select`` applied."""
    return {"@odata.context": context, **odata.apply_select(view, select)}


def flow_view(flow_id: str, first_seen: float) -> dict[str, Any]:
    return {
        "@odata.type": FLOW_TYPE,
        "id": flow_id,
        "displayName": f"Sandbox flow {flow_id[:8]}",
        "dataDomain": "educationRostering",
        "effectiveDateTime": odata.format_timestamp(first_seen),
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


# ---------------------------------------------------------------------------------------------
# Errors


def error_envelope(
    error: GraphError, *, now: float, request_id: str, client_request_id: str
) -> dict[str, Any]:
    """``{"error": {code, message, [target, details,] innerError: {date, request-id, ...}}}``."""
    body: dict[str, Any] = {"code": error.code, "message": _unicode(error.message)}
    if error.target is not None:
        body["target"] = _unicode(error.target)
    if error.details is not None:
        body["details"] = [{k: _unicode(v) for k, v in detail.items()} for detail in error.details]
    inner: dict[str, str] = {} if error.inner_code is None else {"code": error.inner_code}
    body["innerError"] = {
        **inner,
        # Graph's innerError.date has no zone designator.
        "date": odata.iso_seconds(odata.utc(now)),
        "request-id": request_id,
        "client-request-id": client_request_id,
    }
    return {"error": body}


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
