"""The sandbox's connections against slow, idle and numerous clients (adversarial #18).

Slowloris used to hold a thread and a file descriptor for 300 s per idle connection, any
number of them; at the fd limit accept() failed with EMFILE in a busy loop (99 % CPU).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from rundctl.sandbox.httpd import SandboxHTTPServer
from rundctl.sandbox.server import Sandbox, SandboxOptions

FLOW = "0b8e2f3a-51a4-4e0c-9d5f-3a7c1c2b9e10"
RUNS = f"/industryData/incomingFlows/{FLOW}/runs"
Factory = Callable[..., Sandbox]




def address(sandbox: Sandbox) -> tuple[str, int]:
    split = urlsplit(sandbox.base_url)
    return split.hostname or "", split.port or 0


def closed_by_server(raw: socket.socket) -> bool:
    """Wait (up to the socket's timeout) for the server to close; True if it did."""
    try:
        while raw.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def test_options_have_sensible_defaults() -> None:
    options = SandboxOptions()
    assert 0 < options.idle_timeout <= 60
    assert 16 <= options.max_connections <= 1000
    assert SandboxHTTPServer.request_queue_size >= 128  # a burst of connects is not reset
    with pytest.raises(ValueError, match="idle_timeout"):
        Sandbox(SandboxOptions(idle_timeout=0))
    with pytest.raises(ValueError, match="max_connections"):
        Sandbox(SandboxOptions(max_connections=0))


def test_an_idle_connection_is_closed_after_the_idle_timeout(make_sandbox: Factory) -> None:
    sandbox = make_sandbox(idle_timeout=0.2)
    with socket.create_connection(address(sandbox), timeout=20) as raw:
        assert closed_by_server(raw)


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(make_sandbox: Factory) -> None:
    sandbox = make_sandbox(idle_timeout=0.2)
    with socket.create_connection(address(sandbox), timeout=20) as raw:
        raw.sendall(f"GET {RUNS} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += raw.recv(65536)
        assert reply.startswith(b"HTTP/1.1 200")
        assert closed_by_server(raw)


def test_a_slowloris_dripping_its_headers_is_cut_off(make_sandbox: Factory) -> None:
    """Each byte arrives well within the idle timeout; the whole head never does in time."""
    sandbox = make_sandbox(idle_timeout=0.5)
    head = f"GET {RUNS} HTTP/1.1\r\nHost: x\r\n" + "".join(f"X-Pad-{i}: {i}\r\n" for i in range(40))
    with socket.create_connection(address(sandbox), timeout=20) as raw:
        for byte in head.encode():
            try:
                raw.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.05)  # pacing the drip only; nothing asserts on time
        else:
            pytest.fail("the server kept reading a head that took ~30 s to arrive")
        assert closed_by_server(raw)


def test_connections_beyond_the_cap_get_503_and_close(make_sandbox: Factory) -> None:
    sandbox = make_sandbox(max_connections=3, idle_timeout=30)
    host, port = address(sandbox)
    held = [http.client.HTTPConnection(host, port, timeout=20) for _ in range(3)]
    try:
        for connection in held:
            connection.request("GET", RUNS)
            assert connection.getresponse().read() and True
        extra = http.client.HTTPConnection(host, port, timeout=20)
        extra.request("GET", RUNS)
        refused = extra.getresponse()
        body = json.loads(refused.read())
        assert refused.status == 503
        assert refused.getheader("Connection") == "close"
        assert refused.getheader("Retry-After") == "1"
        assert body["error"]["code"] == "serviceNotAvailable"
        assert {"date", "request-id", "client-request-id"} <= set(body["error"]["innerError"])
        extra.close()
        # The held connections are still served.
        held[0].request("GET", RUNS)
        assert held[0].getresponse().status == 200
        # Once one of them goes, a new client gets in.
        held.pop().close()
        for _ in range(200):
            again = http.client.HTTPConnection(host, port, timeout=20)
            again.request("GET", RUNS)
            status = again.getresponse().status
            again.close()
            if status == 200:
                break
            time.sleep(0.05)
        assert status == 200
    finally:
        for connection in held:
            connection.close()


EMFILE_SCRIPT = textwrap.dedent(
    """
    import os, resource, socket, sys, time

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, hard))
    from rundctl.sandbox.server import Sandbox, SandboxOptions

    attempts = [0]
    accept = socket.socket.accept

    def counting_accept(self):
        attempts[0] += 1
        return accept(self)

    socket.socket.accept = counting_accept
    sandbox = Sandbox(SandboxOptions(port=0, max_connections=1000))
    print(sandbox.start(), flush=True)
    hog = []
    while True:  # use up every file descriptor
        try:
            hog.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            break
    print("full", flush=True)
    sys.stdin.readline()  # the parent has connected: accept() now fails with EMFILE
    attempts[0] = 0
    time.sleep(1.0)
    failed = attempts[0]
    for fd in hog:
        os.close(fd)
    print(failed, flush=True)
    sys.stdin.readline()
    sandbox.stop()
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_NOFILE and EMFILE as on Linux")
def test_accept_backs_off_at_the_fd_limit_instead_of_spinning(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", EMFILE_SCRIPT],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), proc.stderr.read() if proc.stderr else ""
        assert proc.stdout.readline().strip() == "full"
        split = urlsplit(url)
        client = socket.create_connection((split.hostname or "", split.port or 0), timeout=30)
        client.sendall(f"GET {RUNS} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        proc.stdin.write("connected\n")
        proc.stdin.flush()
        failed_accepts = int(proc.stdout.readline())
        # A busy loop makes hundreds of thousands of attempts a second; backing off, a handful.
        assert failed_accepts < 100, failed_accepts
        # Once descriptors are free again, the waiting client is served.
        reply = b""
        while chunk := client.recv(65536):
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
        client.close()
    finally:
        proc.stdin.write("done\n")
        proc.stdin.flush()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
