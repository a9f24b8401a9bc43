"""What passes between the socket layer and the routes: a request, a response, an error.

Plain data, independent of sockets (:mod:`.httpd` builds a :class:`Request` and writes a
:class:`Response`) and of SQL (:mod:`.api` turns one into the other).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, NoReturn


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


@dataclass(frozen=True)
class IfMatch:
    """A request's ``If-Match``: its opaque entity tags (``W/`` dropped, for the weak
    comparison), ``"*"`` for any, and the header as sent (for messages)."""

    tags: tuple[str, ...]
    sent: str

    def matches(self, etag: str) -> bool:
        return "*" in self.tags or etag.removeprefix("W/") in self.tags


class GraphError(Exception):
    """An error answer in Graph's envelope (built by :func:`.views.error_envelope`)."""

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
        inner: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details
        self.headers = headers or []
        self.inner_code = inner_code
        # More innerError members, e.g. a throttling answer's {"code": "429", "message": ...,
        # "status": "429"}; the ids and the date are added to every envelope.
        self.inner = dict(inner or {})
        if inner_code is not None:
            self.inner.setdefault("code", inner_code)


def bad_request(message: str) -> NoReturn:
    raise GraphError(400, "BadRequest", message)
