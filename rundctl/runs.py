"""The work behind the run commands: one function per operation, on a GraphClient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from rundctl import routes
from rundctl.client import PERMISSION_READ, GraphClient
from rundctl.errors import BadResponse

MAX_TOP = 999


def create_run(
    client: GraphClient, flow: str, payload: dict[str, Any], parent: str | None = None
) -> dict[str, Any]:
    path = (
        routes.path("process_runs", flow=flow, run=parent)
        if parent
        else routes.path("flow_runs", flow=flow)
    )
    resp = client.send("POST", client.url(path), body=payload, kind="create")
    if not isinstance(resp.body, dict) or "id" not in resp.body:
        from rundctl.errors import OutcomeUnknown

        raise OutcomeUnknown(
            f"the service answered HTTP {resp.status} without the created run",
            hint=f"client-request-id {resp.client_request_id}; list the flow's runs to check",
        )
    return resp.body


def get_run(client: GraphClient, run: str, flow: str | None = None) -> dict[str, Any]:
    path = (
        routes.path("flow_run", flow=flow, run=run) if flow else routes.path("run", run=run)
    )
    body: dict[str, Any] = client.get_json(path, permission=PERMISSION_READ)
    if "id" not in body:
        raise BadResponse("unreadable response from the service: the run has no id")
    return body


def list_runs(
    client: GraphClient,
    flow: str | None,
    *,
    limit: int | None,
    on_more: Callable[[], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Runs newest first; stop after *limit* (None = all) and call *on_more* if cut."""
    path = routes.path("flow_runs", flow=flow) if flow else routes.path("runs")
    params = {"$top": str(min(limit, MAX_TOP))} if limit else None
    seen = {"left": 0, "next": False}

    def on_page(page: dict[str, Any]) -> None:
        value = page.get("value")
        seen["left"] = len(value) if isinstance(value, list) else 0
        seen["next"] = bool(page.get("@odata.nextLink"))

    count = 0
    for item in client.iter_collection(path, params, on_page=on_page):
        seen["left"] -= 1
        yield item
        count += 1
        if limit is not None and count >= limit:
            if on_more is not None and (seen["left"] > 0 or seen["next"]):
                on_more()
            return
