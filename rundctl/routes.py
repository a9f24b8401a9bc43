"""Every API path template in one table, so an API revision is a one-table change.

Templates are relative to the base URL (``--endpoint``). Placeholders are GUIDs that the
caller has validated; :func:`path` percent-encodes each one as a single path segment.
"""

from __future__ import annotations

from urllib.parse import quote

ROUTES: dict[str, str] = {
    # The seed contract (draft endpoint) — docs/api.md.
    "flow_runs": "/industryData/incomingFlows/{flow}/runs",
    "flow_run": "/industryData/incomingFlows/{flow}/runs/{run}",
    "process_runs": "/industryData/incomingFlows/{flow}/runs/{run}/process/runs",
    # The published industryData API (docs/api.md; SDK-qualified function names).
    "runs": "/external/industryData/runs",
    "run": "/external/industryData/runs/{run}",
    "run_statistics": "/external/industryData/runs/{run}/microsoft.graph.industryData.getStatistics()",
    "run_activities": "/external/industryData/runs/{run}/activities",
    "start": "/external/industryData/runs/microsoft.graph.industryData.start",
    "flows": "/external/industryData/inboundFlows",
    "flow": "/external/industryData/inboundFlows/{flow}",
}


def path(name: str, **ids: str) -> str:
    """Fill template *name*; each id becomes exactly one percent-encoded path segment."""
    return ROUTES[name].format(**{k: quote(v, safe="") for k, v in ids.items()})
