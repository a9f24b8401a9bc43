"""GraphClient against stubbed HTTP (responses) and real sockets: status -> typed error."""

from __future__ import annotations

import json
import socket

import pytest
import requests
import responses

from rundctl import errors
from rundctl.client import Deadline, GraphClient, NoAuth, TokenAuth, parse_error
from rundctl.errors import ExitCode

BASE = "https://graph.example.test/beta"
FLOW = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
RUNS = f"{BASE}/industryData/incomingFlows/{FLOW}/runs"


SLEPT: list[float] = []


def make_client(base: str = BASE, token: str | None = "tok-SECRET-123456") -> GraphClient:
    auth = TokenAuth(lambda: token) if token else NoAuth()
    SLEPT.clear()
    return GraphClient(base, session=requests.Session(), auth=auth, deadline=Deadline(30),
                       sleep=SLEPT.append, rand=lambda: 0.5)


def envelope(code: str, message: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message,
                      "innerError": {"request-id": "req-1", "date": "2026-11-29T10:00:00"}}}


@responses.activate
def test_every_request_carries_user_agent_client_request_id_and_bearer() -> None:
    responses.post(RUNS, json={"id": "x"}, status=201)
    make_client().send("POST", RUNS, body={"a": 1}, kind="create")
    sent = responses.calls[0].request
    assert sent.headers["User-Agent"].startswith("rundctl/")
    assert len(sent.headers["client-request-id"]) == 36
    assert sent.headers["Authorization"] == "Bearer tok-SECRET-123456"
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body) == {"a": 1}


@responses.activate
def test_no_auth_sends_no_authorization_even_with_a_netrc(tmp_path, monkeypatch) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine graph.example.test login u password netrc-pass\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    responses.get(RUNS, json={"value": []})
    list(make_client(token=None).iter_collection(RUNS.removeprefix(BASE)))
    assert "Authorization" not in responses.calls[0].request.headers


@pytest.mark.parametrize(
    ("status", "kind", "exc", "code"),
    [
        (400, "create", errors.Rejected, ExitCode.REJECTED),
        (401, "read", errors.AuthRejected, ExitCode.NOT_AUTHENTICATED),
        (403, "read", errors.Forbidden, ExitCode.FORBIDDEN),
        (404, "read", errors.NotFound, ExitCode.NOT_FOUND),
        (409, "create", errors.Rejected, ExitCode.REJECTED),
        (429, "create", errors.TemporaryFailure, ExitCode.TEMPORARY),
        (500, "read", errors.TemporaryFailure, ExitCode.TEMPORARY),
        (500, "create", errors.OutcomeUnknown, ExitCode.OUTCOME_UNKNOWN),
        (502, "create", errors.OutcomeUnknown, ExitCode.OUTCOME_UNKNOWN),
        (503, "create", errors.OutcomeUnknown, ExitCode.OUTCOME_UNKNOWN),
        (504, "read", errors.TemporaryFailure, ExitCode.TEMPORARY),
    ],
)
@responses.activate
def test_http_status_maps_to_exit_code(status, kind, exc, code) -> None:
    method = "POST" if kind == "create" else "GET"
    responses.add(method, RUNS, json=envelope("someCode", "went wrong"), status=status,
                  headers={"request-id": "req-1"})
    with pytest.raises(exc) as info:
        make_client().send(method, RUNS, body={} if kind == "create" else None, kind=kind)
    assert info.value.exit_code == code


@responses.activate
def test_503_with_retry_after_on_create_is_not_applied() -> None:
    responses.post(RUNS, json=envelope("serviceNotAvailable", "busy"), status=503,
                   headers={"Retry-After": "7"})
    with pytest.raises(errors.TemporaryFailure) as info:
        make_client().send("POST", RUNS, body={}, kind="create")
    assert "in 7 s" in (info.value.hint or "")
    assert SLEPT == [7, 7, 7, 7]  # re-sent: the service certainly did not apply it
    assert len(responses.calls) == 5


