"""The sandbox over real HTTP and real SQLite: what a client of Graph would notice."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import re
import socket
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from rundctl.sandbox import odata
from rundctl.sandbox.server import START_FLOW_ID, Sandbox, SandboxOptions

FLOW = "0b8e2f3a-51a4-4e0c-9d5f-3a7c1c2b9e10"
OTHER_FLOW = "6f1c0d2e-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
requests = pytest.importorskip("requests")  # TID253: not a module-level import

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


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
    return {k: v for k, v in body.items() if v is not ...}


Factory = Callable[..., Sandbox]




@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(make_sandbox: Factory, clock: Clock) -> Sandbox:
    return make_sandbox(clock=clock)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def api(sandbox: Sandbox, session: requests.Session) -> Api:
    return Api(sandbox.base_url, session)


class Api:
    """A tiny Graph-ish caller, so tests read like what a client does."""

    def __init__(self, base: str, session: requests.Session) -> None:
        self.base = base
        self.session = session

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    def create(
        self, body: object, flow: str = FLOW, parent: str | None = None, **kw: Any
    ) -> requests.Response:
        path = f"/industryData/incomingFlows/{flow}/runs"
        if parent:
            path += f"/{parent}/process/runs"
        return self.session.post(self.url(path), json=body, **kw)

    def created_id(self, body: object, flow: str = FLOW) -> str:
        response = self.create(body, flow)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.url(path), **kw)

    def all_pages(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        url: str | None = self.url(path)
        pages = 0
        while url:
            response = self.session.get(url)
            assert response.status_code == 200, response.text
            page = response.json()
            items.extend(page["value"])
            url = page.get("@odata.nextLink")
            pages += 1
            assert pages < 100
        return items


def error_of(response: requests.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["innerError"]["request-id"] == response.headers["request-id"]
    return error


# ---------------------------------------------------------------------------------------------
# Create


def test_create_returns_201_with_id_location_and_graph_headers(api: Api) -> None:
    response = api.create(
        run_body(startDateTime="2024-05-01T12:00:00+02:00", endDateTime=...),
        headers={"client-request-id": "abc-123"},
    )
    assert response.status_code == 201, response.text
    run = response.json()
    assert GUID.fullmatch(run["id"])
    assert run["displayName"] == "Nightly import"
    assert run["startDateTime"].startswith("2024-05-01T10:00:00")
    assert run["startDateTime"].endswith("Z")
    assert run["@odata.context"] == (
        f"{api.base}/$metadata#industryData/incomingFlows('{FLOW}')/runs/$entity"
    )
    assert response.headers["Location"] == (f"{api.base}/industryData/incomingFlows/{FLOW}/runs/{run['id']}")
    assert GUID.fullmatch(response.headers["request-id"])
    assert response.headers["client-request-id"] == "abc-123"
    assert response.headers["Content-Type"] == (
        "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
    )
    assert response.headers["OData-Version"] == "4.0"
    assert "Date" in response.headers
    fetched = api.get(response.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.json() == run


def test_a_new_client_request_id_is_made_when_none_is_sent(api: Api) -> None:
    response = api.get(f"/industryData/incomingFlows/{FLOW}/runs")
    assert GUID.fullmatch(response.headers["client-request-id"])
    assert response.headers["client-request-id"] != response.headers["request-id"]


def test_invalid_run_is_a_400_envelope_naming_each_field(api: Api) -> None:
    response = api.create(run_body(status="complete", displayName="  "), headers={"client-request-id": "c-1"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalidRequest"
    targets = {d["target"] for d in error["details"]}
    assert {"status", "displayName"} <= targets
    assert error["target"] in targets
    assert all(d["code"] == "invalidValue" for d in error["details"])
    assert "status" in error["message"] and "problems" in error["message"]
    assert error["innerError"]["client-request-id"] == "c-1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", error["innerError"]["date"])
    # Nothing was stored.
    assert api.get(f"/industryData/incomingFlows/{FLOW}/runs").json()["value"] == []


def test_single_problem_message_names_the_field(api: Api) -> None:
    error = error_of(api.create(run_body(status="complete")))
    assert error["target"] == "status"
    assert error["message"].startswith("status: ")
    assert len(error["details"]) == 1


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "BadRequest"),
        (b'{"a": 1, "a": 2}', "application/json", 400, "BadRequest"),
        (b'{"a": NaN}', "application/json", 400, "BadRequest"),
        (b"\xff\xfe{}", "application/json", 400, "BadRequest"),
        (b"", "application/json", 400, "BadRequest"),
        (b"{}", "text/plain", 415, "UnsupportedMediaType"),
    ],
)
def test_bad_bodies(api: Api, data: bytes, content_type: str, status: int, code: str) -> None:
    response = api.session.post(
        api.url(f"/industryData/incomingFlows/{FLOW}/runs"),
        data=data,
        headers={"Content-Type": content_type},
    )
    assert response.status_code == status
    assert error_of(response)["code"] == code


def test_content_type_parameters_are_accepted(api: Api) -> None:
    response = api.session.post(
        api.url(f"/industryData/incomingFlows/{FLOW}/runs"),
        data=json.dumps(run_body()).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201


def test_body_over_4_mib_is_413(api: Api) -> None:
    response = api.session.post(
        api.url(f"/industryData/incomingFlows/{FLOW}/runs"),
        data=b" " * (4 * 1024 * 1024 + 1),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["Connection"] == "close"


def test_ids_must_be_guids_and_are_case_insensitive(api: Api) -> None:
    response = api.create(run_body(), flow="not-a-guid")
    assert response.status_code == 400
    assert "Invalid id" in error_of(response)["message"]
    run_id = api.created_id(run_body(), flow=FLOW.upper())
    assert api.get(f"/industryData/incomingFlows/{FLOW}/runs/{run_id.upper()}").status_code == 200
    bad = api.get(f"/industryData/incomingFlows/{FLOW}/runs/12345")
    assert bad.status_code == 400


def test_get_unknown_run_is_404_item_not_found(api: Api) -> None:
    run_id = api.created_id(run_body())
    missing = str(uuid.uuid4())
    response = api.get(f"/industryData/incomingFlows/{FLOW}/runs/{missing}")
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "itemNotFound"
    assert error["message"] == f"Run '{missing}' was not found in flow '{FLOW}'"
    # A run is found only in its own flow.
    other = api.get(f"/industryData/incomingFlows/{OTHER_FLOW}/runs/{run_id}")
    assert other.status_code == 404


def test_process_run_under_a_parent(api: Api) -> None:
    parent = api.created_id(run_body())
    response = api.create(run_body(displayName="step 1"), parent=parent)
    assert response.status_code == 201, response.text
    child = response.json()
    assert child["id"] != parent
    assert api.get(response.headers["Location"]).json()["displayName"] == "step 1"
    children = api.get(f"/industryData/incomingFlows/{FLOW}/runs/{parent}/process/runs").json()
    assert [c["id"] for c in children["value"]] == [child["id"]]
    # Unknown parent, or a parent in another flow: 404.
    assert api.create(run_body(), parent=str(uuid.uuid4())).status_code == 404
    assert api.create(run_body(), flow=OTHER_FLOW, parent=parent).status_code == 404


# ---------------------------------------------------------------------------------------------
# List and paging


def test_unknown_flow_lists_empty(api: Api) -> None:
    response = api.get(f"/industryData/incomingFlows/{OTHER_FLOW}/runs")
    assert response.status_code == 200
    body = response.json()
    assert body["value"] == []
    assert "@odata.nextLink" not in body
    assert body["@odata.context"] == (f"{api.base}/$metadata#industryData/incomingFlows('{OTHER_FLOW}')/runs")


def _seed_runs(api: Api, count: int, flow: str = FLOW) -> list[str]:
    """Runs with start times out of insertion order and some ties; returns ids newest first."""
    made: list[tuple[str, int, str]] = []
    for i in range(count):
        hour = (i * 7) % 5  # ties on purpose
        start = f"2024-05-01T{hour:02d}:00:00Z"
        body = run_body(displayName=f"run {i}", startDateTime=start, endDateTime=...)
        made.append((start, i, api.created_id(body, flow)))
    made.sort(key=lambda m: (m[0], m[1]), reverse=True)
    return [m[2] for m in made]


def test_paging_follows_next_links_to_every_run_once_newest_first(api: Api) -> None:
    expected = _seed_runs(api, 11)
    _seed_runs(api, 2, flow=OTHER_FLOW)
    first = api.get(f"/industryData/incomingFlows/{FLOW}/runs", params={"$top": "4"}).json()
    assert len(first["value"]) == 4
    link = urlsplit(first["@odata.nextLink"])
    assert f"{link.scheme}://{link.netloc}" == api.base
    assert parse_qs(link.query)["$top"] == ["4"]
    assert "$skiptoken" in parse_qs(link.query)
    items = api.all_pages(f"/industryData/incomingFlows/{FLOW}/runs?$top=4")
    assert [r["id"] for r in items] == expected
    # Default page size is 100: everything on one page, no nextLink.
    page = api.get(f"/industryData/incomingFlows/{FLOW}/runs").json()
    assert [r["id"] for r in page["value"]] == expected
    assert "@odata.nextLink" not in page


def test_paging_is_stable_when_runs_are_added_between_pages(api: Api) -> None:
    expected = _seed_runs(api, 6)
    first = api.get(f"/industryData/incomingFlows/{FLOW}/runs?$top=3").json()
    api.created_id(run_body(startDateTime="2030-01-01T00:00:00Z", endDateTime=...))
    rest = api.all_pages(first["@odata.nextLink"])
    assert [r["id"] for r in first["value"] + rest] == expected


@pytest.mark.parametrize("top", ["-1", "abc", "1000", "1.5", ""])
def test_invalid_top_is_400(api: Api, top: str) -> None:
    response = api.get(f"/industryData/incomingFlows/{FLOW}/runs", params={"$top": top})
    assert response.status_code == 400
    assert "$top" in error_of(response)["message"]


def test_top_zero_with_count(api: Api) -> None:
    _seed_runs(api, 3)
    body = api.get(f"/industryData/incomingFlows/{FLOW}/runs?$top=0&$count=true").json()
    assert body["value"] == []
    assert body["@odata.count"] == 3
    assert "@odata.nextLink" not in body


def test_bad_skiptoken_is_400(api: Api) -> None:
    response = api.get(f"/industryData/incomingFlows/{FLOW}/runs?$skiptoken=garbage!")
    assert response.status_code == 400
    assert error_of(response)["code"] == "BadRequest"


# ---------------------------------------------------------------------------------------------
# Transport: prefixes, persistence, auth, keep-alive, errors, logging


@pytest.mark.parametrize("prefix", ["/beta", "/v1.0"])
def test_version_prefix_is_accepted_and_kept_in_links(api: Api, prefix: str) -> None:
    _seed_runs(api, 3)
    created = api.session.post(api.url(f"{prefix}/industryData/incomingFlows/{FLOW}/runs"), json=run_body())
    assert created.status_code == 201
    location = created.headers["Location"]
    assert location.startswith(f"{api.base}{prefix}/industryData/")
    assert created.json()["@odata.context"].startswith(f"{api.base}{prefix}/$metadata#")
    assert api.get(location).status_code == 200
    page = api.get(f"{prefix}/industryData/incomingFlows/{FLOW}/runs?$top=2").json()
    assert page["@odata.nextLink"].startswith(f"{api.base}{prefix}/industryData/")
    assert len(api.all_pages(f"{prefix}/industryData/incomingFlows/{FLOW}/runs?$top=2")) == 4


def test_runs_persist_across_a_restart(make_sandbox: Factory, tmp_path: Path) -> None:
    db = str(tmp_path / "persist.db")
    first = make_sandbox(db=db)
    with requests.Session() as session:
        run_id = Api(first.base_url, session).created_id(run_body())
    first.stop()
    second = make_sandbox(db=db)
    with requests.Session() as session:
        api = Api(second.base_url, session)
        response = api.get(f"/industryData/incomingFlows/{FLOW}/runs/{run_id}")
        assert response.status_code == 200
        assert response.json()["displayName"] == "Nightly import"
        again = api.created_id(run_body(startDateTime="2024-05-01T10:00:00Z"))
        ids = [r["id"] for r in api.all_pages(f"/industryData/incomingFlows/{FLOW}/runs")]
        assert ids == [again, run_id]  # insertion order survives the restart
    second.stop()
    with contextlib.closing(sqlite3.connect(db)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_concurrent_creates_from_many_threads(api: Api) -> None:
    def create_many(n: int) -> list[str]:
        with requests.Session() as session:
            mine = Api(api.base, session)
            return [mine.created_id(run_body(displayName=f"t{n}-{i}")) for i in range(10)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = [i for batch in pool.map(create_many, range(8)) for i in batch]
    assert len(set(ids)) == 80
    listed = api.all_pages(f"/industryData/incomingFlows/{FLOW}/runs?$top=7")
    assert sorted(r["id"] for r in listed) == sorted(ids)


def test_memory_database(make_sandbox: Factory) -> None:
    sandbox = make_sandbox(db=":memory:")
    with requests.Session() as session:
        api = Api(sandbox.base_url, session)
        run_id = api.created_id(run_body())
        assert api.get(f"/industryData/incomingFlows/{FLOW}/runs/{run_id}").status_code == 200


def test_require_token(make_sandbox: Factory) -> None:
    sandbox = make_sandbox(require_token="s3cret")
    path = f"{sandbox.base_url}/industryData/incomingFlows/{FLOW}/runs"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        response = requests.get(path, headers=headers)
        assert response.status_code == 401
        assert error_of(response)["code"] == "InvalidAuthenticationToken"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    ok = requests.get(path, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    # Unknown paths are not revealed without a token either.
    assert requests.get(sandbox.base_url + "/nope").status_code == 401


def test_keep_alive_serves_many_requests_on_one_connection(sandbox: Sandbox) -> None:
    split = urlsplit(sandbox.base_url)
    connection = http.client.HTTPConnection(split.hostname, split.port, timeout=5)
    try:
        body = json.dumps(run_body())
        connection.request(
            "POST",
            f"/industryData/incomingFlows/{FLOW}/runs",
            body=body,
            headers={"Content-Type": "application/json"},
        )
        first = connection.getresponse()
        created = json.loads(first.read())
        assert first.status == 201
        sock = connection.sock
        assert sock is not None
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        for _ in range(3):
            connection.request("GET", f"/industryData/incomingFlows/{FLOW}/runs/{created['id']}")
            response = connection.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["id"] == created["id"]
            assert response.getheader("Connection") != "close"
            assert connection.sock is sock  # the same socket: not reconnected
        # Errors keep the connection open too.
        connection.request("GET", "/nothing/here")
        missing = connection.getresponse()
        missing.read()
        assert missing.status == 400
        connection.request("GET", f"/industryData/incomingFlows/{FLOW}/runs")
        assert connection.getresponse().status == 200
        assert connection.sock is sock
    finally:
        connection.close()


def test_unknown_path_and_method(api: Api) -> None:
    response = api.get("/industryData/outgoingFlows")
    assert response.status_code == 400  # as Graph answers a segment it does not know
    error = error_of(response)
    assert error["code"] == "BadRequest"
    assert error["message"] == "Resource not found for the segment 'outgoingFlows'."
    deleted = api.session.delete(api.url(f"/industryData/incomingFlows/{FLOW}/runs"))
    assert deleted.status_code == 405
    assert deleted.headers["Allow"] == "GET, POST"
    assert error_of(deleted)["code"] == "BadRequest"
    assert deleted.headers["OData-Version"] == "4.0"


def test_malformed_request_line_gets_a_json_error(sandbox: Sandbox) -> None:
    split = urlsplit(sandbox.base_url)
    with socket.create_connection((split.hostname, split.port), timeout=5) as raw:
        raw.sendall(b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = raw.recv(65536).decode()
    head, _, body = reply.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 501")
    assert json.loads(body)["error"]["code"] == "notSupported"


def test_each_request_is_logged_in_one_line(make_sandbox: Factory) -> None:
    log = io.StringIO()
    sandbox = make_sandbox(log=log)
    requests.get(f"{sandbox.base_url}/industryData/incomingFlows/{FLOW}/runs?$top=1")
    requests.get(f"{sandbox.base_url}/nope")
    lines = log.getvalue().splitlines()
    assert len(lines) == 2
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    pattern = rf"{stamp} GET /industryData/incomingFlows/{FLOW}/runs\?\$top=1 200 \d+\.\dms crid=-"
    assert re.fullmatch(pattern, lines[0])
    assert re.match(rf"{stamp} GET /nope 400 ", lines[1])


def test_bind_before_serving_and_stop_is_idempotent() -> None:
    sandbox = Sandbox(SandboxOptions(port=0))
    url = sandbox.base_url  # bound, not yet serving: a CLI can print it first
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    assert sandbox.start() == url
    assert requests.get(f"{url}/external/industryData/runs").status_code == 200
    sandbox.stop()
    sandbox.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/external/industryData/runs", timeout=2)


def test_start_outcome_must_be_final() -> None:
    with pytest.raises(ValueError, match="final"):
        Sandbox(SandboxOptions(start_outcome="running"))


# ---------------------------------------------------------------------------------------------
# PATCH


def test_patch_finishes_a_running_run(api: Api) -> None:
    run_id = api.created_id(run_body(status="running", endDateTime=...))
    url = api.url(f"/industryData/incomingFlows/{FLOW}/runs/{run_id}")
    response = api.session.patch(
        url, json={"status": "COMPLETED", "endDateTime": "2024-05-01T12:45:00+02:00"}
    )
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["id"] == run_id
    assert run["status"] == "completed"
    assert run["endDateTime"].startswith("2024-05-01T10:45:00")
    assert run["displayName"] == "Nightly import"  # untouched fields kept
    assert api.get(url).json() == run


def test_patch_is_validated_against_the_stored_run(api: Api) -> None:
    run_id = api.created_id(run_body(status="running", endDateTime=...))
    url = api.url(f"/industryData/incomingFlows/{FLOW}/runs/{run_id}")
    early = api.session.patch(url, json={"status": "completed", "endDateTime": "2024-05-01T09:00:00Z"})
    assert early.status_code == 400
    assert error_of(early)["target"] == "endDateTime"
    unknown = api.session.patch(url, json={"stauts": "completed"})
    assert unknown.status_code == 400
    assert error_of(unknown)["details"][0]["target"] == "stauts"
    assert api.get(url).json()["status"] == "running"
    missing = api.session.patch(
        api.url(f"/industryData/incomingFlows/{FLOW}/runs/{uuid.uuid4()}"),
        json={"status": "completed"},
    )
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "itemNotFound"
    wrong_type = api.session.patch(url, data=b"{}", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415


# ---------------------------------------------------------------------------------------------
# OData query options


def _statuses_runs(api: Api) -> dict[str, str]:
    made = {}
    for hour, status in enumerate(["completed", "failed", "running", "completed", "failed"]):
        body = run_body(status=status, startDateTime=f"2024-05-01T{hour:02d}:00:00Z")
        if status == "running":
            body.pop("endDateTime")
        else:
            body["endDateTime"] = f"2024-05-01T{hour:02d}:30:00Z"
        made[f"{status}{hour}"] = api.created_id(body)
    return made


def _ids(api: Api, query: str) -> list[str]:
    response = api.get(f"/industryData/incomingFlows/{FLOW}/runs?{query}")
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["value"]]


def test_filter_on_status_and_start(api: Api) -> None:
    runs = _statuses_runs(api)
    assert _ids(api, "$filter=status eq 'failed'") == [runs["failed4"], runs["failed1"]]
    assert _ids(api, "filter=status eq 'FAILED'") == [runs["failed4"], runs["failed1"]]
    both = "$filter=(status eq 'running' or status eq 'failed')"
    assert _ids(api, both) == [runs["failed4"], runs["running2"], runs["failed1"]]
    since = "$filter=startDateTime ge 2024-05-01T02:00:00Z and status ne 'running'"
    assert _ids(api, since) == [runs["failed4"], runs["completed3"]]
    window = "$filter=startDateTime ge 2024-05-01T03:00:00%2B02:00 and startDateTime lt 2024-05-01T03:00:00Z"
    assert _ids(api, window) == [runs["running2"], runs["failed1"]]
    unencoded_plus = "$filter=startDateTime le 2024-05-01T02:00:00+01:00"
    assert _ids(api, unencoded_plus) == [runs["failed1"], runs["completed0"]]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        (
            "$filter=startDateTime ge '2024-05-01T00:00:00Z'",
            "A binary operator with incompatible types was detected. Found operand types "
            "'Edm.DateTimeOffset' and 'Edm.String'",
        ),
        ("$filter=status eq 'complete'", "'complete' is not a valid enumeration"),
        ("$filter=colour eq 'x'", "colour"),
        ("$filter=statistics eq null", "statistics"),
        ("$filter=status eq", "end of expression"),
        ("$filter=startDateTime ge 2024-05-01", "not a valid DateTimeOffset"),
        ("$filter=(status eq 'failed'", "')' expected"),
        ("$orderby=colour", "$orderby"),
        ("$orderby=startDateTime sideways", "$orderby"),
        ("$count=maybe", "$count"),
        ("$select=id,colour", "colour"),
        ("$expand=activities", "$expand"),
        ("$bogus=1", "$bogus"),
        ("$top=5&top=6", "more than once"),
    ],
)
def test_malformed_query_is_400_naming_the_clause(api: Api, query: str, fragment: str) -> None:
    response = api.get(f"/industryData/incomingFlows/{FLOW}/runs?{query}")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "BadRequest"
    assert fragment in error["message"]


def test_orderby_count_and_select(api: Api) -> None:
    runs = _statuses_runs(api)
    in_order = [runs[k] for k in ("completed0", "failed1", "running2", "completed3", "failed4")]
    assert _ids(api, "$orderby=startDateTime") == in_order
    assert _ids(api, "$orderby=startDateTime asc") == in_order
    assert _ids(api, "$orderby=startDateTime desc") == in_order[::-1]
    ascending = api.all_pages(f"/industryData/incomingFlows/{FLOW}/runs?$orderby=startDateTime&$top=2")
    assert [r["id"] for r in ascending] == in_order
    body = api.get(
        f"/industryData/incomingFlows/{FLOW}/runs",
        params={"$filter": "status eq 'completed'", "$count": "true", "$select": "status"},
    ).json()
    assert body["@odata.count"] == 2
    annotation = {"@odata.type": "#microsoft.industryData.run", "@odata.etag": 'W/"1"'}  # kept
    assert body["value"] == [
        {**annotation, "id": runs["completed3"], "status": "completed"},
        {**annotation, "id": runs["completed0"], "status": "completed"},
    ]
    paged = api.get(f"/industryData/incomingFlows/{FLOW}/runs?$count=true&$top=2").json()
    assert paged["@odata.count"] == 5
    assert parse_qs(urlsplit(paged["@odata.nextLink"]).query)["$count"] == ["true"]
    one = api.get(f"/industryData/incomingFlows/{FLOW}/runs/{runs['failed1']}?$select=displayName").json()
    assert set(one) == {"@odata.context", "@odata.type", "@odata.etag", "id", "displayName"}


def test_filtered_paging_returns_every_match_once(api: Api) -> None:
    runs = _statuses_runs(api)
    _statuses_runs(api)
    query = "$filter=status eq 'completed' or status eq 'failed'&$top=1"
    items = api.all_pages(f"/industryData/incomingFlows/{FLOW}/runs?{query}")
    assert len(items) == 8
    assert len({r["id"] for r in items}) == 8
    assert runs["running2"] not in {r["id"] for r in items}
    keys = [r["startDateTime"] for r in items]
    assert keys == sorted(keys, reverse=True)


# ---------------------------------------------------------------------------------------------
# The published surface


def test_published_runs_cover_every_flow(api: Api) -> None:
    mine = api.created_id(run_body(startDateTime="2024-05-02T00:00:00Z", endDateTime=...))
    theirs = api.created_id(run_body(startDateTime="2024-05-03T00:00:00Z", endDateTime=...), flow=OTHER_FLOW)
    page = api.get("/external/industryData/runs").json()
    assert [r["id"] for r in page["value"]] == [theirs, mine]
    assert page["@odata.context"] == f"{api.base}/$metadata#external/industryData/runs"
    run = page["value"][0]
    assert run["@odata.type"] == "#microsoft.graph.industryData.industryDataRun"
    assert "statistics" not in run  # not a property of industryDataRun
    one = api.get(f"/beta/external/industryData/runs/{mine}").json()
    assert one["@odata.type"] == "#microsoft.graph.industryData.industryDataRun"
    assert one["@odata.context"] == f"{api.base}/beta/$metadata#external/industryData/runs/$entity"
    assert one["status"] == "completed"
    assert api.get("/external/industryData/runs?$top=1").json()["@odata.nextLink"]
    filtered = api.get("/external/industryData/runs?$filter=startDateTime ge 2024-05-03T00:00:00Z")
    assert [r["id"] for r in filtered.json()["value"]] == [theirs]
    assert api.get("/external/industryData/runs/$count").text == "2"
    assert api.get("/external/industryData/runs/$count?$filter=status eq 'x'").status_code == 400
    missing = api.get(f"/external/industryData/runs/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "itemNotFound"


def test_statistics_and_activities_of_a_created_run(api: Api) -> None:
    run_id = api.created_id(run_body(status="completedWithErrors", statistics={"people": 321}))
    for suffix in ("microsoft.graph.industryData.getStatistics()", "getStatistics"):
        response = api.get(f"/external/industryData/runs/{run_id}/{suffix}")
        assert response.status_code == 200, response.text
        stats = response.json()
        assert stats["@odata.type"] == "#microsoft.graph.industryData.industryDataRunStatistics"
        assert stats["runId"] == run_id
        assert stats["status"] == "completedWithErrors"
        assert stats["inboundTotals"]["people"] == 321
        assert stats["inboundTotals"]["errors"] > 0
        (activity,) = stats["activityStatistics"]
        assert activity["@odata.type"] == "#microsoft.graph.industryData.inboundActivityResults"
        assert activity["people"]["total"] == 321
    activities = api.get(f"/external/industryData/runs/{run_id}/activities").json()["value"]
    assert len(activities) == 1
    assert activities[0]["@odata.type"] == "#microsoft.graph.industryData.inboundFlowActivity"
    assert activities[0]["status"] == "completedWithErrors"
    assert activities[0]["id"] == stats["activityStatistics"][0]["activityId"]


def test_start_runs_then_turns_final_after_run_seconds(make_sandbox: Factory, clock: Clock) -> None:
    sandbox = make_sandbox(clock=clock, run_seconds=30, start_outcome="completedWithWarnings")
    with requests.Session() as session:
        api = Api(sandbox.base_url, session)
        for path in (
            "/external/industryData/runs/microsoft.graph.industryData.start",
            "/beta/external/industryData/runs/start",
        ):
            response = session.post(api.url(path))
            assert response.status_code == 202
            assert response.content == b""
            assert "Content-Type" not in response.headers
            clock.now += 1
        runs = api.get("/external/industryData/runs").json()["value"]
        assert len(runs) == 2
        newest = runs[0]
        assert newest["status"] == "running"
        assert newest["endDateTime"] is None
        assert newest["displayName"] == "Run 2023-11-14 22:13 UTC"
        assert newest["startDateTime"] == "2023-11-14T22:13:21.000000Z"
        activities = api.get(f"/external/industryData/runs/{newest['id']}/activities").json()
        assert activities["value"][0]["status"] == "inProgress"
        running = api.get("/external/industryData/runs?$filter=status eq 'running'").json()
        assert len(running["value"]) == 2

        clock.now = T0 + 30.5  # the first is due, the second is not yet
        statuses = [r["status"] for r in api.get("/external/industryData/runs").json()["value"]]
        assert statuses == ["running", "completedWithWarnings"]
        clock.now = T0 + 60
        run = api.get(f"/external/industryData/runs/{newest['id']}").json()
        assert run["status"] == "completedWithWarnings"
        assert run["endDateTime"] == "2023-11-14T22:13:51.000000Z"  # start + run_seconds
        stats = api.get(f"/external/industryData/runs/{newest['id']}/getStatistics").json()
        assert stats["status"] == "completedWithWarnings"
        assert stats["inboundTotals"]["warnings"] > 0
        assert stats["inboundTotals"]["people"] > 0
        activities = api.get(f"/external/industryData/runs/{newest['id']}/activities").json()
        assert activities["value"][0]["status"] == "completedWithWarnings"
        # The run is in the start flow, seen by inboundFlows and the seed surface alike.
        seed = api.get(f"/industryData/incomingFlows/{START_FLOW_ID}/runs/{newest['id']}")
        assert seed.json()["status"] == "completedWithWarnings"
        assert seed.json()["statistics"]["people"] == stats["inboundTotals"]["people"]


def test_start_outcome_failed_has_a_blocking_error(make_sandbox: Factory, clock: Clock) -> None:
    sandbox = make_sandbox(clock=clock, run_seconds=5, start_outcome="failed")
    url = f"{sandbox.base_url}/external/industryData/runs"
    assert requests.post(f"{url}/start").status_code == 202
    clock.now += 5
    (run,) = requests.get(url).json()["value"]
    assert run["status"] == "failed"
    assert run["blockingError"]["code"]


def test_patching_status_of_a_started_run_overrides_its_outcome(make_sandbox: Factory, clock: Clock) -> None:
    sandbox = make_sandbox(clock=clock, run_seconds=5)
    requests.post(f"{sandbox.base_url}/external/industryData/runs/start")
    (run,) = requests.get(f"{sandbox.base_url}/external/industryData/runs").json()["value"]
    url = f"{sandbox.base_url}/industryData/incomingFlows/{START_FLOW_ID}/runs/{run['id']}"
    patched = requests.patch(url, json={"status": "failed", "endDateTime": "2023-11-14T22:13:22Z"})
    assert patched.status_code == 200, patched.text
    clock.now += 60
    assert requests.get(url).json()["status"] == "failed"


def test_inbound_flows_lists_every_flow_seen(api: Api) -> None:
    assert api.get("/external/industryData/inboundFlows").json()["value"] == []
    api.created_id(run_body())
    api.created_id(run_body(), flow=OTHER_FLOW.upper())
    api.created_id(run_body())
    flows = api.get("/external/industryData/inboundFlows").json()["value"]
    assert [f["id"] for f in flows] == [FLOW, OTHER_FLOW]
    flow = api.get(f"/external/industryData/inboundFlows/{OTHER_FLOW}").json()
    assert flow["@odata.type"] == "#microsoft.graph.industryData.inboundFileFlow"
    assert flow["displayName"] == f"Sandbox flow {OTHER_FLOW[:8]}"
    assert flow["dataDomain"] == "educationRostering"
    assert flow["readinessStatus"] == "ready"
    missing = api.get(f"/external/industryData/inboundFlows/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "itemNotFound"


# ---------------------------------------------------------------------------------------------
# odata.py units


def test_start_key_orders_times_across_offsets() -> None:
    assert odata.start_key("2024-05-01T12:00:00+02:00") == "2024-05-01T10:00:00.0000000Z"
    assert odata.start_key("2024-05-01T10:00:00.1234567Z") == "2024-05-01T10:00:00.1234567Z"
    assert odata.start_key("2024-05-01T10:00:00.12Z") == "2024-05-01T10:00:00.1200000Z"
    assert odata.start_key("2024-05-01T10:00:00") is None
    assert odata.start_key("2024-02-30T10:00:00Z") is None


def test_skiptoken_round_trip() -> None:
    from rundctl.sandbox import edm

    order = odata.parse_orderby("startDateTime desc", edm.RUN)
    token = odata.encode_skiptoken((42,), order)
    assert odata.decode_skiptoken(token, order) == (42,)
    with pytest.raises(odata.QueryError, match=r"\$orderby"):
        odata.decode_skiptoken(token, odata.parse_orderby("displayName", edm.RUN))
    with pytest.raises(odata.QueryError):
        odata.decode_skiptoken("not base64 at all!", order)


def test_filter_precedence_and_not() -> None:
    from rundctl.sandbox import edm

    expr = odata.parse_filter(
        "not status eq 'failed' and (status eq 'running' or startDateTime lt 2024-01-01T00:00:00Z)",
        edm.RUN,
    )
    assert isinstance(expr, odata.Logical) and expr.op == "and"
    assert isinstance(expr.left, odata.Not)
    assert isinstance(expr.right, odata.Logical) and expr.right.op == "or"
