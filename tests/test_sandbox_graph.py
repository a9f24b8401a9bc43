"""The sandbox as an industryData emulator: the surfaces it serves, the endpoints and shapes
Microsoft's metadata declares, and the protocol details a Graph client relies on — all over
real HTTP on 127.0.0.1, as a client (or Microsoft's SDK) sees them."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from rundctl import model
from rundctl.sandbox.server import START_FLOW_ID, Sandbox, SandboxOptions

requests = pytest.importorskip("requests")  # TID253: not a module-level import

FLOW = "0b8e2f3a-51a4-4e0c-9d5f-3a7c1c2b9e10"
SEED = f"/industryData/incomingFlows/{FLOW}/runs"
ROOT = "/external/industryData"
RUNS = f"{ROOT}/runs"
FLOWS = f"{ROOT}/inboundFlows"
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
NS = "#microsoft.graph.industryData."


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
        "status": "completed",
        "statistics": {"people": 120},
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


Factory = Callable[..., Sandbox]


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[Factory]:
    started: list[Sandbox] = []

    def make(**options: Any) -> Sandbox:
        options.setdefault("port", 0)
        options.setdefault("db", str(tmp_path / "sandbox.db"))
        options.setdefault("clock", Clock())
        sandbox = Sandbox(SandboxOptions(**options))
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def base(make_sandbox: Factory) -> str:
    return make_sandbox().base_url


def create(base: str, flow: str = FLOW, **overrides: Any) -> dict[str, Any]:
    response = requests.post(f"{base}/industryData/incomingFlows/{flow}/runs", json=run_body(**overrides))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def envelope(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    """Graph's error envelope with the ids, the date without a zone, and the headers."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["code"] == code, error
    inner = error["innerError"]
    assert inner["request-id"] == response.headers["request-id"]
    assert inner["client-request-id"] == response.headers["client-request-id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", inner["date"])
    assert response.headers["OData-Version"] == "4.0"
    assert response.headers["Content-Type"] == JSON
    return error


# ---------------------------------------------------------------------------------------------
# Surfaces


def test_published_surface_answers_the_draft_paths_as_graph_does(make_sandbox: Factory) -> None:
    base = make_sandbox(surface="published").base_url
    for method, path in [
        ("POST", SEED),
        ("GET", SEED),
        ("GET", f"{SEED}/{uuid.uuid4()}"),
        ("PATCH", f"{SEED}/{uuid.uuid4()}"),
        ("POST", f"{SEED}/{uuid.uuid4()}/process/runs"),
        ("POST", f"/beta{SEED}"),
    ]:
        response = requests.request(method, base + path, json=run_body())
        error = envelope(response, 400, "BadRequest")
        assert error["message"] == "Resource not found for the segment 'incomingFlows'.", (method, path)
    assert requests.get(base + RUNS).json()["value"] == []  # nothing was stored
    assert requests.get(base + RUNS).status_code == 200
    assert requests.post(f"{base}{RUNS}/start").status_code == 202


@pytest.mark.parametrize("surface", ["published", "both"])
def test_runs_are_read_only_on_the_published_paths(make_sandbox: Factory, surface: str) -> None:
    """industryDataRun: Insertable, Updatable and Deletable are false in Microsoft's metadata."""
    sandbox = make_sandbox(surface=surface)
    base = sandbox.base_url
    if surface == "both":
        run_id = create(base)["id"]
    else:
        assert requests.post(f"{base}{RUNS}/start").status_code == 202
        run_id = requests.get(base + RUNS).json()["value"][0]["id"]
    for method, path in [("POST", RUNS), ("PUT", f"{RUNS}/{run_id}"), ("PATCH", f"{RUNS}/{run_id}"),
                         ("DELETE", f"{RUNS}/{run_id}"), ("DELETE", RUNS)]:
        response = requests.request(method, base + path, json={"status": "failed"})
        error = envelope(response, 405, "BadRequest")
        assert response.headers["Allow"] == "GET"
        assert "read-only" in error["message"] and "start" in error["message"]
    assert requests.get(f"{base}{RUNS}/{run_id}").json()["status"] != "failed"


def test_draft_surface_serves_only_the_draft_paths(make_sandbox: Factory) -> None:
    base = make_sandbox(surface="draft").base_url
    run = create(base)
    assert requests.get(f"{base}{SEED}/{run['id']}").status_code == 200
    for method, path in [("GET", RUNS), ("GET", ROOT), ("POST", f"{RUNS}/start"),
                         ("GET", f"{RUNS}/{run['id']}"), ("GET", FLOWS)]:
        error = envelope(requests.request(method, base + path), 400, "BadRequest")
        assert error["message"] == "Resource not found for the segment 'external'."


