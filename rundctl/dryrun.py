"""``create --dry-run``: the exact request that would be sent, credential redacted.

Never authenticates, never reads a token and never opens a connection.
"""

from __future__ import annotations

import json
from typing import Any

from rundctl import routes
from rundctl.auth import auto_mode
from rundctl.deps import Deps
from rundctl.render import to_json
from rundctl.settings import ConnSettings
from rundctl.wire import plan_request

SANDBOX_PLACEHOLDER = "http://127.0.0.1:<port>"


def describe_create(
    conn: ConnSettings, flow: str, parent: str | None, payload: dict[str, Any],
    env: Any,
) -> dict[str, Any]:
    path = (
        routes.path("process_runs", flow=flow, run=parent)
        if parent
        else routes.path("flow_runs", flow=flow)
    )
    base = conn.endpoint.url or SANDBOX_PLACEHOLDER
    plan = plan_request("POST", base + path, payload)
    headers = dict(plan.headers)
    mode = conn.auth_mode
    if mode == "auto":
        has_token = conn.token_file is not None or bool(env.get("RUNDCTL_TOKEN"))
        mode = auto_mode(env, conn.endpoint, conn.cloud, has_token) or "auto"
    if mode != "none":
        headers["Authorization"] = "Bearer <redacted>"
    assert plan.body is not None
    return {
        "method": plan.method,
        "url": plan.url,
        "headers": headers,
        "body": json.loads(plan.body),
    }


def show(
    deps: Deps, fmt: str, conn: ConnSettings, flow: str, parent: str | None,
    payload: dict[str, Any],
) -> None:
    request = describe_create(conn, flow, parent, payload, deps.env)
    if fmt == "none":
        return
    if fmt in ("json", "ndjson"):
        deps.stdout.write(to_json(request, indent=2 if fmt == "json" else None) + "\n")
    elif fmt == "id":
        deps.stdout.write(request["url"] + "\n")
    else:
        lines = [f"{request['method']} {request['url']}"]
        lines += [f"{k}: {v}" for k, v in request["headers"].items()]
        deps.stdout.write("\n".join(lines) + "\n\n" + to_json(request["body"]) + "\n")
    deps.stdout.flush()
