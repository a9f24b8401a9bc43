"""What goes on the wire, shared by the client and ``--dry-run`` (no requests import)."""

from __future__ import annotations

import json
import uuid
from typing import Any, NamedTuple

from rundctl import __version__

USER_AGENT = f"rundctl/{__version__}"


class RequestPlan(NamedTuple):
    """A request exactly as it would be sent (before the credential is added)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


def encode_body(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def plan_request(
    method: str, url: str, body: Any = None, client_request_id: str | None = None
) -> RequestPlan:
    """*body* is a JSON value, or bytes already encoded as JSON (bulk create spools those)."""
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "application/json",
        "client-request-id": client_request_id or str(uuid.uuid4()),
    }
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = body if isinstance(body, bytes) else encode_body(body)
    return RequestPlan(method, url, headers, data)