@responses.activate
def test_api_error_carries_graph_code_and_request_ids() -> None:
    responses.get(RUNS, json=envelope("itemNotFound", "Run 'x' was not found"), status=404,
                  headers={"request-id": "req-42", "client-request-id": "crid-1"})
    with pytest.raises(errors.NotFound) as info:
        make_client().send("GET", RUNS)
    lines = " ".join(info.value.detail_lines())
    assert "code: itemNotFound" in lines and "request-id: req-42" in lines
    assert "HTTP 404" in lines and "client-request-id: crid-1" in lines


@responses.activate
def test_403_hint_names_the_permission() -> None:
    responses.get(RUNS, json=envelope("accessDenied", "no"), status=403)
    with pytest.raises(errors.Forbidden) as info:
        make_client().send("GET", RUNS)
    assert "IndustryData-Run.Read.All" in (info.value.hint or "")


@responses.activate
def test_redirect_is_refused_not_followed() -> None:
    responses.get(RUNS, status=302, headers={"Location": "https://evil.example/steal"})
    with pytest.raises(errors.SecurityRefused):
        make_client().send("GET", RUNS)
    assert len(responses.calls) == 1


@responses.activate
def test_unreadable_success_body_on_read_is_exit_11_and_on_create_exit_9() -> None:
    responses.get(RUNS, body="<html>oops</html>", status=200)
    responses.post(RUNS, body="<html>oops</html>", status=201)
    with pytest.raises(errors.BadResponse):
        make_client().send("GET", RUNS)
    with pytest.raises(errors.OutcomeUnknown):
        make_client().send("POST", RUNS, body={}, kind="create")


@responses.activate
def test_paging_follows_next_link_and_refuses_foreign_host() -> None:
    responses.get(RUNS, json={"value": [{"id": "1"}], "@odata.nextLink": RUNS + "?$skiptoken=2"})
    responses.get(RUNS + "?$skiptoken=2",
                  json={"value": [{"id": "2"}], "@odata.nextLink": "https://evil.example/x"})
    client = make_client()
    got = []
    with pytest.raises(errors.SecurityRefused):
        for item in client.iter_collection(RUNS.removeprefix(BASE)):
            got.append(item["id"])
    assert got == ["1", "2"]
    assert all("evil" not in c.request.url for c in responses.calls)


@responses.activate
def test_page_loop_stops_with_exit_11() -> None:
    responses.get(RUNS, json={"value": [], "@odata.nextLink": RUNS + "?$skiptoken=a"})
    with pytest.raises(errors.BadResponse):
        list(make_client().iter_collection(RUNS.removeprefix(BASE)))


def test_connection_refused_is_temporary_even_for_create() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    with pytest.raises(errors.TemporaryFailure) as info:
        make_client(base).send("POST", base + "/x", body={}, kind="create")
    assert "nothing was sent" in (info.value.hint or "")


def test_request_to_foreign_host_is_refused_before_sending() -> None:
    with pytest.raises(errors.SecurityRefused):
        make_client().send("GET", "https://other.example.test/beta/x")


def test_parse_error_tolerates_non_json_and_neutralises_escapes() -> None:
    info = parse_error(502, {"request-id": "r"}, b"\x1b[2Jbad gateway")
    assert info.message is not None and "\x1b" not in info.message
    assert info.request_id == "r"


@responses.activate
def test_more_than_1000_pages_stops_with_exit_11() -> None:
    def page(request):
        n = int(request.params.get("$skiptoken", "0"))
        return 200, {}, json.dumps({"value": [], "@odata.nextLink": f"{RUNS}?$skiptoken={n + 1}"})

    responses.add_callback(responses.GET, RUNS, callback=page)
    with pytest.raises(errors.BadResponse) as info:
        list(make_client().iter_collection(RUNS.removeprefix(BASE)))
    assert "1000 pages" in info.value.message
    assert len(responses.calls) == 1000