def test_both_surfaces_share_one_store(base: str) -> None:
    run = create(base)
    published = requests.get(f"{base}{RUNS}/{run['id']}").json()
    assert published["@odata.type"] == NS + "industryDataRun"
    assert published["@odata.etag"] == run["@odata.etag"]


def test_an_unknown_surface_is_refused() -> None:
    with pytest.raises(ValueError, match="surface"):
        Sandbox(SandboxOptions(surface="beta"))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Protocol: headers on every answer, 405, throttling


def test_every_answer_says_odata_version_4_0(make_sandbox: Factory) -> None:
    base = make_sandbox().base_url
    run = create(base)
    answers = [
        requests.get(base + RUNS),
        requests.get(f"{base}{RUNS}/$count"),
        requests.post(f"{base}{RUNS}/start"),
        requests.get(f"{base}{RUNS}/{uuid.uuid4()}"),
        requests.get(f"{base}/nowhere"),
        requests.delete(base + SEED),
        requests.patch(f"{base}{SEED}/{run['id']}", json={"status": "failed"}),
    ]
    for response in answers:
        assert response.headers["OData-Version"] == "4.0", response.url
    assert answers[0].headers["Content-Type"] == JSON
    assert answers[1].headers["Content-Type"].startswith("text/plain") and answers[1].text == "1"
    assert answers[2].status_code == 202 and answers[2].content == b""


