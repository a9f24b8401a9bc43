"""The sandbox's sockets: a threaded HTTP/1.1 server and its request handler.

This layer reads request bodies (``Content-Length`` or chunked), keeps connections alive,
turns each request into a :class:`~.messages.Request` for :class:`~.api.SandboxApi`, writes
the :class:`~.messages.Response` back in one write and logs one line per request. It knows
no routes and no SQL.

(Named ``httpd`` rather than ``http`` so that it never shadows the standard library's ``http``.)
"""

from __future__ import annotations

import errno
import io
import ipaddress
import json
import re
import socket
import socketserver
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from rundctl import __version__, jsonio
from rundctl.sandbox import odata
from rundctl.sandbox.api import SandboxApi, document_too_large
from rundctl.sandbox.messages import GraphError, Request, Response

# However a body is framed, the server reads at most this much of it: one JSON document.
MAX_BODY = jsonio.MAX_DOCUMENT_BYTES
# Graph's content type for JSON answers (OData minimal metadata, streamed, 64-bit numbers as
# JSON numbers).
_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
ODATA_VERSION = "4.0"  # OData 4.01 asks every answer to say which version it speaks
_DIGITS = re.compile(r"[0-9]+")
_NOT_PRINTABLE = re.compile(r"[^\x21-\x7e]+")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;[^\r\n]*)?\r?\n")
_MAX_LINE = 1024  # a chunk-size line or a trailer line
_MAX_TRAILERS = 32
_LINGER_SECONDS = 2.0  # after an error answer, read what the client still sends, then close
_LINGER_BYTES = 2 * MAX_BODY
_MAX_REJECTING = 16  # connections beyond the cap being answered 503 at a time; more are closed
_REJECT_SECONDS = 1.0  # how long such a connection may take to send its request head
_ACCEPT_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_FD_RESERVE = 32  # file descriptors kept for the database, logs and the rest of the process


