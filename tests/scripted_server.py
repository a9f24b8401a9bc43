"""A scripted HTTP/1.1 server for client tests: canned answers in order, every request recorded.

Not part of the package. It answers on ``127.0.0.1:<ephemeral>`` with whatever the test
queued — including the failures a real network produces (a connection closed before or in the
middle of an answer, a short body, a body that trickles in) — and records each request, so a
test can assert "exactly one POST reached the server"::

    with ScriptedServer() as server:
        server.queue(Step(503, headers={"Retry-After": "1"}), Step(201, json={"id": "..."}))
        ...  # point the client at server.url
        assert server.count("POST", "/industryData/") == 2

Actions (``Step.action``):
- ``respond``: a normal answer (``json`` or ``body``, ``headers``); the connection stays open.
- ``close_before_response``: read the whole request, then close without sending a byte.
- ``close_mid_body``: send the headers with the right Content-Length and half the body, then
  reset the connection (RST).
- ``truncated_body``: send the headers with a Content-Length larger than the body sent, then
  close normally (FIN).
- ``slow_drip``: send the headers, then the body one byte per ``drip_interval``; stops when the
  client goes away, the body is sent, or after ``MAX_DRIP_SECONDS``.
- ``redirect``: ``302`` (or the step's 3xx status) with ``Location`` from ``headers``.
"""

from __future__ import annotations

import json as jsonlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

Action = Literal[
    "respond", "close_before_response", "close_mid_body", "truncated_body", "slow_drip", "redirect"
]
MAX_DRIP_SECONDS = 60.0
DEFAULT_JSON: dict[str, Any] = {"value": []}