def test_a_protocol_error_is_an_envelope_with_odata_version(sandbox_url: str) -> None:
    split = urlsplit(sandbox_url)
    with socket.create_connection((split.hostname, split.port), timeout=5) as raw:
        raw.sendall(b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = raw.recv(65536).decode()
    head, _, _ = reply.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 501")
    assert "\r\nOData-Version: 4.0\r\n" in head


@pytest.fixture
def sandbox_url(make_sandbox: Factory) -> str:
    return make_sandbox().base_url


def test_an_undeclared_method_is_405_with_allow(base: str) -> None:
    for method, path, allow in [
        ("GET", f"{RUNS}/start", "POST"),
        ("POST", f"{RUNS}/$count", "GET"),
        ("POST", ROOT, "GET"),
        ("PATCH", FLOWS, "GET"),
        ("HEAD", RUNS, "GET"),
    ]:
        response = requests.request(method, base + path)
        assert response.status_code == 405, (method, path)
        assert response.headers["Allow"] == allow
        if method != "HEAD":
            envelope(response, 405, "BadRequest")


def test_an_unknown_segment_is_400_naming_the_first_unknown_one(base: str) -> None:
    for path, segment in [
        (f"{ROOT}/sourceSystems", "sourceSystems"),
        (f"{RUNS}/{uuid.uuid4()}/colours", "colours"),
        ("/external/somethingElse/runs", "somethingElse"),
        ("/beta/nope", "nope"),
    ]:
        error = envelope(requests.get(base + path), 400, "BadRequest")
        assert error["message"] == f"Resource not found for the segment '{segment}'."


def test_a_429_has_the_shape_of_graphs_throttling_answer(make_sandbox: Factory) -> None:
    base = make_sandbox(rate_limit=(1, 60.0)).base_url
    assert requests.get(base + RUNS).status_code == 200
    throttled = requests.get(base + RUNS, headers={"client-request-id": "c-42"})
    error = envelope(throttled, 429, "TooManyRequests")
    assert error["message"] == "Please retry again later."
    inner = error["innerError"]
    assert (inner["code"], inner["message"], inner["status"]) == ("429", "Please retry after", "429")
    assert inner["client-request-id"] == "c-42"
    assert throttled.headers["Retry-After"] == "60"


# ---------------------------------------------------------------------------------------------
# Endpoints and shapes (Microsoft's metadata and SDK models)


def test_the_industry_data_root(base: str) -> None:
    response = requests.get(base + "/beta" + ROOT)
    assert response.status_code == 200
    root = response.json()
    assert root["@odata.context"] == f"{base}/beta/$metadata#external/industryData/$entity"
    assert root["@odata.type"] == NS + "industryDataRoot"
    assert GUID.fullmatch(root["id"])
    assert requests.get(base + ROOT).json()["id"] == root["id"]  # a singleton: always the same
    create(base)
    expanded = requests.get(base + ROOT, params={"$expand": "runs,inboundFlows", "$select": "id"}).json()
    assert len(expanded["runs"]) == 1 and expanded["runs"][0]["@odata.type"] == NS + "industryDataRun"
    assert [f["id"] for f in expanded["inboundFlows"]] == [FLOW]
    refused = envelope(requests.get(base + ROOT, params={"$expand": "roleGroups"}), 400, "BadRequest")
    assert "roleGroups" in refused["message"]


@pytest.mark.parametrize(
    "suffix",
    [
        "microsoft.graph.industryData.getStatistics()",
        "microsoft.graph.industryData.getStatistics",
        "getStatistics()",
        "getStatistics",
    ],
)
def test_statistics_bound_to_the_collection_report_the_latest_run(base: str, suffix: str) -> None:
    missing = envelope(requests.get(f"{base}{RUNS}/{suffix}"), 404, "itemNotFound")
    assert "no runs" in missing["message"]
    create(base, startDateTime="2024-05-02T00:00:00Z", statistics={"people": 7})
    latest = create(base, startDateTime="2024-05-03T00:00:00Z", status="running",
                    statistics={"people": 9})
    create(base, startDateTime="2024-05-01T00:00:00Z", statistics={"people": 5})  # stored last, older
    stats = requests.get(f"{base}{RUNS}/{suffix}").json()
    assert stats["@odata.type"] == NS + "industryDataRunStatistics"
    assert stats["@odata.context"].endswith("#microsoft.graph.industryData.industryDataRunStatistics")
    assert (stats["runId"], stats["status"], stats["inboundTotals"]["people"]) == (latest["id"], "running", 9)
    assert stats["activityStatistics"][0]["@odata.type"] == NS + "inboundActivityResults"
    refused = envelope(requests.get(f"{base}{RUNS}/{suffix}", params={"$select": "runId"}), 400, "BadRequest")
    assert "$select" in refused["message"]


def test_start_in_both_forms_and_no_query_options(base: str) -> None:
    for path in (f"{RUNS}/microsoft.graph.industryData.start", f"{RUNS}/start", f"/beta{RUNS}/START"):
        response = requests.post(base + path)
        assert response.status_code == 202 and response.content == b""
    assert len(requests.get(base + RUNS).json()["value"]) == 3
    envelope(requests.post(f"{base}{RUNS}/start", params={"$top": "1"}), 400, "BadRequest")


def test_one_activity_its_flow_and_the_activity_count(base: str) -> None:
    run = create(base, status="completedWithWarnings")
    activities = f"{base}{RUNS}/{run['id']}/activities"
    (listed,) = requests.get(activities).json()["value"]
    assert listed["@odata.type"] == NS + "inboundFlowActivity"
    one = requests.get(f"{activities}/{listed['id']}")
    assert one.status_code == 200
    activity = one.json()
    context = f"{base}/$metadata#external/industryData/runs('{run['id']}')/activities/$entity"
    assert activity["@odata.context"] == context
    assert {k: v for k, v in activity.items() if k != "@odata.context"} == listed
    assert activity["status"] == "completedWithWarnings"
    flow = requests.get(f"{activities}/{listed['id']}/activity").json()
    assert flow["@odata.type"] == NS + "inboundFileFlow"
    assert flow["id"] == FLOW
    assert flow["@odata.context"] == f"{base}/$metadata#external/industryData/inboundFlows/$entity"
    assert set(flow) >= {"displayName", "readinessStatus", "dataDomain", "effectiveDateTime",
                         "expirationDateTime"}
    assert requests.get(f"{activities}/$count").text == "1"
    assert requests.get(f"{activities}/$count", params={"$filter": "status eq 'failed'"}).text == "0"
    envelope(requests.get(f"{activities}/{uuid.uuid4()}"), 404, "itemNotFound")
    envelope(requests.get(f"{activities}/{uuid.uuid4()}/activity"), 404, "itemNotFound")
    envelope(requests.get(f"{base}{RUNS}/{uuid.uuid4()}/activities/$count"), 404, "itemNotFound")
    options = {"$select": "status", "$expand": "activity"}
    selected = requests.get(f"{activities}/{listed['id']}", params=options)
    assert set(selected.json()) == {"@odata.context", "@odata.type", "id", "status", "activity"}


def test_a_flow_its_data_connector_year_and_count(make_sandbox: Factory) -> None:
    base = make_sandbox(clock=Clock(1_717_200_000.0)).base_url  # 2024-06-01
    create(base)
    create(base, flow=START_FLOW_ID)
    assert requests.get(f"{base}{FLOWS}/$count").text == "2"
    connector = requests.get(f"{base}{FLOWS}/{FLOW}/dataConnector")
    assert connector.status_code == 200
    body = connector.json()
    assert body["@odata.type"] == NS + "azureDataLakeConnector"
    assert body["@odata.context"] == f"{base}/$metadata#external/industryData/dataConnectors/$entity"
    assert GUID.fullmatch(body["id"]) and body["displayName"]
    assert requests.get(f"{base}{ROOT}/dataConnectors/{body['id']}").json()["id"] == body["id"]
    year = requests.get(f"{base}{FLOWS}/{FLOW}/year").json()
    assert year["@odata.type"] == NS + "yearTimePeriodDefinition"
    assert (year["startDate"], year["endDate"]) == ("2024-01-01", "2024-12-31")
    assert year["year"] == {"code": "2024"}
    assert year["@odata.context"] == f"{base}/$metadata#external/industryData/years/$entity"
    assert requests.get(f"{base}{ROOT}/years/{year['id']}").json() == year
    years = requests.get(f"{base}{ROOT}/years").json()["value"]
    assert [y["id"] for y in years] == [year["id"]]  # both flows are of 2024
    assert requests.get(f"{base}{ROOT}/dataConnectors/$count").text == "2"
    for path in (f"{FLOWS}/{uuid.uuid4()}/dataConnector", f"{FLOWS}/{uuid.uuid4()}/year",
                 f"{ROOT}/dataConnectors/{uuid.uuid4()}", f"{ROOT}/years/{uuid.uuid4()}"):
        envelope(requests.get(base + path), 404, "itemNotFound")
    expanded = requests.get(f"{base}{FLOWS}/{FLOW}", params={"$expand": "dataConnector,year"}).json()
    assert expanded["dataConnector"]["id"] == body["id"] and expanded["year"]["id"] == year["id"]
    unserved = requests.get(f"{base}{FLOWS}/{FLOW}/dataConnector", params={"$expand": "sourceSystem"})
    refused = envelope(unserved, 400, "BadRequest")
    assert "sourceSystem" in refused["message"]


def test_expand_activities_on_the_run_list_and_one_run(base: str) -> None:
    first = create(base, startDateTime="2024-05-01T00:00:00Z")
    second = create(base, startDateTime="2024-05-02T00:00:00Z", status="failed")
    listed = requests.get(base + RUNS, params={"$expand": "activities"}).json()["value"]
    assert [r["id"] for r in listed] == [second["id"], first["id"]]
    assert [r["activities"][0]["status"] for r in listed] == ["failed", "completed"]
    for expand in ("activities", "*", "Activities"):
        one = requests.get(f"{base}{RUNS}/{first['id']}", params={"$expand": expand}).json()
        assert one["activities"][0]["@odata.type"] == NS + "inboundFlowActivity", expand
    nested = requests.get(
        f"{base}{RUNS}/{first['id']}",
        params={"$expand": "activities($select=status;$count=true;$expand=activity($select=id))"},
    ).json()
    (activity,) = nested["activities"]
    assert nested["activities@odata.count"] == 1
    assert set(activity) == {"@odata.type", "id", "status", "activity"}
    assert activity["activity"] == {"@odata.type": NS + "inboundFileFlow", "id": FLOW}
    filtered = requests.get(base + RUNS, params={"$expand": "activities($filter=status eq 'failed')"}).json()
    assert [len(r["activities"]) for r in filtered["value"]] == [1, 0]
    for bad in ("activities($levels=2)", "activities($search=x)", "activites", "activities(",
                "*($select=id)"):
        envelope(requests.get(base + RUNS, params={"$expand": bad}), 400, "BadRequest")


def test_client_input_is_validated_by_rundctls_own_rules(base: str) -> None:
    """The sandbox refuses what rundctl.model refuses and stores what it accepts — e.g. an
    innerError with extra keys (publicInnerError is an open type) once the model allows them."""
    body = run_body(blockingError={"code": "E1", "message": "m", "innerError": {"code": "I", "extra": 1}})
    expected = 201 if not model.validate_run(body) else 400
    response = requests.post(base + SEED, json=body)
    assert response.status_code == expected, response.text
