"""Odd but possible service answers (adversarial #11, client part).

None of them may be "internal error (a bug)" (exit 1) or be re-emitted as invalid JSON. Every
body goes through ONE strict reader (rundctl.jsonio.loads_service) with depth and size limits:
what it refuses is an unreadable response (exit 11) on a read and outcome unknown (exit 9) on
a create. Decided here: NaN, Infinity, 1e999, lone surrogates and duplicate keys in a service
body are refused, so whatever rundctl prints is valid JSON. Every test talks to 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from rundctl import errors, jsonio
from rundctl.client import Deadline, GraphClient, NoAuth, check_next_link, parse_error, same_origin
from rundctl.errors import ExitCode
from tests.scripted_server import ScriptedServer, Step

FLOW = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
RUNS = f"/industryData/incomingFlows/{FLOW}/runs"
RUN_ID = "3f1c1e9a-1f2b-4c8d-9e0f-123456789abc"
RUN = {"displayName": "Nightly", "startDateTime": "2026-11-01T10:00:00Z", "status": "completed",
       "statistics": {}}
CREATED = {**RUN, "id": RUN_ID}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def client_for(base: str, **kwargs) -> GraphClient:
    return GraphClient(base, session=requests.Session(), auth=NoAuth(), deadline=Deadline(30),
                       sleep=lambda _s: None, rand=lambda: 0.0, **kwargs)


def page_text(item_json: str) -> bytes:
    return ('{"value": [' + item_json + "]}").encode()


DEEP = "[" * 100_000 + "]" * 100_000
ODD_BODIES = {
    "lone high surrogate": page_text('{"id": "x", "displayName": "\\ud800"}'),
    "lone low surrogate in a key": page_text('{"id": "x", "\\udc00": 1}'),
    "surrogate as raw UTF-8 bytes": b'{"value": [{"id": "x", "displayName": "\xed\xa0\x80"}]}',
    "NaN": page_text('{"id": "x", "statistics": {"n": NaN}}'),
    "Infinity": page_text('{"id": "x", "statistics": {"n": Infinity}}'),
    "-Infinity": page_text('{"id": "x", "statistics": {"n": -Infinity}}'),
    "1e999": page_text('{"id": "x", "statistics": {"n": 1e999}}'),
    "an integer too long to convert": page_text('{"id": "x", "n": ' + "9" * 5000 + "}"),
    "duplicate keys": page_text('{"id": "x", "id": "y"}'),
    "100k-deep nesting": ('{"value": [' + DEEP + "]}").encode(),
    "100k-deep unclosed": ('{"value": ' + "[" * 100_000).encode(),
    "UTF-16": json.dumps({"value": []}).encode("utf-16"),
    "latin-1": '{"value": [{"id": "café"}]}'.encode("latin-1"),
    "not JSON": b"<html>oops</html>",
    "trailing garbage": b'{"value": []} x',
}


@pytest.mark.parametrize("case", list(ODD_BODIES))
def test_an_odd_body_on_a_read_is_exit_11(server, case) -> None:
    server.queue(Step(200, body=ODD_BODIES[case], headers={"Content-Type": "application/json"}))
    with pytest.raises(errors.BadResponse) as info:
        list(client_for(server.url).iter_collection(RUNS))
    assert info.value.exit_code == ExitCode.BAD_RESPONSE
    assert info.value.message.startswith("unreadable response from the service (HTTP 200, not JSON)")


@pytest.mark.parametrize("case", list(ODD_BODIES))
def test_an_odd_body_on_a_201_create_is_outcome_unknown(server, case) -> None:
    server.queue(Step(201, body=ODD_BODIES[case]))
    with pytest.raises(errors.OutcomeUnknown) as info:
        client_for(server.url).send("POST", server.url + RUNS, body=RUN, kind="create")
    assert info.value.exit_code == ExitCode.OUTCOME_UNKNOWN
    assert server.count("POST") == 1


@pytest.mark.parametrize("status", [400, 404, 429, 500, 503])
def test_an_odd_error_body_keeps_the_status_meaning(server, status) -> None:
    for body in (("{" + '"error":' * 0 + DEEP + "}").encode(), DEEP.encode(),
                 b'{"error": {"code": "x\\ud800", "message": NaN}}'):
        server.queue(*[Step(status, body=body)] * 5)  # reads retry 5xx/429
        with pytest.raises(errors.RundctlError) as info:
            client_for(server.url).send("GET", server.url + RUNS)
        assert info.value.exit_code not in (ExitCode.INTERNAL, ExitCode.BAD_RESPONSE)


def test_parse_error_survives_deep_and_invalid_envelopes() -> None:
    for raw in (DEEP.encode(), b"[" * 200_000, b'{"error": {"message": "\\udfff"}}', b"\xff\xfe"):
        info = parse_error(502, {}, raw)
        assert info.status == 502
        if info.message is not None:
            info.message.encode("utf-8")  # printable: no lone surrogate survives


def test_a_reasonably_deep_answer_is_read(server) -> None:
    statistics: object = 1
    for _ in range(31):
        statistics = {"n": statistics}
    item = {**CREATED, "statistics": statistics}  # 32 levels inside a run inside a page
    server.queue(Step(200, json={"value": [item]}))
    assert list(client_for(server.url).iter_collection(RUNS)) == [item]


@pytest.mark.parametrize("body", [None, b"", b"  \r\n", b"{}", b'{"id": null}', b'{"id": ""}',
                                  b'{"id": 42}', b'{"id": ["x"]}', b"[]", b'"created"', b"null"])
@pytest.mark.parametrize("status", [200, 201])
def test_a_create_answered_without_the_new_id_is_outcome_unknown(server, status, body) -> None:
    step = Step(status, body=body) if body is not None else Step(status, json=None, body=b"")
    server.queue(step)
    with pytest.raises(errors.OutcomeUnknown) as info:
        client_for(server.url).send("POST", server.url + RUNS, body=RUN, kind="create")
    assert "client-request-id" in (info.value.hint or "")
    assert server.count("POST") == 1


def test_a_202_start_without_a_body_is_still_fine(server) -> None:
    server.queue(Step(202, json=None, body=b""))
    resp = client_for(server.url).send("POST", server.url + "/start", kind="create")
    assert resp.status == 202 and resp.body is None


@pytest.mark.parametrize("status", [102, 103, 199])
def test_an_informational_final_answer_is_never_success(server, status) -> None:
    # http.client hands any 1xx other than 100 back as the final answer (100 it skips)
    server.queue(Step(status, json=None, body=b""), Step(status, json=None, body=b""))
    with pytest.raises(errors.OutcomeUnknown):
        client_for(server.url).send("POST", server.url + RUNS, body=RUN, kind="create")
    with pytest.raises(errors.BadResponse):
        client_for(server.url).get_json(RUNS)


# --------------------------------------------------------------------------- @odata.nextLink


def next_link_page(link: object) -> Step:
    return Step(200, json={"value": [CREATED], "@odata.nextLink": link})


@pytest.mark.parametrize(
    "link",
    [
        "http://127.0.0.1:99999/x",
        "http://127.0.0.1:abc/",
        "http://127.0.0.1:-1/x",
        "http://[::1/",
        "http://[::1]x/",
        "http://[zzz]:80/",
        "http:///no-host",
        "http://",
        "/relative/path",
        "runs?$skiptoken=2",
        "ftp://127.0.0.1/x",
        "javascript:alert(1)",
        "http://127.0.0.1:{port}/a\nb",
        "http://127.0.0.1:{port}/a b",
        "http://127.0.0.1:{port}/a\x00",
        42,
        ["http://127.0.0.1/"],
        "",
    ],
)
def test_an_unusable_next_link_is_exit_11(server, link) -> None:
    if isinstance(link, str):
        link = link.replace("{port}", str(server.port))
    server.queue(next_link_page(link))
    got = []
    with pytest.raises(errors.BadResponse) as info:
        got.extend(client_for(server.url).iter_collection(RUNS))
    assert info.value.exit_code == ExitCode.BAD_RESPONSE
    assert "@odata.nextLink" in info.value.message
    assert server.count("GET") == 1


@pytest.mark.parametrize(
    "link",
    [
        "http://[::1]:{port}/x",
        "http://[::ffff:127.0.0.1]:{port}/x",
        "http://localhost:{port}/x",
        "https://127.0.0.1:{port}/x",
        "http://127.0.0.1:{other}/x",
        "http://127.0.0.2:{port}/x",
        "http://user:pw@127.0.0.1:{port}/x",
        "http://127.0.0.1:{port}@evil.example/x",
        "http://evil.example/x",
    ],
)
def test_a_next_link_elsewhere_is_exit_10(server, link) -> None:
    link = link.format(port=server.port, other=server.port + 1 if server.port < 65535 else 1)
    server.queue(next_link_page(link))
    with pytest.raises(errors.SecurityRefused) as info:
        list(client_for(server.url).iter_collection(RUNS))
    assert info.value.exit_code == ExitCode.SECURITY
    assert server.count("GET") == 1


def test_the_same_origin_in_another_spelling_is_followed(server) -> None:
    server.queue(next_link_page(f"HTTP://127.0.0.1:{server.port}{RUNS}?$skiptoken=2"),
                 Step(200, json={"value": []}))
    assert len(list(client_for(server.url).iter_collection(RUNS))) == 1
    assert server.count("GET") == 2


class _V6Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    pages: dict[str, bytes] = {}

    def do_GET(self) -> None:
        body = self.pages.get(self.path.split("?")[0] + ("?2" if "skiptoken" in self.path else ""),
                              b'{"value": []}')
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True


@pytest.fixture
def v6_server() -> Iterator[_V6Server]:
    try:
        httpd = _V6Server(("::1", 0), _V6Handler)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01},
                              daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_an_ipv6_endpoint_follows_its_own_next_link(v6_server) -> None:
    port = v6_server.server_address[1]
    base = f"http://[::1]:{port}"
    _V6Handler.pages = {
        RUNS: json.dumps({"value": [CREATED],
                          "@odata.nextLink": f"http://[0:0:0:0:0:0:0:1]:{port}{RUNS}?$skiptoken=2"}
                         ).encode(),
        RUNS + "?2": json.dumps({"value": [{**CREATED, "id": "2"}],
                                 "@odata.nextLink": f"http://127.0.0.1:{port}{RUNS}"}).encode(),
    }
    got = []
    with pytest.raises(errors.SecurityRefused):  # the IPv4 loopback is another host
        got.extend(item["id"] for item in client_for(base).iter_collection(RUNS))
    assert got == [RUN_ID, "2"]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("http://127.0.0.1:80/x", "http://127.0.0.1/y", True),
        ("https://graph.microsoft.com/beta", "https://GRAPH.microsoft.com:443/v1.0", True),
        ("http://[::1]:8080/", "http://[0::1]:8080/", True),
        ("http://127.0.0.1:99999/", "http://127.0.0.1:99999/", False),  # unparsable: never same
        ("http://[::1/", "http://[::1/", False),
        ("http://127.0.0.1:abc/", "http://127.0.0.1/", False),
        ("http://a.example/", "https://a.example/", False),
    ],
)
def test_same_origin_never_raises(a, b, same) -> None:
    assert same_origin(a, b) is same


def test_check_next_link_returns_the_link_when_usable() -> None:
    base = "https://graph.microsoft.com/beta"
    link = base + "/x?$skiptoken=2"
    assert check_next_link(link, base) == link


def test_one_strict_reader_for_responses_has_its_own_limits() -> None:
    assert jsonio.loads_service(b'\xef\xbb\xbf{"a": [1]}') == {"a": [1]}
    nested = "[" * 60 + "]" * 60
    assert jsonio.loads_service(nested.encode()) == json.loads(nested)
    with pytest.raises(errors.InvalidInput, match="deeper than 64"):
        jsonio.loads_service(("[" * 65 + "]" * 65).encode())
    with pytest.raises(errors.InvalidInput, match="larger than"):
        jsonio.loads_service(b"[" + b"1," * 100 + b"1]", max_bytes=100)
