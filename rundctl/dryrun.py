"""``create --dry-run``: the exact request that would be sent, credential redacted.

Never authenticates, never reads a token and never opens a connection.
"""

from __future__ import annotations

import json
from typing import Any

from rundctl import routes
from rundctl.auth import auto_mode
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
