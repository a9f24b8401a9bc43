"""The sandbox's OData query options over HTTP, against a sandbox served from this process:
``$filter``, ``$orderby``, ``$top``, ``$skip``, ``$count``, ``$select``, ``$skiptoken`` (paging by
``@odata.nextLink``) and the Graph error envelope for every query it refuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.conftest import FLOW
from tests.test_inproc_support import local_sandbox, post_run

STATUSES = ["failed", "completed", "completedWithErrors", "completedWithWarnings"]


@pytest.fixture(scope="module")
def box() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """12 runs, one per hour on 2026-11-01 (00:00 .. 11:00), statuses cycling."""
    with local_sandbox() as url:
        made = [post_run(url, {"displayName": f"r{i:02d}",
                               "startDateTime": f"2026-11-01T{i:02d}:00:00Z",
                               "endDateTime": f"2026-11-01T{i:02d}:30:00Z",
                               "status": STATUSES[i % 4], "statistics": {"i": i}})
                for i in range(12)]
        yield url, made


def get(url: str, path: str = f"/industryData/incomingFlows/{FLOW}/runs", **params: str):
    return requests.get(url + path, params=params, timeout=10)


def names(resp) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [r["displayName"] for r in resp.json()["value"]]


@pytest.mark.parametrize(("expr", "want"), [
    ("status eq 'failed'", ["r00", "r04", "r08"]),
    ("status ne 'failed' and startDateTime lt 2026-11-01T03:00:00Z", ["r01", "r02"]),
    ("startDateTime ge 2026-11-01T10:00:00Z", ["r10", "r11"]),
    ("startDateTime gt 2026-11-01T10:00:00Z or startDateTime le 2026-11-01T00:00:00Z",
     ["r00", "r11"]),
    ("not (startDateTime lt 2026-11-01T09:00:00.0000000Z)", ["r09", "r10", "r11"]),
    ("(status eq 'completed' or status eq 'COMPLETED') and startDateTime le 2026-11-01T05:00:00Z",
     ["r01", "r05"]),
    ("startDateTime eq 2026-11-01T06:00:00+00:00", ["r06"]),
])
def test_filter_selects_exactly_the_matching_runs(box, expr, want) -> None:
    url, _ = box
    assert sorted(names(get(url, **{"$filter": expr, "$orderby": "startDateTime"}))) == want


def test_orderby_top_skip_and_count(box) -> None:
    url, _ = box
    asc = names(get(url, **{"$orderby": "startDateTime asc", "$top": "3"}))
    assert asc == ["r00", "r01", "r02"]
    desc = get(url, **{"$orderby": "startDateTime desc", "$top": "3", "$skip": "2",
                       "$count": "true"})
    assert names(desc) == ["r09", "r08", "r07"]
    assert desc.json()["@odata.count"] == 12
    assert "@odata.count" not in get(url, **{"$count": "false"}).json()
    assert names(get(url, **{"$top": "0"})) == []
    assert get(url, "/external/industryData/runs/$count").text.strip() == "12"


def test_select_keeps_only_the_named_properties(box) -> None:
    url, made = box
    body = get(url, **{"$select": "id,DisplayName,id", "$top": "1",
                       "$orderby": "startDateTime"}).json()
    [item] = body["value"]
    assert {k: v for k, v in item.items() if not k.startswith("@")} == {
        "id": made[0]["id"], "displayName": "r00"}
    one = get(url, f"/industryData/incomingFlows/{FLOW}/runs/{made[3]['id']}", **{"$select": "status"})
    assert one.status_code == 200
    assert {k: v for k, v in one.json().items() if not k.startswith("@")} == {
        "id": made[3]["id"], "status": "completedWithWarnings"}  # the key always comes along


def test_next_links_page_through_every_run_exactly_once(box) -> None:
    url, made = box
    seen: list[str] = []
    page = get(url, **{"$top": "5", "$orderby": "startDateTime desc", "$filter": "status ne 'running'"})
    pages = 0
    while pages < 10:  # a link that never ends would fail below, not loop forever
        body = page.json()
        seen += [r["id"] for r in body["value"]]
        pages += 1
        link = body.get("@odata.nextLink")
        if not link:
            break
        assert link.startswith(url) and "$skiptoken=" in requests.utils.unquote(link)
        page = requests.get(link, timeout=10)
    assert pages == 3
    assert seen == [r["id"] for r in sorted(made, key=lambda r: r["startDateTime"], reverse=True)]


def test_a_skiptoken_for_the_other_order_is_refused(box) -> None:
    url, _ = box
    link = get(url, **{"$top": "2", "$orderby": "startDateTime desc"}).json()["@odata.nextLink"]
    token = requests.utils.unquote(link.split("$skiptoken=")[1].split("&")[0])
    res = get(url, **{"$skiptoken": token, "$orderby": "startDateTime asc"})
    assert res.status_code == 400
    assert "does not match $orderby" in res.json()["error"]["message"]


@pytest.mark.parametrize(("params", "message"), [
    ({"$filter": ""}, "the expression is empty"),
    ({"$filter": "status eq 'failed' x"}, "syntax error at 'x'"),
    ({"$filter": "startDateTime foo 2026-01-01T00:00:00Z"}, "unknown operator 'foo'"),
    ({"$filter": "colour eq 'x'"}, "Could not find a property named 'colour'"),
    ({"$filter": "status eq 2026-01-01T00:00:00Z"}, "incompatible types"),
    ({"$filter": "status eq 'complete'"}, "'complete'"),
    ({"$filter": "startDateTime ge '2026-01-01T00:00:00Z'"}, "incompatible types"),
    ({"$filter": " or ".join(["status eq 'failed'"] * 101)}, "more than 100 comparisons"),
    ({"$filter": "not " * 40 + "status eq 'failed'"}, "deeper than"),
    ({"$top": "99999999999999"}, "must be between 0 and 999"),
    ({"$top": "-1"}, "a whole number is required"),
    ({"$skip": "x"}, "a whole number is required"),
    ({"$count": "yes"}, "use true or false"),
    ({"$select": "id,,status"}, "empty property name"),
    ({"$select": "colour"}, "could not find a property named 'colour'"),
    ({"$orderby": "colour"}, "Invalid $orderby 'colour'"),
    ({"$orderby": "startDateTime sideways"}, "direction must be asc or desc"),
    ({"$skiptoken": "e30"}, "is not valid; follow @odata.nextLink"),
    ({"$skiptoken": "!!"}, "is not valid"),
    ({"$apply": "x"}, "'$apply' is not supported by the sandbox"),
    ({"$frobnicate": "x"}, "'$frobnicate' is not supported"),
])
def test_a_bad_query_is_a_graph_400_naming_the_problem(box, params, message) -> None:
    url, _ = box
    res = get(url, **params)
    assert res.status_code == 400, res.text
    error = res.json()["error"]
    assert error["code"] == "BadRequest"
    assert message in error["message"], error["message"]


def test_an_option_given_twice_and_options_on_one_entity_are_refused(box) -> None:
    url, made = box
    twice = requests.get(f"{url}/industryData/incomingFlows/{FLOW}/runs?$top=1&$top=2", timeout=10)
    assert twice.status_code == 400 and "more than once" in twice.json()["error"]["message"]
    one = get(url, f"/industryData/incomingFlows/{FLOW}/runs/{made[0]['id']}", **{"$top": "1"})
    assert one.status_code == 400
    assert "not allowed on a single entity" in one.json()["error"]["message"]


def test_unknown_plain_parameters_are_ignored(box) -> None:
    url, _ = box
    assert len(names(get(url, colour="blue", **{"$top": "2"}))) == 2
