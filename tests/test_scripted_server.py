"""The scripted server does what client tests rely on: each action, recording, counting."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from tests.scripted_server import Recorded, ScriptedServer, Step

RUNS = "/industryData/incomingFlows/1b4e28ba-2fa1-11d2-883f-0016d3cca427/runs"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def test_respond_sends_json_and_headers_and_records_the_request(server: ScriptedServer) -> None:
    server.queue(Step(201, json={"id": "abc"}, headers={"Location": "/x", "request-id": "r1"}))
    response = requests.post(
        server.url + RUNS + "?$top=5&a=1&a=2",
        json={"displayName": "n"},
        headers={"Client-Request-Id": "c-1"},
        timeout=5,
    )
    assert response.status_code == 201
    assert response.json() == {"id": "abc"}
    assert response.headers["Location"] == "/x"
    assert response.headers["Content-Type"] == "application/json"
    [seen] = server.requests
    assert (seen.method, seen.path, seen.target) == ("POST", RUNS, RUNS + "?$top=5&a=1&a=2")
    assert seen.query == {"$top": "5", "a": "1"}
    assert seen.headers["client-request-id"] == "c-1"  # case-insensitive lookup
    assert seen.headers.get("CLIENT-REQUEST-ID") == "c-1"
    assert "Client-Request-Id" in list(seen.headers)
    assert seen.json() == {"displayName": "n"}
    assert seen.index == 0 and seen.time <= time.monotonic()


def test_steps_are_used_in_order_then_the_default(server: ScriptedServer) -> None:
    server.queue(Step(503, json={"error": {"code": "x"}}), Step(200, body=b"plain"))
    with requests.Session() as session:  # one keep-alive connection for all three
        statuses = [session.get(server.url + "/a", timeout=5) for _ in range(3)]
    assert [r.status_code for r in statuses] == [503, 200, 200]
    assert statuses[1].content == b"plain"
    assert statuses[2].json() == {"value": []}


def test_script_given_up_front_or_as_a_function() -> None:
    with ScriptedServer([Step(404), Step(204)]) as listed:
        assert requests.get(listed.url, timeout=5).status_code == 404
        assert requests.get(listed.url, timeout=5).status_code == 204

    def by_method(recorded: Recorded) -> Step:
        return Step(201 if recorded.method == "POST" else 200, json={"n": recorded.index})

    with ScriptedServer(by_method) as computed:
        assert requests.post(computed.url, timeout=5).json() == {"n": 0}
        assert requests.get(computed.url, timeout=5).status_code == 200
        computed.queue(Step(418))  # queued steps go before the function
        assert requests.post(computed.url, timeout=5).status_code == 418


def test_count_by_method_and_path_prefix(server: ScriptedServer) -> None:
    requests.post(server.url + RUNS, json={}, timeout=5)
    requests.get(server.url + RUNS, timeout=5)
    requests.get(server.url + "/other", timeout=5)
    assert server.count("POST") == 1
    assert server.count("get") == 2
    assert server.count("GET", "/industryData/") == 1
    assert server.count("PATCH") == 0


def test_on_request_runs_before_the_answer(server: ScriptedServer) -> None:
    seen: list[str] = []
    server.queue(Step(201, on_request=lambda r: seen.append(r.json()["displayName"])))
    requests.post(server.url + RUNS, json={"displayName": "committed"}, timeout=5)
    assert seen == ["committed"]


def test_delay_holds_the_answer_back(server: ScriptedServer) -> None:
    server.queue(Step(delay=0.15))
    started = time.monotonic()
    assert requests.get(server.url, timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.15


def test_close_before_response_reads_the_request_and_sends_nothing(server: ScriptedServer) -> None:
    server.queue(Step(action="close_before_response"))
    with pytest.raises(requests.ConnectionError) as raised:
        requests.post(server.url + RUNS, json={"displayName": "n"}, timeout=5)
    assert "RemoteDisconnected" in repr(raised.value) or "reset" in repr(raised.value).lower()
    assert server.count("POST", RUNS) == 1  # it did reach the server
    assert server.requests[0].json() == {"displayName": "n"}


def test_truncated_body_announces_more_than_it_sends(server: ScriptedServer) -> None:
    server.queue(Step(201, json={"id": "abc"}, action="truncated_body"))
    response = requests.post(server.url + RUNS, json={}, timeout=5, stream=True)
    assert response.status_code == 201
    assert int(response.headers["Content-Length"]) > len(b'{"id": "abc"}')
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        _ = response.content


def test_close_mid_body_sends_part_of_the_body(server: ScriptedServer) -> None:
    body = b'{"id": "0123456789abcdef"}'
    server.queue(Step(201, body=body, action="close_mid_body"))
    response = requests.post(server.url + RUNS, json={}, timeout=5, stream=True)
    assert response.status_code == 201
    assert response.headers["Content-Length"] == str(len(body))
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        _ = response.content


def test_slow_drip_delivers_byte_by_byte(server: ScriptedServer) -> None:
    server.queue(Step(json={"ok": 1}, action="slow_drip", drip_interval=0.01))
    started = time.monotonic()
    response = requests.get(server.url, timeout=5)
    assert response.json() == {"ok": 1}
    assert time.monotonic() - started >= 0.01 * (len(b'{"ok": 1}') - 1)


def test_slow_drip_trips_a_read_timeout_and_stops_when_the_client_leaves(
    server: ScriptedServer,
) -> None:
    server.queue(Step(json={"value": list(range(100))}, action="slow_drip", drip_interval=0.2))
    started = time.monotonic()
    response = requests.get(server.url, timeout=(5, 0.1), stream=True)
    assert response.status_code == 200  # the headers come at once
    with pytest.raises(requests.ConnectionError):  # ReadTimeoutError while reading the body
        _ = response.content
    response.close()
    assert time.monotonic() - started < 2
    assert server.wait_idle(timeout=3)  # the drip noticed the client had gone
    assert time.monotonic() - started < 3


def test_redirect_is_not_followed_to_a_second_server(server: ScriptedServer) -> None:
    with ScriptedServer() as elsewhere:
        server.queue(Step.redirect_to(elsewhere.url + "/steal"))
        response = requests.get(server.url + RUNS, timeout=5, allow_redirects=False)
        assert response.status_code == 302
        assert response.headers["Location"] == elsewhere.url + "/steal"
        assert elsewhere.requests == []

        # A client that does follow redirects shows the second server is really there.
        server.queue(Step(307, headers={"Location": elsewhere.url + "/steal"}, action="redirect"))
        assert requests.get(server.url + RUNS, timeout=5).status_code == 200
        assert elsewhere.count("GET", "/steal") == 1


def test_redirect_without_location_is_a_test_error(server: ScriptedServer) -> None:
    server.queue(Step(action="redirect"))
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url, timeout=5)
    assert server.errors and "Location" in str(server.errors[0])


def test_head_requests_get_headers_only(server: ScriptedServer) -> None:
    server.queue(Step(json={"a": 1}))
    response = requests.head(server.url, timeout=5)
    assert response.status_code == 200 and response.content == b""
    assert server.count("HEAD") == 1


def test_stop_ends_a_drip_in_progress() -> None:
    server = ScriptedServer().start()
    server.queue(Step(json={"value": list(range(100))}, action="slow_drip", drip_interval=0.5))
    response = requests.get(server.url, timeout=5, stream=True)
    assert response.status_code == 200
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    response.close()