class Headers(Mapping[str, str]):
    """Request headers: original names when iterated, case-insensitive lookup."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = list(items)
        self._lower: dict[str, str] = {}
        for name, value in self._items:
            self._lower.setdefault(name.lower(), value)  # the first one wins, as in http.client

    def __getitem__(self, name: str) -> str:
        return self._lower[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lower

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._items))

    def __len__(self) -> int:
        return len(self._lower)

    def get_all(self, name: str) -> list[str]:
        return [v for n, v in self._items if n.lower() == name.lower()]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass
class Recorded:
    """One request as the server received it."""

    method: str
    target: str  # path and query, as sent
    path: str
    query: dict[str, str]  # the first value of each parameter, decoded
    headers: Headers
    body: bytes
    time: float  # time.monotonic() when it was fully read
    index: int  # 0-based position among all requests to this server

    def json(self) -> Any:
        return jsonlib.loads(self.body.decode("utf-8"))


@dataclass
class Step:
    """How to answer one request."""

    status: int = 200
    json: object | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    action: Action = "respond"
    drip_interval: float = 0.5  # slow_drip: one byte per interval
    delay: float = 0.0  # seconds to wait before answering
    on_request: Callable[[Recorded], None] | None = None  # runs before the answer, e.g. commit

    @classmethod
    def redirect_to(cls, location: str, status: int = 302) -> Step:
        return cls(status, headers={"Location": location}, action="redirect")

    def payload(self) -> tuple[bytes, dict[str, str]]:
        """The body bytes and the headers to send with them."""
        headers = dict(self.headers)
        if self.body is not None:
            return self.body, headers
        document = DEFAULT_JSON if self.json is None and self.status == 200 else self.json
        if document is None:
            return b"", headers
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
        return jsonlib.dumps(document).encode(), headers


Script = list[Step] | Callable[[Recorded], Step] | None


class ScriptedServer:
    """A threaded HTTP/1.1 server on 127.0.0.1:0; use as a context manager; ``.url`` is its base."""

    def __init__(self, script: Script = None) -> None:
        self._lock = threading.Lock()
        self._queue: list[Step] = []
        self._responder: Callable[[Recorded], Step] | None = None
        if callable(script):
            self._responder = script
        elif script is not None:
            self._queue.extend(script)
        self._requests: list[Recorded] = []
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []  # unexpected exceptions in handlers
        self._httpd = _Server(self)
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    # -- scripting and inspection --------------------------------------------------------------

    def queue(self, *steps: Step) -> None:
        """Answers for the next requests, in order; when they run out the default is used."""
        with self._lock:
            self._queue.extend(steps)

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def count(self, method: str, path_prefix: str = "") -> int:
        return sum(
            1 for r in self.requests if r.method == method.upper() and r.path.startswith(path_prefix)
        )

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being answered (e.g. a slow drip noticed the client left)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def _record(self, recorded: Recorded) -> Step | None:
        """Record a request; the queued step for it, if any (counts it as in flight)."""
        with self._lock:
            recorded.index = len(self._requests)
            self._requests.append(recorded)
            self._in_flight += 1
            return self._queue.pop(0) if self._queue else None

    def _script(self, recorded: Recorded) -> Step:
        responder = self._responder
        return responder(recorded) if responder is not None else Step()

    def _done(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> ScriptedServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.01},
                name=f"scripted-server-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.close_connections()
        self._httpd.server_close()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, owner: ScriptedServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.resets: set[socket.socket] = set()  # close these with RST, not FIN
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            reset = request in self.resets
            self.resets.discard(request)
        if reset:
            self.close_request(request)  # SO_LINGER 0: close() sends RST
        else:
            super().shutdown_request(request)

    def server_bind(self) -> None:  # skip the reverse DNS lookup in HTTPServer.server_bind
        import socketserver

        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "scripted-server"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 30
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        split = urlsplit(self.path)
        recorded = Recorded(
            method=self.command,
            target=self.path,
            path=split.path,
            query=dict(reversed(parse_qsl(split.query, keep_blank_values=True))),
            headers=Headers(list(self.headers.items())),
            body=self._read_body(),
            time=time.monotonic(),
            index=-1,
        )
        queued = owner._record(recorded)
        try:
            try:
                step = queued or owner._script(recorded)
                if step.on_request is not None:
                    step.on_request(recorded)
                if step.delay > 0 and owner.stopping.wait(step.delay):
                    self._close(reset=True)
                    return
                self._act(step)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            except Exception as exc:
                owner.errors.append(exc)
                self.close_connection = True
        finally:
            owner._done()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _act(self, step: Step) -> None:
        action = step.action
        if action == "close_before_response":
            self._close(reset=False)
            return
        payload, headers = step.payload()
        status = step.status
        if action == "redirect":
            status = status if 300 <= status < 400 else 302
            if not any(name.lower() == "location" for name in headers):
                raise ValueError("a redirect step needs headers={'Location': url}")
        length = len(payload)
        if action == "truncated_body":
            length = len(payload) + max(16, len(payload))
        self._head(status, headers, length, close=action not in ("respond", "redirect"))
        if self.command == "HEAD":
            return
        if action in ("respond", "redirect"):
            self._send(payload)
        elif action == "truncated_body":
            self._send(payload)
            self._close(reset=False)
        elif action == "close_mid_body":
            self._send(payload[: len(payload) // 2])
            self._close(reset=True)
        elif action == "slow_drip":
            self._drip(payload, step.drip_interval)

    def _head(self, status: int, headers: dict[str, str], length: int, *, close: bool) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.flush()

    def _send(self, data: bytes) -> None:
        if data:
            self.wfile.write(data)
            self.wfile.flush()

    def _drip(self, payload: bytes, interval: float) -> None:
        deadline = time.monotonic() + MAX_DRIP_SECONDS
        stopping = self.server.owner.stopping
        for index in range(len(payload)):
            if index and stopping.wait(interval):
                break
            if time.monotonic() > deadline:
                break
            self._send(payload[index : index + 1])  # raises once the client has gone away
        self._close(reset=False)

    def _close(self, *, reset: bool) -> None:
        """End the connection now: FIN, or RST with ``reset``."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        if reset:
            linger = struct.pack("ii", 1, 0)
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            except OSError:
                pass
            with self.server.connections_lock:
                self.server.resets.add(self.connection)
            return
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
