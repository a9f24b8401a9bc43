"""One query-option engine for every collection of the sandbox (runs on both surfaces, a run's
activities, inbound flows, data connectors, years): each option is honoured or refused with
Graph's 400 envelope naming it — never silently ignored. Over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from rundctl.sandbox.server import START_FLOW_ID, Sandbox

requests = pytest.importorskip("requests")  # TID253: not a module-level import

FLOW = "0b8e2f3a-51a4-4e0c-9d5f-3a7c1c2b9e10"
OTHER = "6f1c0d2e-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
SEED = f"/industryData/incomingFlows/{FLOW}/runs"
ROOT = "/external/industryData"
RUNS = f"{ROOT}/runs"
FLOWS = f"{ROOT}/inboundFlows"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


Factory = Callable[..., Sandbox]




@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def base(make_sandbox: Factory, clock: Clock) -> str:
    return make_sandbox(clock=clock).base_url


def create(base: str, flow: str = FLOW, **fields: Any) -> str:
    body: dict[str, Any] = {"displayName": "run", "startDateTime": "2024-05-01T10:00:00Z",
                            "status": "completed", "statistics": {}}
    body.update(fields)
    response = requests.post(f"{base}/industryData/incomingFlows/{flow}/runs", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def values(base: str, path: str, **options: str) -> list[dict[str, Any]]:
    response = requests.get(base + path, params={f"${k}": v for k, v in options.items()})
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["value"]
    return result


def refused(base: str, path: str, fragment: str, **options: str) -> str:
    response = requests.get(base + path, params={f"${k}": v for k, v in options.items()})
    assert response.status_code == 400, (options, response.text)
    error = response.json()["error"]
    assert error["code"] == "BadRequest"
    assert fragment in error["message"], error["message"]
    message: str = error["message"]
    return message


def pages(base: str, path: str, **options: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    url: str | None = base + path
    params: dict[str, str] | None = {f"${k}": v for k, v in options.items()}
    while url:
        response = requests.get(url, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["value"]
        url, params = page.get("@odata.nextLink"), None
        assert len(items) < 1000
    return items


@pytest.fixture
def mixed(base: str) -> dict[str, str]:
    """Runs of every kind: statuses, names, ends, errors, two flows."""
    return {
        "a": create(base, displayName="alpha", startDateTime="2024-05-01T01:00:00Z", status="failed",
                    endDateTime="2024-05-01T02:00:00Z",
                    blockingError={"code": "E42", "message": "the file was empty"}),
        "b": create(base, displayName="Bravo", startDateTime="2024-05-02T01:00:00Z", status="running"),
        "c": create(base, displayName="charlie", startDateTime="2024-05-03T01:00:00+02:00",
                    status="completedWithWarnings", endDateTime="2024-05-03T05:00:00Z"),
        "d": create(base, OTHER, displayName="alpha", startDateTime="2024-05-04T01:00:00Z",
                    status="completed", endDateTime="2024-05-04T03:00:00Z"),
    }


def ids(items: list[dict[str, Any]], named: dict[str, str]) -> list[str]:
    by_id = {v: k for k, v in named.items()}
    return [by_id.get(item["id"], "?") for item in items]


# ---------------------------------------------------------------------------------------------
# $filter over every property the metadata declares


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("status eq 'failed'", ["a"]),
        ("status eq microsoft.graph.industryData.industryDataRunStatus'running'", ["b"]),
        ("status eq 'unknownFutureValue'", []),  # a member of the enum: a valid filter
        ("status ne 'running'", ["d", "c", "a"]),
        ("status gt 'completed'", ["c"]),  # enums compare by member value
        ("status in ('running', 'failed')", ["b", "a"]),
        ("status has 'completed'", ["d"]),
        ("displayName eq 'alpha'", ["d", "a"]),
        ("displayName ge 'b'", ["c"]),  # text order: 'Bravo' < 'b'
        ("startswith(displayName, 'al')", ["d", "a"]),
        ("endswith(displayName,'lie')", ["c"]),
        ("contains(displayName, 'rav')", ["b"]),
        ("tolower(displayName) eq 'bravo'", ["b"]),
        ("toupper(displayName) eq 'ALPHA' and status eq 'failed'", ["a"]),
        ("endDateTime eq null", ["b"]),
        ("endDateTime ne null and endDateTime lt 2024-05-03T00:00:00Z", ["a"]),
        ("startDateTime ge 2024-05-02T23:00:00Z", ["d", "c"]),  # c started at 23:00Z
        ("blockingError ne null", ["a"]),
        ("blockingError eq null", ["d", "c", "b"]),
        ("blockingError/code eq 'E42'", ["a"]),
        ("startswith(blockingError/message, 'the')", ["a"]),
        ("not (status eq 'failed' or status eq 'running')", ["d", "c"]),
        ("id eq '{c}'", ["c"]),
        ("id in ('{a}', '{d}')", ["d", "a"]),
    ],
)
def test_filter_on_runs(base: str, mixed: dict[str, str], expression: str, expected: list[str]) -> None:
    text = expression.format(**mixed)
    assert ids(values(base, RUNS, filter=text), mixed) == expected
    # The same engine on the draft surface (one flow) and on $count.
    in_flow = [name for name in expected if name != "d"]
    assert ids(values(base, SEED, filter=text), mixed) == in_flow
    assert requests.get(f"{base}{RUNS}/$count", params={"$filter": text}).text == str(len(expected))


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("status eq 'complete'", "'complete' is not a valid enumeration type constant"),
        ("status eq microsoft.graph.industryData.readinessStatus'ready'", "incompatible types"),
        ("status eq 3", "incompatible types"),
        ("displayName eq 3", "incompatible types"),
        ("displayName eq 2024-01-01T00:00:00Z", "incompatible types"),
        ("startDateTime ge '2024-01-01T00:00:00Z'",
         "Found operand types 'Edm.DateTimeOffset' and 'Edm.String'"),
        ("startDateTime ge 2024-02-30T00:00:00Z", "not a valid DateTimeOffset"),
        ("startDateTime gt null", "only eq null and ne null"),
        ("blockingError eq 'x'", "can only be compared with null"),
        ("blockingError/colour eq 'x'", "colour"),
        ("colour eq 'x'", "Could not find a property named 'colour'"),
        ("activities eq null", "navigation property"),
        ("displayName has 'x'", "'has' applies to enumeration"),
        ("now() gt startDateTime", "not supported"),
        ("length(displayName) eq 3", "not supported"),
        ("startswith(status, 'r')", "compares strings"),
        ("status eq 'failed' and", "unexpected end"),
        ("status in 'failed'", "'(' expected"),
        ("'a' eq 'a'", "a property name was expected"),
        ("status eq 'failed' xor status eq 'running'", "syntax error"),
        ("", "empty"),
    ],
)
def test_a_bad_filter_is_400_naming_what_is_wrong(base: str, expression: str, fragment: str) -> None:
    message = refused(base, RUNS, fragment, filter=expression)
    assert message.startswith("Invalid filter clause: ")


def test_filters_on_activities_and_flows(base: str, mixed: dict[str, str]) -> None:
    activities = f"{RUNS}/{mixed['b']}/activities"
    assert len(values(base, activities, filter="status eq 'inProgress'")) == 1
    assert values(base, activities, filter="status eq 'skipped' or blockingError ne null") == []
    refused(base, activities, "not a valid enumeration", filter="status eq 'running'")  # runs' enum, not this
    assert [f["id"] for f in values(base, FLOWS, filter="readinessStatus eq 'ready' and dataDomain eq "
                                    "'educationRostering'")] == [FLOW, OTHER]
    assert values(base, FLOWS, filter="expirationDateTime ne null") == []
    assert [f["id"] for f in values(base, FLOWS, filter=f"id eq '{OTHER}'")] == [OTHER]
    refused(base, FLOWS, "status", filter="status eq 'ready'")
    years = values(base, f"{ROOT}/years", filter="startDate le 2023-12-31 and year/code eq '2023'")
    assert [y["displayName"] for y in years] == ["2023"]
    refused(base, f"{ROOT}/years", "not a valid Date", filter="startDate le 2023-02-30")
    named = {"$filter": "startswith(displayName,'Sandbox')"}
    assert requests.get(f"{base}{FLOWS}/$count", params=named).text == "2"


# ---------------------------------------------------------------------------------------------
# $orderby: several keys, asc and desc; paging follows the order


@pytest.mark.parametrize(
    ("orderby", "expected"),
    [
        ("startDateTime", ["a", "b", "c", "d"]),
        ("startDateTime desc", ["d", "c", "b", "a"]),
        ("displayName", ["b", "a", "d", "c"]),  # text order; ties in insertion order
        ("displayName desc,startDateTime desc", ["c", "d", "a", "b"]),
        ("status desc", ["c", "d", "a", "b"]),  # by member value: completedWithWarnings first
        ("status", ["b", "a", "d", "c"]),
        ("endDateTime desc", ["d", "c", "a", "b"]),  # nulls sort first ascending, last descending
        ("blockingError, displayName", ["b", "d", "c", "a"]),  # no error first, then by code
        ("blockingError/code desc, id", ["a", "by id"]),
        ("id", ["by id"]),
    ],
)
def test_orderby_on_runs(base: str, mixed: dict[str, str], orderby: str, expected: list[str]) -> None:
    listed = ids(values(base, RUNS, orderby=orderby), mixed)
    if expected[-1] == "by id":
        expected = [*expected[:-1], *sorted(set(mixed) - set(expected), key=lambda name: mixed[name])]
    assert listed == expected
    assert ids(pages(base, RUNS, orderby=orderby, top="1"), mixed) == expected  # paged, the same


@pytest.mark.parametrize(
    ("orderby", "fragment"),
    [
        ("colour", "colour"),
        ("startDateTime sideways", "asc or desc"),
        ("startDateTime desc extra", "asc|desc"),
        ("statistics", "statistics"),
        ("activities", "navigation"),
        ("", "asc|desc"),
    ],
)
def test_a_bad_orderby_is_400(base: str, orderby: str, fragment: str) -> None:
    message = refused(base, RUNS, fragment, orderby=orderby)
    assert "$orderby" in message


def test_orderby_on_flows_and_seed_statistics_is_refused(base: str, mixed: dict[str, str]) -> None:
    flows = values(base, FLOWS, orderby="displayName desc")
    expected = sorted([FLOW, OTHER], key=lambda f: f"Sandbox flow {f[:8]}", reverse=True)
    assert [f["id"] for f in flows] == expected
    refused(base, SEED, "statistics", orderby="statistics")


def test_keyset_paging_in_any_order_is_stable_when_runs_are_added(base: str) -> None:
    made = [create(base, displayName=f"n{i % 3}", startDateTime=f"2024-05-0{1 + i % 5}T00:00:00Z")
            for i in range(9)]
    options = {"$orderby": "displayName,startDateTime desc", "$top": "4"}
    first = requests.get(base + RUNS, params=options).json()
    create(base, displayName="n0", startDateTime="2024-05-09T00:00:00Z")  # sorts before the first page's end
    create(base, displayName="n9")  # sorts after everything
    rest = pages(base, first["@odata.nextLink"].removeprefix(base))
    seen = [r["id"] for r in first["value"] + rest]
    assert len(seen) == len(set(seen))  # no duplicates
    assert set(made) <= set(seen)  # nothing skipped
    def key(run: dict[str, Any]) -> tuple[str, float]:
        started = datetime.fromisoformat(run["startDateTime"].replace("Z", "+00:00"))
        return run["displayName"], -started.timestamp()

    listed = first["value"] + rest
    assert listed == sorted(listed, key=key)  # displayName, then the newest first
    link = parse_qs(urlsplit(first["@odata.nextLink"]).query)
    assert link["$orderby"] == ["displayName,startDateTime desc"] and link["$top"] == ["4"]
    other_order = first["@odata.nextLink"].replace("displayName%2CstartDateTime%20desc", "status")
    assert requests.get(other_order).status_code == 400  # a token belongs to its ordering


# ---------------------------------------------------------------------------------------------
# $top, $skip, $count, $select on every collection


def collections(base: str, run_id: str) -> list[str]:
    return [RUNS, SEED, f"{RUNS}/{run_id}/activities", FLOWS, f"{ROOT}/dataConnectors", f"{ROOT}/years"]


def test_top_skip_and_count_on_every_collection(base: str, mixed: dict[str, str]) -> None:
    for path in collections(base, mixed["a"]):
        everything = values(base, path)
        body = requests.get(base + path, params={"$top": "1", "$count": "true"}).json()
        assert body["@odata.count"] == len(everything), path
        assert body["value"] == everything[:1], path
        assert ("@odata.nextLink" in body) == (len(everything) > 1), path
        assert values(base, path, skip="1") == everything[1:], path
        assert values(base, path, top="0") == [], path
        assert pages(base, path, top="1") == everything, path
        assert "@odata.count" not in requests.get(base + path, params={"$count": "false"}).json()
        for name, value in [("top", "AAA"), ("top", "-1"), ("top", "1000"), ("skip", "x"), ("count", "yes")]:
            refused(base, path, f"${name}", **{name: value})


def test_count_true_on_activities(base: str, mixed: dict[str, str]) -> None:
    body = requests.get(f"{base}{RUNS}/{mixed['a']}/activities", params={"$count": "true"}).json()
    assert body["@odata.count"] == 1


def test_select_on_every_collection_and_item(base: str, mixed: dict[str, str]) -> None:
    run = values(base, RUNS, select="status,displayName", filter=f"id eq '{mixed['a']}'")[0]
    assert set(run) == {"@odata.type", "@odata.etag", "id", "status", "displayName"}
    flow = values(base, FLOWS, select="readinessStatus")[0]
    assert set(flow) == {"@odata.type", "id", "readinessStatus"}
    year = values(base, f"{ROOT}/years", select="*")[0]
    assert {"startDate", "endDate", "year"} <= set(year)
    one = requests.get(f"{base}{RUNS}/{mixed['a']}", params={"$select": "blockingError"}).json()
    assert one["blockingError"]["code"] == "E42" and "status" not in one
    refused(base, RUNS, "colour", select="id,colour")
    # Selecting a navigation property is legal OData: minimal metadata writes no link for it.
    assert set(values(base, RUNS, select="activities")[0]) == {"@odata.type", "@odata.etag", "id"}
    with_expand = values(base, RUNS, select="status,activities", expand="activities")[0]
    assert set(with_expand) == {"@odata.type", "@odata.etag", "id", "status", "activities"}
    refused(base, f"{RUNS}/{mixed['a']}", "statistics", select="statistics")  # not on the published type
    assert "statistics" in values(base, SEED, select="statistics")[0]


# ---------------------------------------------------------------------------------------------
# What is refused


@pytest.mark.parametrize("option", ["search", "format", "apply", "compute", "deltatoken", "levels"])
def test_options_the_sandbox_cannot_honour_are_refused(base: str, option: str) -> None:
    for path in (RUNS, FLOWS, SEED):
        refused(base, path, f"${option}", **{option: "x"})


def test_options_are_refused_where_they_do_not_apply(base: str, mixed: dict[str, str]) -> None:
    item = f"{RUNS}/{mixed['a']}"
    for name in ("top", "skip", "count", "filter", "orderby", "skiptoken"):
        refused(base, item, "single entity", **{name: "1"})
        refused(base, f"{FLOWS}/{FLOW}", "single entity", **{name: "1"})
    for name in ("top", "select", "orderby", "expand", "count"):
        refused(base, f"{RUNS}/$count", "$count request", **{name: "1"})
    refused(base, f"{item}/getStatistics", "getStatistics", select="runId")
    refused(base, RUNS, "$bogus", bogus="1")
    response = requests.get(f"{base}{RUNS}?$top=1&top=2")
    assert response.status_code == 400 and "more than once" in response.json()["error"]["message"]
    assert requests.get(base + RUNS, params={"colour": "blue"}).status_code == 200  # not an OData option


def test_the_dollar_is_optional_as_on_graph_beta(base: str, mixed: dict[str, str]) -> None:
    response = requests.get(base + RUNS, params={"filter": "status eq 'failed'", "select": "id", "top": "5"})
    assert [r["id"] for r in response.json()["value"]] == [mixed["a"]]


def test_the_start_flow_lists_runs_made_by_start(base: str, clock: Clock) -> None:
    assert requests.post(f"{base}{RUNS}/start").status_code == 202
    listed = values(base, f"/industryData/incomingFlows/{START_FLOW_ID}/runs", select="status")
    assert [r["status"] for r in listed] == ["running"]
