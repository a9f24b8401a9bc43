"""The sandbox against hostile clients, over real HTTP: bad input is a 400, never a 500.

Each test names the problem it guards against; all of them failed before the fix.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from rundctl.sandbox.server import Sandbox, SandboxOptions

FLOW = "0b8e2f3a-51a4-4e0c-9d5f-3a7c1c2b9e10"
RUNS = f"/industryData/incomingFlows/{FLOW}/runs"
PUBLISHED = "/external/industryData/runs"
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z

Factory = Callable[..., Sandbox]


class Reply:
    def __init__(self, status: int, headers: http.client.HTTPMessage, data: bytes) -> None:
        self.status = status
        self.headers = headers
        self.data = data

    def json(self) -> Any:
        return strict_json(self.data)


def strict_json(data: bytes) -> Any:
    """Parse as a strict client would: NaN / Infinity are not JSON."""

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(data, parse_constant=refuse)


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[Factory]:
    started: list[Sandbox] = []

    def make(**options: Any) -> Sandbox:
        options.setdefault("port", 0)
        options.setdefault("db", str(tmp_path / "sandbox.db"))
        options.setdefault("clock", lambda: T0)
        sandbox = Sandbox(SandboxOptions(**options))
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(make_sandbox: Factory) -> Sandbox:
    return make_sandbox()


def call(
    sandbox: Sandbox,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    split = urlsplit(sandbox.base_url)
    connection = http.client.HTTPConnection(split.hostname or "", split.port, timeout=30)
    try:
        sent = dict(headers or {})
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def run_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "@odata.type": "#microsoft.industryData.run",
        "displayName": "Nightly import",
        "startDateTime": "2024-05-01T10:00:00Z",
        "endDateTime": "2024-05-01T10:30:00Z",
        "status": "completed",
        "statistics": {"people": 120},
    }
    body.update(overrides)
    return body


def create(sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    reply = call(sandbox, "POST", RUNS, json.dumps(run_body(**overrides)).encode())
    assert reply.status == 201, reply.data
    created: dict[str, Any] = reply.json()
    return created


def assert_bad_request(reply: Reply, fragment: str = "") -> dict[str, Any]:
    """A 400 in Graph's envelope: BadRequest, a message, innerError with the three ids."""
    assert reply.status == 400, reply.data[:300]
    body = reply.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["code"] == "BadRequest"
    assert isinstance(error["message"], str) and error["message"]
    assert fragment in error["message"]
    assert {"date", "request-id", "client-request-id"} <= set(error["innerError"])
    assert error["innerError"]["request-id"] == reply.headers["request-id"]
    return error


def query(path: str, **options: str) -> str:
    return path + "?" + "&".join(f"${k}={quote(v, safe='')}" for k, v in options.items())


def skiptoken(data: str) -> str:
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


# ---------------------------------------------------------------------------------------------
# #15: query options that used to crash the handler (500 with a traceback)


@pytest.mark.parametrize(
    "expression",
    [
        "(" * 3000 + "status eq 'failed'" + ")" * 3000,
        "not " * 3000 + "status eq 'failed'",
        " and ".join(["status eq 'failed'"] * 1200),  # as long as a request line allows
        " or ".join(["status eq 'failed'"] * 1200),
        "(" * 900 + "status eq 'failed'" + ")" * 900,  # parses, but SQLite's tree depth is 1000
    ],
    ids=["parentheses", "not-chain", "and-chain", "or-chain", "sqlite-depth"],
)
@pytest.mark.parametrize("path", [RUNS, PUBLISHED, f"{PUBLISHED}/$count"])
def test_a_deep_or_long_filter_is_a_400(sandbox: Sandbox, path: str, expression: str) -> None:
    create(sandbox)
    options = {"filter": expression} if path.endswith("$count") else {"filter": expression, "count": "true"}
    assert_bad_request(call(sandbox, "GET", query(path, **options)), "Invalid filter clause")


def test_a_filter_at_the_limits_still_works(sandbox: Sandbox) -> None:
    create(sandbox, status="failed")
    nested = "(" * 30 + "not status eq 'completed'" + ")" * 30
    reply = call(sandbox, "GET", query(RUNS, filter=nested))
    assert reply.status == 200, reply.data
    assert len(reply.json()["value"]) == 1
    many = " or ".join(["status eq 'failed'"] * 50)
    assert call(sandbox, "GET", query(PUBLISHED, filter=many)).status == 200


