"""Compressed answers (adversarial #3).

rundctl asks for ``Accept-Encoding: gzip, deflate`` and must decode exactly that: gzip (also
several members), deflate both zlib-wrapped and raw (servers send either), and a chain of
them. The decoded size is bounded by the response limit while decoding, so a decompression
bomb stops at the limit without being inflated into memory first. An encoding rundctl did
not ask for, or a corrupt or truncated stream, is an unreadable answer: exit 11 on a read,
outcome unknown (exit 9) on a create. Everything talks to a local scripted server.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from collections.abc import Iterator

import pytest
import requests

from rundctl import errors
from rundctl.client import ACCEPT_ENCODING, Deadline, GraphClient, NoAuth
from rundctl.errors import ExitCode
from tests.scripted_server import ScriptedServer, Step

FLOW = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
RUNS = f"/industryData/incomingFlows/{FLOW}/runs"
RUN_ID = "3f1c1e9a-1f2b-4c8d-9e0f-123456789abc"
CREATED = {"id": RUN_ID, "displayName": "Nightly", "status": "completed",
           "startDateTime": "2026-11-01T10:00:00Z", "statistics": {"people": 3, "name": "é ✓"}}
PAGE = {"value": [CREATED] * 40}


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


ENCODERS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "GZip": gzip.compress,
    "deflate": zlib.compress,  # RFC 9110 "deflate": zlib-wrapped
    "deflate ": raw_deflate,  # what many servers send instead: raw deflate
    "identity": lambda data: data,
    "gzip, identity": gzip.compress,
}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def client_for(server: ScriptedServer, **kwargs) -> GraphClient:
    kwargs.setdefault("deadline", Deadline(30))
    return GraphClient(server.url, session=requests.Session(), auth=NoAuth(),
                       sleep=lambda _s: None, rand=lambda: 0.0, **kwargs)


def encoded(status: int, document: object, encoding: str, encode=None) -> Step:
    data = json.dumps(document).encode()
    body = (encode or ENCODERS[encoding])(data)
    return Step(status, body=body, headers={"Content-Type": "application/json",
                                            "Content-Encoding": encoding.strip()})


@pytest.mark.parametrize("encoding", list(ENCODERS))
def test_a_compressed_read_is_decoded(server, encoding) -> None:
    server.queue(encoded(200, PAGE, encoding))
    assert list(client_for(server).iter_collection(RUNS)) == PAGE["value"]


@pytest.mark.parametrize("encoding", list(ENCODERS))
def test_a_compressed_201_create_is_a_success(server, encoding) -> None:
    server.queue(encoded(201, CREATED, encoding))
    resp = client_for(server).send("POST", server.url + RUNS, body={"displayName": "x"},
                                   kind="create")
    assert resp.status == 201 and resp.body == CREATED
    assert server.count("POST") == 1


def test_rundctl_asks_only_for_what_it_decodes(server) -> None:
    session = requests.Session()
    session.headers["Accept-Encoding"] = "gzip, deflate, br, zstd"  # e.g. brotli installed
    server.queue(Step(200, json={"value": []}))
    client = GraphClient(server.url, session=session, auth=NoAuth(), deadline=Deadline(30))
    list(client.iter_collection(RUNS))
    assert ACCEPT_ENCODING == "gzip, deflate"
    assert server.requests[0].headers["Accept-Encoding"] == "gzip, deflate"


def test_several_gzip_members_and_a_chain_of_encodings(server) -> None:
    data = json.dumps(PAGE).encode()
    half = len(data) // 2
    server.queue(Step(200, body=gzip.compress(data[:half]) + gzip.compress(data[half:]),
                      headers={"Content-Encoding": "gzip"}),
                 Step(200, body=gzip.compress(zlib.compress(data)),
                      headers={"Content-Encoding": "deflate, gzip"}))
    client = client_for(server)
    assert client.get_json(RUNS) == PAGE
    assert client.get_json(RUNS) == PAGE


def test_an_error_answer_is_decoded_for_its_graph_code(server) -> None:
    envelope = {"error": {"code": "itemNotFound", "message": "no such run"}}
    server.queue(encoded(404, envelope, "gzip"))
    with pytest.raises(errors.NotFound) as info:
        client_for(server).get_json(RUNS + "/" + RUN_ID)
    assert info.value.info.code == "itemNotFound"
    assert "no such run" in info.value.message


BROKEN = {
    "not asked for (br)": (b"\x1b\x00\x00", "br"),
    "unknown coding": (b"{}", "compress"),
    "corrupt gzip": (b"\x1f\x8b\x08\x00garbage-garbage-garbage", "gzip"),
    "truncated gzip": (gzip.compress(json.dumps(PAGE).encode())[:-12], "gzip"),
    "truncated deflate": (zlib.compress(json.dumps(PAGE).encode())[:20], "deflate"),
    "not deflate at all": (b"\xff" * 64, "deflate"),
    "gzip then garbage": (gzip.compress(b"{}") + b"garbage", "gzip"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_an_undecodable_read_is_exit_11(server, case) -> None:
    body, encoding = BROKEN[case]
    server.queue(Step(200, body=body, headers={"Content-Encoding": encoding}))
    with pytest.raises(errors.BadResponse) as info:
        client_for(server).get_json(RUNS)
    assert info.value.exit_code == ExitCode.BAD_RESPONSE
    assert "unreadable" in info.value.message


@pytest.mark.parametrize("case", list(BROKEN))
def test_an_undecodable_201_is_outcome_unknown(server, case) -> None:
    body, encoding = BROKEN[case]
    server.queue(Step(201, body=body, headers={"Content-Encoding": encoding}))
    with pytest.raises(errors.OutcomeUnknown) as info:
        client_for(server).send("POST", server.url + RUNS, body={"displayName": "x"},
                                kind="create")
    assert info.value.exit_code == ExitCode.OUTCOME_UNKNOWN
    assert server.count("POST") == 1


def test_an_undecodable_error_answer_keeps_its_status(server) -> None:
    server.queue(Step(429, body=b"\x1f\x8bnope", headers={"Content-Encoding": "gzip",
                                                          "Retry-After": "3600"}))
    with pytest.raises(errors.TemporaryFailure):  # still "busy, not applied", not exit 11
        client_for(server).send("POST", server.url + RUNS, body={}, kind="create")


def _bomb(decoded_size: int, encoding: str) -> bytes:
    wbits = {"gzip": 31, "deflate": 15, "raw": -15}[encoding]
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = b"0" * (1 << 20)
    parts = [packer.compress(block) for _ in range(decoded_size >> 20)]
    return b"".join(parts) + packer.flush()


@pytest.mark.parametrize(("kind", "status"), [("read", 200), ("create", 201)])
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw"])
def test_a_decompression_bomb_stops_at_the_limit_on_the_decoded_size(server, kind, status,
                                                                      encoding) -> None:
    limit = 1 << 20
    bomb = _bomb(256 << 20, encoding)  # 256 MiB decoded from ~250 KiB sent
    assert len(bomb) < limit
    header = "deflate" if encoding == "raw" else encoding
    server.queue(Step(status, body=bomb, headers={"Content-Encoding": header}))
    client = client_for(server, max_response_bytes=limit)
    expected = errors.BadResponse if kind == "read" else errors.OutcomeUnknown
    tracemalloc.start()
    try:
        with pytest.raises(expected) as info:
            client.send("GET" if kind == "read" else "POST", server.url + RUNS,
                        body=None if kind == "read" else {}, kind=kind)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "larger than" in info.value.message
    assert peak < 16 * limit  # never inflated past the limit


def test_the_limit_applies_to_plain_answers_too(server) -> None:
    server.queue(Step(200, body=b'{"value": ["' + b"x" * (2 << 20) + b'"]}'))
    with pytest.raises(errors.BadResponse, match="larger than"):
        client_for(server, max_response_bytes=1 << 20).get_json(RUNS)


class SteppingClock:
    """A monotonic clock that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_decoding_a_slow_compressed_answer_is_bounded_by_the_deadline(server) -> None:
    body = gzip.compress(json.dumps(PAGE).encode())
    server.queue(Step(200, body=body, headers={"Content-Encoding": "gzip"}, action="slow_drip",
                      drip_interval=0.001))
    clock = SteppingClock()
    client = client_for(server, deadline=Deadline(12, monotonic=clock))
    with pytest.raises(errors.TemporaryFailure, match="no answer in time"):
        client.send("GET", server.url + RUNS)
    server.wait_idle()