class SandboxHTTPServer(ThreadingHTTPServer):
    """One thread per connection, and a bounded number of them.

    At most ``max_connections`` are served at once (fewer if the file-descriptor limit is
    low); up to ``_MAX_REJECTING`` more are answered ``503`` with ``Retry-After`` and closed,
    and beyond that new connections are closed at once. A connection's request head must
    arrive within ``idle_timeout`` of the previous answer (or of connecting), and its body
    within ``idle_timeout`` of the head. When ``accept()`` fails for lack of descriptors the
    loop backs off instead of spinning.
    """

    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up stop()
    request_queue_size = 128  # listen() backlog: a burst of fresh connections is not reset

    def __init__(
        self,
        address: tuple[str, int],
        api: SandboxApi,
        *,
        log: TextIO | None = None,
        clock: Callable[[], float] = time.time,
        idle_timeout: float = 15.0,
        max_connections: int = 100,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.api = api
        self.log = log
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.max_connections = min(max_connections, _descriptor_budget())
        self.connections: set[socket.socket] = set()  # being served
        self.rejecting: set[socket.socket] = set()  # being answered 503
        self.connections_lock = threading.Lock()
        self.log_lock = threading.Lock()
        self._accept_failures = 0
        self._stopping = threading.Event()
        super().__init__(address, SandboxRequestHandler)
        host, port = address[0], int(self.server_address[1])
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{port}"
        self.own_hosts, self.any_ip_host = _own_hosts(host, port)

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            accepted = super().get_request()
        except OSError as exc:
            if exc.errno in _ACCEPT_ERRORS:
                # The listening socket stays readable, so retrying at once is a busy loop.
                self._accept_failures += 1
                self._stopping.wait(min(0.5, 0.005 * 2 ** min(self._accept_failures, 7)))
            raise
        self._accept_failures = 0
        return accepted

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            if len(self.connections) < self.max_connections:
                self.connections.add(request)
            elif len(self.rejecting) < _MAX_REJECTING:
                self.rejecting.add(request)
            else:
                request = None
        if request is None:  # no thread, no answer: the cheapest way out of an overload
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        if request is None:
            return
        with self.connections_lock:
            self.connections.discard(request)
            self.rejecting.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that resets or times out is not news; anything else goes to the log."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError) or self.log is None:
            return
        self.write_log(traceback.format_exc().rstrip())

    def shutdown(self) -> None:
        self._stopping.set()
        super().shutdown()

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can stall.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = [*self.connections, *self.rejecting]
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def write_log(self, line: str) -> None:
        if self.log is None:
            return
        with self.log_lock:
            try:
                self.log.write(line + "\n")
                self.log.flush()
            except (OSError, ValueError):
                pass


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"rundctl-sandbox/{__version__}"
    sys_version = ""
    wbufsize = -1  # buffer each response and send it in one write (see handle_one_request)
    disable_nagle_algorithm = True  # with HTTP/1.1 keep-alive, Nagle adds ~40 ms per response
    server: SandboxHTTPServer
    linger = False  # set when the connection closes after an error answer
    overloaded = False  # beyond the server's connection cap: answer 503 and close
    deadline = 0.0  # time.monotonic() by which the current read must be done
    patience = 15.0  # seconds for each deadline: the server's idle_timeout, or less if overloaded

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        with self.server.connections_lock:
            self.overloaded = self.request in self.server.rejecting
        self.patience = _REJECT_SECONDS if self.overloaded else self.server.idle_timeout
        super().setup()
        self.connection.settimeout(self.patience)
        # Reads go through a deadline, not a per-recv timeout: a client dripping one byte at a
        # time would otherwise keep a thread and a descriptor forever.
        self.rfile.close()
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self))

    def handle_one_request(self) -> None:
        self.deadline = time.monotonic() + self.patience  # idle keep-alive + the request head
        super().handle_one_request()

    def finish(self) -> None:
        super().finish()  # flushes the answer
        if self.linger:
            self._linger()

    def _linger(self) -> None:
        """Close gracefully after refusing a request whose body was not read: stop sending,
        then read and drop what the client still sends (bounded), so that closing with
        unread data does not reset the connection before the client has read the answer."""
        deadline = time.monotonic() + _LINGER_SECONDS
        drained = 0
        try:
            self.connection.shutdown(socket.SHUT_WR)
            while drained < _LINGER_BYTES:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.connection.settimeout(remaining)
                data = self.connection.recv(65536)
                if not data:
                    break
                drained += len(data)
        except OSError:
            pass

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's stderr logging; requests are logged by :meth:`_log`."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: see :meth:`_log`."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol-level errors (bad request line, unknown method, ...) as Graph envelopes."""
        self.close_connection = True
        self.linger = True
        try:
            status = HTTPStatus(code)
            text = message or status.phrase
        except ValueError:
            text = message or "Error"
        request = Request(
            method=getattr(self, "command", None) or "-",
            target=getattr(self, "path", "") or "-",
            path="",
            segments=[],
            prefix="",
            query=[],
            headers=Message(),
            body=b"",
            origin=self.server.base_url,
        )
        code_name = "BadRequest" if code < 500 else "generalException"
        if code == 501:
            code_name = "notSupported"
        error = GraphError(code, code_name, text)
        self._respond(request, self.server.api.error_response(request, error), time.perf_counter())

    def _dispatch(self) -> None:
        started = time.perf_counter()
        self.deadline = time.monotonic() + self.patience  # the body
        split = urlsplit(self.path)
        raw_segments = [s for s in split.path.split("/")]
        segments = [unquote(s) for s in raw_segments[1:]]
        if segments and segments[-1] == "":
            segments.pop()  # one trailing slash is tolerated
        prefix = ""
        if segments and segments[0].lower() in ("beta", "v1.0"):
            prefix = "/" + segments.pop(0).lower()
        # Echoed in a header and the envelope: printable ASCII on one line (no obs-fold, no CR/LF).
        sent = self.headers.get("client-request-id") or ""
        client_request_id = " ".join(_NOT_PRINTABLE.sub(" ", sent).split())[:200]
        request = Request(
            method=self.command,
            target=self.path,
            path=split.path,
            segments=segments,
            prefix=prefix,
            query=parse_qsl(split.query, keep_blank_values=True),
            headers=self.headers,
            body=b"",
            origin=self._origin(),
            client_request_id=client_request_id or str(uuid.uuid4()),
            remote=str(self.client_address[0]) if self.client_address else "",
        )
        if self.overloaded:
            busy = GraphError(
                503,
                "serviceNotAvailable",
                "The sandbox is serving as many connections as it can; retry shortly.",
                headers=[("Retry-After", "1")],
            )
            response = self.server.api.error_response(request, busy)
            response.close = self.linger = True
            self._respond(request, response, started)
            return
        try:
            request.body = self._read_body()
        except GraphError as error:
            response = self.server.api.error_response(request, error)
            response.close = True
            self.linger = True
        else:
            response = self.server.api.serve(request)
        self._respond(request, response, started)

    def _origin(self) -> str:
        """Where links point: the Host header only when it names this server's own address
        (a hostile page resolving its own name to 127.0.0.1 must not be echoed, DNS
        rebinding); otherwise the bound address."""
        host = (self.headers.get("Host") or "").strip().lower()
        if host in self.server.own_hosts or (
            self.server.any_ip_host and _is_ip_host(host, self.server.server_port)
        ):
            return f"http://{host}"
        return self.server.base_url

    # -- bodies --------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        """The body, at most MAX_BODY however it is framed; GraphError (the connection then
        closes) for framing the sandbox cannot trust."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return b""
        # 1*DIGIT, and every copy the same (RFC 9110 §8.6); int() alone takes "+5" and "5_0".
        values = {value.strip() for value in lengths}
        value = values.pop()
        if values or not _DIGITS.fullmatch(value):
            raise _malformed("Invalid Content-Length header.")
        length = int(value) if len(value) <= 20 else MAX_BODY + 1
        if length > MAX_BODY:
            raise document_too_large()
        body = self.rfile.read(length)
        if len(body) != length:
            raise _malformed("The request body ended before its Content-Length.")
        return body

    def _read_chunked(self) -> bytes:
        """RFC 9112 §7.1: hex sizes only, CRLF after each chunk, a bounded trailer section."""
        chunks: list[bytes] = []
        total = 0
        while True:
            match = _CHUNK_SIZE.fullmatch(self.rfile.readline(_MAX_LINE))
            if match is None:
                raise _malformed("Malformed chunked body: a chunk size must be hex digits.")
            digits = match.group(1).lstrip(b"0") or b"0"
            size = int(digits, 16) if len(digits) <= 8 else MAX_BODY + 1
            if size == 0:
                break
            total += size
            if total > MAX_BODY:
                raise document_too_large()  # before reading it
            data = self.rfile.read(size)
            if len(data) != size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _malformed("Malformed chunked body: a chunk must end with CRLF.")
            chunks.append(data)
        for _ in range(_MAX_TRAILERS + 1):
            line = self.rfile.readline(_MAX_LINE)
            if line in (b"\r\n", b"\n"):
                return b"".join(chunks)
            if not line.endswith(b"\n"):
                break  # the stream ended, or the line is too long
        raise _malformed("Malformed chunked body: the trailer section is too long or incomplete.")

    # -- answers -------------------------------------------------------------------------------

    def _respond(self, request: Request, response: Response, started: float) -> None:
        if response.drop:
            # "The service applied it but the client never learned": no status line at all.
            self.close_connection = True
            self._log(request, response, started)
            return
        payload, content_type = self._payload(request, response)
        self.connection.settimeout(self.patience)  # writing to a client that does not read
        if response.close:
            self.close_connection = True
        self.send_response(response.status)
        self.send_header("request-id", request.request_id)
        self.send_header("client-request-id", request.client_request_id or str(uuid.uuid4()))
        self.send_header("OData-Version", ODATA_VERSION)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if payload and request.method != "HEAD":
            self.wfile.write(payload)
        self._log(request, response, started)

    def _payload(self, request: Request, response: Response) -> tuple[bytes, str | None]:
        """The body as bytes; never invalid JSON (no NaN/Infinity, no lone surrogates)."""
        if response.raw is not None:
            return response.raw, "text/plain; charset=utf-8"
        if response.body is None:
            return b"", None
        try:
            text = json.dumps(response.body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            return text.encode(), _JSON
        except ValueError:  # UnicodeEncodeError included; e.g. data stored by an older sandbox
            internal = GraphError(500, "generalException", "The answer cannot be written as valid JSON.")
            envelope = self.server.api.error_response(request, internal)
            response.status, response.headers = envelope.status, envelope.headers
            return json.dumps(envelope.body, separators=(",", ":")).encode(), _JSON

    def _log(self, request: Request, response: Response, started: float) -> None:
        if self.server.log is not None:
            elapsed = (time.perf_counter() - started) * 1000
            self.server.write_log(log_line(self.server.clock(), request, response, elapsed))


_UNSAFE = re.compile(r"[^\x21-\x7e]")


class _DeadlineReader(io.RawIOBase):
    """The socket as a raw stream whose every read must finish by the handler's deadline."""

    def __init__(self, sock: socket.socket, handler: SandboxRequestHandler) -> None:
        self._sock = sock
        self._handler = handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._handler.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the client took too long to send its request")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


def _own_hosts(host: str, port: int) -> tuple[frozenset[str], bool]:
    """The ``host:port`` values a Host header may carry to be reflected into links, and
    whether any IP literal with the port qualifies too (a wildcard bind, ``0.0.0.0``/``::``).

    The bound address; for a loopback or wildcard bind also ``localhost``; for a ``localhost``
    bind also ``127.0.0.1`` and ``::1``.
    """
    host = host.lower()
    names = {host}
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    loopback = host == "localhost" or (address is not None and address.is_loopback)
    wildcard = address is not None and address.is_unspecified
    if loopback or wildcard:
        names.add("localhost")
    if host == "localhost":
        names |= {"127.0.0.1", "::1"}
    return frozenset(f"[{name}]:{port}" if ":" in name else f"{name}:{port}" for name in names), wildcard


def _is_ip_host(host: str, port: int) -> bool:
    """Whether a Host header is an IP literal (never subject to DNS rebinding) with *port*."""
    name, colon, given = host.rpartition(":")
    if not colon or given != str(port):
        return False
    try:
        ipaddress.ip_address(name.removeprefix("[").removesuffix("]") if name.startswith("[") else name)
    except ValueError:
        return False
    return name.startswith("[") == (":" in name)


def _descriptor_budget() -> int:
    """How many connections the file-descriptor limit leaves room for."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return 1 << 30
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 30
    return max(1, int(soft) - _FD_RESERVE)


def log_line(now: float, request: Request, response: Response, elapsed_ms: float) -> str:
    """``<ISO time> <METHOD> <target> <status> <ms>ms crid=<id> [fault=<kind>]``; one line."""

    def safe(text: str) -> str:
        return _UNSAFE.sub(lambda m: quote(m.group(), safe=""), text) or "-"

    moment = odata.utc(now)
    stamp = f"{odata.iso_seconds(moment)}.{moment.microsecond // 1000:03d}Z"
    status = "-" if response.drop else str(response.status)
    crid = (request.headers.get("client-request-id") or "").strip()
    line = (
        f"{stamp} {safe(request.method)} {safe(request.target)} {status} {elapsed_ms:.1f}ms"
        f" crid={safe(crid[:200])}"
    )
    if response.fault is not None:
        line += f" fault={response.fault}"
    return line


def _malformed(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)