@pytest.mark.parametrize(
    "token",
    [
        skiptoken('{"d":1,"k":"2024-05-01T10:00:00.0000000Z","s":1e999}'),
        skiptoken('{"d":1,"k":"2024-05-01T10:00:00.0000000Z","s":' + "1" + "0" * 30 + "}"),
        skiptoken('{"d":1,"k":"2024-05-01T10:00:00.0000000Z","s":-1e999}'),
        skiptoken('{"d":1,"k":"2024-05-01T10:00:00.0000000Z","s":NaN}'),
        skiptoken('{"d":1,"k":"2024-05-01T10:00:00.0000000Z","s":1.5}'),
        skiptoken('{"d":1,"k":"2024-05-01T10:00:00.0000000Z","s":true}'),
        skiptoken('{"d":1,"k":["x"],"s":1}'),
        skiptoken('{"d":"yes","k":"2024-05-01T10:00:00.0000000Z","s":1}'),
        skiptoken("[" * 40),
        skiptoken("[" * 5000 + "]" * 5000),
        skiptoken('{"d":1,"k":"2024","s":' + "9" * 5000 + "}"),
    ],
    ids=["1e999", "10^30", "-1e999", "NaN", "fraction", "bool", "key-list", "d-string",
         "open-arrays", "deep", "5000-digits"],
)
def test_a_forged_skiptoken_is_a_400(sandbox: Sandbox, token: str) -> None:
    create(sandbox)
    for path in (RUNS, PUBLISHED):
        assert_bad_request(call(sandbox, "GET", f"{path}?$orderby=startDateTime%20desc&$skiptoken={token}"),
                           "$skiptoken")


@pytest.mark.parametrize("name", ["top", "skip"])
def test_a_number_too_long_for_int_is_a_400(sandbox: Sandbox, name: str) -> None:
    assert_bad_request(call(sandbox, "GET", query(RUNS, **{name: "9" * 5000})), f"${name}")


# ---------------------------------------------------------------------------------------------
# #15 and #16: bodies follow the client's JSON rules (rundctl.jsonio): UTF-8, no duplicate keys,
# no NaN/Infinity/out-of-range numbers, no lone surrogates, depth <= 32, at most 1 MiB


def with_raw(field: str, raw: str) -> bytes:
    """A valid run body whose *field* is the raw JSON text *raw* (which json.dumps can't write)."""
    marker = "@@RAW@@"
    return json.dumps(run_body(**{field: marker})).replace(f'"{marker}"', raw).encode()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def patch(sandbox: Sandbox, run_id: str, data: bytes) -> Reply:
    return call(sandbox, "PATCH", f"{RUNS}/{run_id}", data)


HOSTILE_BODIES = {
    "5000-deep": with_raw("statistics", "{\"a\":" + nested(5000) + "}"),
    "5000-deep-document": nested(5000).encode(),
    "lone-surrogate": with_raw("displayName", '"\\ud800"'),
    "lone-surrogate-key": with_raw("statistics", '{"\\udfff": 1}'),
    "1e400": with_raw("statistics", '{"people": 1e400}'),
    "-1e400": with_raw("statistics", '{"people": -1e400}'),
    "Infinity": with_raw("statistics", '{"people": Infinity}'),
    "33-deep": with_raw("statistics", "{\"a\":" + nested(31) + "}"),
    "nested-duplicate": with_raw("statistics", '{"people": 1, "people": 2}'),
}


@pytest.mark.parametrize("data", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_a_hostile_create_body_is_a_400_and_stores_nothing(sandbox: Sandbox, data: bytes) -> None:
    assert_bad_request(call(sandbox, "POST", RUNS, data), "not valid JSON")
    assert call(sandbox, "GET", RUNS).json()["value"] == []


@pytest.mark.parametrize("data", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_a_hostile_patch_body_is_a_400_and_changes_nothing(sandbox: Sandbox, data: bytes) -> None:
    run = create(sandbox)
    assert_bad_request(patch(sandbox, run["id"], data), "not valid JSON")
    stored = call(sandbox, "GET", f"{RUNS}/{run['id']}").json()
    assert stored == run


def test_the_json_error_says_where(sandbox: Sandbox) -> None:
    error = assert_bad_request(call(sandbox, "POST", RUNS, HOSTILE_BODIES["1e400"]))
    assert "statistics.people" in error["message"] and "out of range" in error["message"]
    error = assert_bad_request(call(sandbox, "POST", RUNS, HOSTILE_BODIES["33-deep"]))
    assert "deeper than 32" in error["message"]


def test_nesting_of_32_and_big_finite_numbers_are_accepted(sandbox: Sandbox) -> None:
    reply = call(sandbox, "POST", RUNS, with_raw("statistics", "{\"a\":" + nested(30) + ", \"n\": 1e300}"))
    assert reply.status == 201, reply.data
    listed = call(sandbox, "GET", RUNS)
    assert listed.json()["value"][0]["statistics"]["n"] == 1e300


def test_a_document_over_1_mib_is_413(sandbox: Sandbox) -> None:
    data = json.dumps(run_body(statistics={"note": "x" * (1024 * 1024)})).encode()
    reply = call(sandbox, "POST", RUNS, data)
    assert reply.status == 413
    assert reply.json()["error"]["code"] == "RequestEntityTooLarge"
    assert "1 MiB" in reply.json()["error"]["message"]
    assert call(sandbox, "GET", RUNS).json()["value"] == []


def test_a_stored_non_finite_number_is_never_served_as_invalid_json(
    make_sandbox: Factory, tmp_path: Path
) -> None:
    """A database written by an older sandbox may hold Infinity: answer valid JSON regardless."""
    sandbox = make_sandbox()
    run = create(sandbox)
    sandbox.stop()
    import sqlite3

    with sqlite3.connect(tmp_path / "sandbox.db") as db:
        db.execute("UPDATE runs SET body = replace(body, '\"people\":120', '\"people\":Infinity')")
    db.close()
    again = make_sandbox()
    for path in (RUNS, f"{RUNS}/{run['id']}"):
        reply = call(again, "GET", path)
        body = reply.json()  # strict: raises on Infinity
        assert reply.status == 500
        assert body["error"]["code"] == "generalException"


# ---------------------------------------------------------------------------------------------
# #17: bodies are bounded however they are framed; bad framing is a 400 and the connection closes


def raw_exchange(sandbox: Sandbox, data: bytes) -> tuple[bytes, bool]:
    """Send *data* and keep the connection open; return the reply and whether the server closed.

    A server that waits for more (or for the end of the stream) fails this by timeout.
    """
    split = urlsplit(sandbox.base_url)
    with socket.create_connection((split.hostname or "", split.port or 0), timeout=10) as raw:
        raw.sendall(data)
        received = b""
        while True:
            try:
                chunk = raw.recv(65536)
            except TimeoutError:
                return received, False
            except ConnectionResetError:
                return received, True
            if not chunk:
                return received, True
            received += chunk


def chunked(body: bytes) -> bytes:
    return (
        f"POST {RUNS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode() + body


def reply_of(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, strict_json(body) if body else None


@pytest.mark.parametrize(
    ("framing", "status"),
    [
        (b"-5\r\nhello", 400),  # used to read the whole stream into memory
        (b"-0\r\n\r\n", 400),
        (b"+5\r\nhello\r\n0\r\n\r\n", 400),
        (b"0x5\r\nhello\r\n0\r\n\r\n", 400),
        (b"5_0\r\nhello", 400),
        (b"\r\n", 400),
        (b"5\r\nhelloXX\r\n0\r\n\r\n", 400),  # chunk data must end with CRLF
        (b"0\r\n" + b"X-Trailer: y\r\n" * 2000, 400),  # trailers are bounded too
        (b"200000\r\n" + b"x" * 100, 413),  # 2 MiB announced: refused before it is read
        (b"fffffffffffffffffffffffffff\r\n", 413),
        (b"100000\r\n" + b" " * 0x100000 + b"\r\n1\r\n ", 413),  # 1 MiB + 1 in two chunks
    ],
    ids=["negative", "minus-zero", "plus", "0x", "underscore", "empty", "no-crlf", "trailers",
         "announced-too-big", "huge-hex", "sum-too-big"],
)
def test_bad_or_oversized_chunked_framing_is_refused_and_closes(
    sandbox: Sandbox, framing: bytes, status: int
) -> None:
    received, closed = raw_exchange(sandbox, chunked(framing))
    assert received, "no answer: the server is still reading"
    code, headers, body = reply_of(received)
    assert code == status, received[:300]
    assert headers["Connection"] == "close"
    assert body["error"]["code"] in ("BadRequest", "RequestEntityTooLarge")
    assert closed
    assert call(sandbox, "GET", RUNS).json()["value"] == []


def test_a_well_formed_chunked_body_still_works(sandbox: Sandbox) -> None:
    data = json.dumps(run_body()).encode()
    framing = b"".join(
        f"{len(part):X};ext=1\r\n".encode() + part + b"\r\n" for part in (data[:10], data[10:])
    ) + b"0\r\nX-Trailer: y\r\n\r\n"
    received, _ = raw_exchange(sandbox, chunked(framing).replace(b"Host: x", b"Connection: close\r\nHost: x"))
    code, _, body = reply_of(received)
    assert code == 201, received[:300]
    assert body["displayName"] == "Nightly import"


@pytest.mark.parametrize("length", ["+5", "5_0", " -1", "0x5", "1e3", "5, 6"])
def test_a_malformed_content_length_is_a_400(sandbox: Sandbox, length: str) -> None:
    request = (
        f"POST {RUNS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n{{}}"
    ).encode()
    received, closed = raw_exchange(sandbox, request)
    code, headers, _ = reply_of(received)
    assert code == 400 and headers["Connection"] == "close" and closed


def test_conflicting_content_lengths_are_a_400(sandbox: Sandbox) -> None:
    request = (
        f"POST {RUNS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\nContent-Length: 200\r\n\r\n{}"
    ).encode()
    received, closed = raw_exchange(sandbox, request)
    code, _, _ = reply_of(received)
    assert code == 400 and closed


# ---------------------------------------------------------------------------------------------
# #19: the Host header is not reflected into links unless it names the bound address (DNS rebinding)


def links_for(sandbox: Sandbox, host: str) -> list[str]:
    """Location, @odata.context and @odata.nextLink of a create and a paged list sent with *host*."""
    body = json.dumps(run_body()).encode()
    created = call(sandbox, "POST", f"/beta{RUNS}", body, headers={"Host": host})
    assert created.status == 201, created.data
    create(sandbox)
    listed = call(sandbox, "GET", f"/beta{RUNS}?$top=1", headers={"Host": host}).json()
    one = call(sandbox, "GET", f"{PUBLISHED}/{created.json()['id']}", headers={"Host": host}).json()
    return [
        created.headers["Location"],
        created.json()["@odata.context"],
        listed["@odata.context"],
        listed["@odata.nextLink"],
        one["@odata.context"],
    ]


@pytest.mark.parametrize(
    "host",
    ["evil.example:{port}", "evil.example", "127.0.0.1.evil.example:{port}", "127.0.0.1:1",
     "localhost", "LOCALHOST.:{port}", "127.0.0.2:{port}"],
)
def test_a_foreign_host_header_is_not_reflected_into_links(sandbox: Sandbox, host: str) -> None:
    port = urlsplit(sandbox.base_url).port
    for link in links_for(sandbox, host.format(port=port)):
        assert link.startswith(sandbox.base_url + "/"), link


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "LocalHost:{port}"])
def test_a_host_header_naming_the_loopback_bind_is_kept(sandbox: Sandbox, host: str) -> None:
    port = urlsplit(sandbox.base_url).port
    shown = host.format(port=port).lower()
    for link in links_for(sandbox, host.format(port=port)):
        assert link.startswith(f"http://{shown}/"), link


# ---------------------------------------------------------------------------------------------
# #21: timestamps before the year 1000 sort and filter in time order (4-digit, zero-padded years)

ANCIENT = ["0001-01-01T00:00:00Z", "0999-01-01T00:00:00Z", "2024-05-01T10:00:00Z", "9999-12-31T23:00:00Z"]


def starts(sandbox: Sandbox, path: str) -> list[str]:
    seen: list[str] = []
    while path:
        reply = call(sandbox, "GET", path)
        assert reply.status == 200, reply.data
        page = reply.json()
        seen += [run["startDateTime"] for run in page["value"]]
        link = page.get("@odata.nextLink", "")
        path = link.removeprefix(sandbox.base_url)
    return seen


def test_years_before_1000_sort_and_filter_in_time_order(sandbox: Sandbox) -> None:
    for start in (ANCIENT[2], ANCIENT[1], ANCIENT[3], ANCIENT[0]):
        create(sandbox, startDateTime=start, endDateTime=None, status="running")
    newest_first = list(reversed(ANCIENT))
    for path in (RUNS, PUBLISHED):
        assert starts(sandbox, path) == newest_first
        assert starts(sandbox, query(path, top="1")) == newest_first  # paging keeps the order
        assert starts(sandbox, query(path, orderby="startDateTime asc", top="1")) == ANCIENT
        for expression, expected in [
            ("startDateTime ge 2000-01-01T00:00:00Z", newest_first[:2]),
            ("startDateTime lt 1000-01-01T00:00:00Z", newest_first[2:]),
            ("startDateTime ge 0998-12-31T23:00:00-01:00", newest_first[:3]),
        ]:
            assert starts(sandbox, query(path, filter=expression)) == expected, expression
    count = call(sandbox, "GET", query(f"{PUBLISHED}/$count", filter="startDateTime le 0999-01-01T00:00:00Z"))
    assert count.data == b"2"


@pytest.mark.parametrize("literal", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"])
def test_a_filter_time_beyond_the_calendar_is_a_400(sandbox: Sandbox, literal: str) -> None:
    assert_bad_request(call(sandbox, "GET", query(RUNS, filter=f"startDateTime ge {literal}")),
                       "not a valid DateTimeOffset")


def test_times_the_sandbox_writes_have_four_digit_years(make_sandbox: Factory) -> None:
    ancient = -30641760000.0  # 0999-01-01T00:00:00Z
    log = io.StringIO()
    sandbox = make_sandbox(clock=lambda: ancient, run_seconds=0, log=log)
    assert call(sandbox, "POST", f"{PUBLISHED}/start").status == 202
    (run,) = call(sandbox, "GET", PUBLISHED).json()["value"]
    assert run["startDateTime"] == "0999-01-01T00:00:00.000000Z"
    assert run["endDateTime"] == "0999-01-01T00:00:00.000000Z"
    assert run["displayName"] == "Run 0999-01-01 00:00 UTC"
    error = call(sandbox, "GET", f"{PUBLISHED}/{FLOW}").json()["error"]
    assert error["innerError"]["date"] == "0999-01-01T00:00:00"
    flows = call(sandbox, "GET", "/external/industryData/inboundFlows").json()["value"]
    assert flows[0]["effectiveDateTime"] == "0999-01-01T00:00:00.000000Z"
    assert log.getvalue().startswith("0999-01-01T00:00:00.000Z POST ")


def test_keys_stored_by_an_older_sandbox_are_repaired(make_sandbox: Factory, tmp_path: Path) -> None:
    sandbox = make_sandbox()
    for start in ANCIENT:
        create(sandbox, startDateTime=start, endDateTime=None, status="running")
    sandbox.stop()
    import sqlite3

    with sqlite3.connect(tmp_path / "sandbox.db") as db:  # as %Y wrote them on glibc
        db.execute("UPDATE runs SET start_key = ltrim(start_key, '0')")
    db.close()
    again = make_sandbox()
    assert starts(again, RUNS) == list(reversed(ANCIENT))


# ---------------------------------------------------------------------------------------------
# Echoed headers stay one well-formed line


def test_a_folded_or_binary_client_request_id_is_echoed_as_one_clean_line(sandbox: Sandbox) -> None:
    request = (
        f"GET {RUNS} HTTP/1.1\r\nHost: x\r\nclient-request-id: a\r\n b\x01\xff\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")
    received, _ = raw_exchange(sandbox, request)
    head = received.partition(b"\r\n\r\n")[0].split(b"\r\n")
    assert not [line for line in head if line[:1] in (b" ", b"\t")], head  # no obs-fold
    assert b"client-request-id: a b" in head
