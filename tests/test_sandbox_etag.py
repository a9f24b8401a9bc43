"""Optimistic concurrency on the sandbox: every run has an ETag, and a PATCH with If-Match is
applied only to the version it names (412 preconditionFailed otherwise), atomically in SQLite.

What a client sees over real HTTP: ``@odata.etag`` in every run, the ``ETag`` header on item
answers, 412 in Graph's envelope with nothing changed, and no lost update under contention.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from rundctl.sandbox.server import START_FLOW_ID, Sandbox

requests = pytest.importorskip("requests")  # TID253: not a module-level import

FLOW = "0b8e2f3a-51a4-4e0c-9d5f-3a7c1c2b9e10"
RUNS = f"/industryData/incomingFlows/{FLOW}/runs"
PUBLISHED = "/external/industryData/runs"
T0 = 1_700_000_000.0


def run_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "@odata.type": "#microsoft.industryData.run",
        "displayName": "Nightly import",
        "startDateTime": "2024-05-01T10:00:00Z",
        "status": "running",
        "statistics": {"people": 0},
    }
    body.update(overrides)
    return body


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


Factory = Callable[..., Sandbox]




@pytest.fixture
def base(make_sandbox: Factory) -> str:
    return make_sandbox().base_url


def create(base: str, **overrides: Any) -> requests.Response:
    response = requests.post(base + RUNS, json=run_body(**overrides))
    assert response.status_code == 201, response.text
    return response


def envelope(response: requests.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert {"date", "request-id", "client-request-id"} <= set(error["innerError"])
    return error


def test_every_run_carries_an_etag_on_both_surfaces(base: str) -> None:
    created = create(base)
    run = created.json()
    tag = run["@odata.etag"]
    assert tag.startswith('W/"') and tag.endswith('"')
    assert created.headers["ETag"] == tag
    assert list(run)[:3] == ["@odata.context", "@odata.type", "@odata.etag"]
    item = requests.get(f"{base}{RUNS}/{run['id']}")
    assert item.headers["ETag"] == tag and item.json()["@odata.etag"] == tag
    published = requests.get(f"{base}{PUBLISHED}/{run['id']}")
    assert published.headers["ETag"] == tag and published.json()["@odata.etag"] == tag
    for path in (RUNS, PUBLISHED):
        (listed,) = requests.get(base + path).json()["value"]
        assert listed["@odata.etag"] == tag
    selected = requests.get(f"{base}{PUBLISHED}/{run['id']}?$select=status").json()
    assert selected["@odata.etag"] == tag  # an annotation: $select keeps it


def test_the_etag_changes_with_every_change(base: str) -> None:
    run = create(base).json()
    url = f"{base}{RUNS}/{run['id']}"
    seen = [run["@odata.etag"]]
    for change in ({"statistics": {"people": 1}}, {"statistics": {"people": 1}}, {"status": "failed"}):
        patched = requests.patch(url, json=change)
        assert patched.status_code == 200, patched.text
        assert patched.headers["ETag"] == patched.json()["@odata.etag"]
        seen.append(patched.json()["@odata.etag"])
    assert len(set(seen)) == 4  # even a PATCH that changes nothing is a new version
    assert requests.get(url).headers["ETag"] == seen[-1]


def test_a_start_run_gets_a_new_etag_when_it_settles(make_sandbox: Factory) -> None:
    clock = Clock()
    base = make_sandbox(clock=clock, run_seconds=5).base_url
    assert requests.post(f"{base}{PUBLISHED}/start").status_code == 202
    (running,) = requests.get(base + PUBLISHED).json()["value"]
    clock.now += 5
    settled = requests.get(f"{base}{PUBLISHED}/{running['id']}").json()
    assert settled["status"] == "completed"
    assert settled["@odata.etag"] != running["@odata.etag"]
    seed = requests.get(f"{base}/industryData/incomingFlows/{START_FLOW_ID}/runs/{running['id']}")
    assert seed.headers["ETag"] == settled["@odata.etag"]


def test_a_patch_with_a_stale_if_match_is_412_and_changes_nothing(base: str) -> None:
    run = create(base).json()
    url = f"{base}{RUNS}/{run['id']}"
    first = requests.patch(url, json={"statistics": {"people": 1}}, headers={"If-Match": run["@odata.etag"]})
    assert first.status_code == 200, first.text
    headers = {"If-Match": run["@odata.etag"], "client-request-id": "c-9"}
    stale = requests.patch(url, json={"statistics": {"people": 2}}, headers=headers)
    assert stale.status_code == 412
    error = envelope(stale)
    assert error["code"] == "preconditionFailed"
    assert run["@odata.etag"] in error["message"]
    assert error["innerError"]["client-request-id"] == "c-9"
    assert stale.headers["ETag"] == first.json()["@odata.etag"]
    now = requests.get(url)
    assert now.json()["statistics"] == {"people": 1}
    assert now.headers["ETag"] == first.json()["@odata.etag"]  # not a new version either


@pytest.mark.parametrize(
    "header",
    [
        "{current}",
        "{current_strong}",  # the comparison is weak: W/ or not, the same tag matches
        '"nope", {current}',  # any tag of a list
        "*",
    ],
)
def test_a_matching_if_match_applies_the_patch(base: str, header: str) -> None:
    run = create(base).json()
    url = f"{base}{RUNS}/{run['id']}"
    current = run["@odata.etag"]
    value = header.format(current=current, current_strong=current.removeprefix("W/"))
    patched = requests.patch(url, json={"status": "completed", "endDateTime": "2024-05-01T11:00:00Z"},
                             headers={"If-Match": value})
    assert patched.status_code == 200, patched.text
    assert patched.json()["status"] == "completed"
    assert patched.json()["@odata.etag"] != current


def test_without_if_match_a_patch_is_unconditional(base: str) -> None:
    run = create(base).json()
    url = f"{base}{RUNS}/{run['id']}"
    assert requests.patch(url, json={"statistics": {"people": 1}}).status_code == 200
    assert requests.patch(url, json={"statistics": {"people": 2}}).status_code == 200
    assert requests.get(url).json()["statistics"] == {"people": 2}


@pytest.mark.parametrize("header", ["3", "W/3", '"unterminated', 'W/"1" junk'])
def test_a_malformed_if_match_is_400(base: str, header: str) -> None:
    run = create(base).json()
    url = f"{base}{RUNS}/{run['id']}"
    response = requests.patch(url, json={"statistics": {"people": 9}}, headers={"If-Match": header})
    assert response.status_code == 400
    error = envelope(response)
    assert error["code"] == "BadRequest" and "If-Match" in error["message"]
    assert requests.get(url).json()["statistics"] == {"people": 0}


def test_if_match_on_a_missing_run_is_404(base: str) -> None:
    url = f"{base}{RUNS}/6f1c0d2e-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
    response = requests.patch(url, json={"status": "failed"}, headers={"If-Match": "*"})
    assert response.status_code == 404
    assert envelope(response)["code"] == "itemNotFound"


def test_an_invalid_patch_with_a_current_etag_is_400_and_keeps_the_version(base: str) -> None:
    run = create(base).json()
    url = f"{base}{RUNS}/{run['id']}"
    bad = requests.patch(url, json={"stauts": "failed"}, headers={"If-Match": run["@odata.etag"]})
    assert bad.status_code == 400
    assert requests.get(url).headers["ETag"] == run["@odata.etag"]


def _merge_stat(base: str, run_id: str, key: str) -> int:
    """What `rundctl update --stat KEY=1` does: read, merge, PATCH with If-Match, again on 412."""
    url = f"{base}{RUNS}/{run_id}"
    with requests.Session() as session:
        for attempt in range(1, 200):
            stored = session.get(url).json()
            statistics = {**stored["statistics"], key: 1}
            response = session.patch(url, json={"statistics": statistics},
                                     headers={"If-Match": stored["@odata.etag"]})
            if response.status_code == 200:
                return attempt
            assert response.status_code == 412, response.text
    raise AssertionError("never applied")


def test_concurrent_read_merge_write_loses_no_key(make_sandbox: Factory, tmp_path: Path) -> None:
    """Ten writers through two sandboxes sharing one database file (as two processes would):
    each key lands, because the version check and the write are one SQLite transaction."""
    first = make_sandbox()
    second = make_sandbox()  # its own connection to the same file
    run_id = create(first.base_url, statistics={}).json()["id"]
    barrier = threading.Barrier(10)

    def writer(n: int) -> int:
        barrier.wait()
        return _merge_stat((first, second)[n % 2].base_url, run_id, f"k{n}")

    with ThreadPoolExecutor(max_workers=10) as pool:
        attempts = list(pool.map(writer, range(10)))
    stored = requests.get(f"{first.base_url}{RUNS}/{run_id}").json()
    assert stored["statistics"] == {f"k{n}": 1 for n in range(10)}
    assert stored["@odata.etag"] == 'W/"11"'  # one version per applied PATCH, none lost
    assert sum(attempts) >= 10


def test_a_write_through_another_sandbox_makes_an_etag_stale(make_sandbox: Factory) -> None:
    first, second = make_sandbox(), make_sandbox()
    run = create(first.base_url).json()
    tag = run["@odata.etag"]
    other = requests.patch(f"{second.base_url}{RUNS}/{run['id']}", json={"status": "failed"})
    assert other.status_code == 200
    stale = requests.patch(f"{first.base_url}{RUNS}/{run['id']}", json={"statistics": {"x": 1}},
                           headers={"If-Match": tag})
    assert stale.status_code == 412
    assert requests.get(f"{first.base_url}{RUNS}/{run['id']}").json()["status"] == "failed"


def test_a_database_from_before_etags_is_upgraded(make_sandbox: Factory, tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.executescript(
            """
            CREATE TABLE runs (id TEXT PRIMARY KEY, flow_id TEXT NOT NULL, parent_id TEXT NULL,
                seq INTEGER NOT NULL UNIQUE, start_key TEXT NOT NULL, status TEXT NOT NULL,
                body TEXT NOT NULL, created_at REAL NOT NULL, due_at REAL NULL, outcome TEXT NULL);
            CREATE TABLE flows (id TEXT PRIMARY KEY, first_seen REAL NOT NULL);
            """
        )
        body = ('{"@odata.type":"#microsoft.industryData.run","id":"918d4a8f-599b-4f6a-b409-e892855db534",'
                '"displayName":"Old","startDateTime":"2024-05-01T10:00:00Z","status":"running",'
                '"statistics":{}}')
        connection.execute(
            "INSERT INTO runs VALUES ('918d4a8f-599b-4f6a-b409-e892855db534', ?, NULL, 1,"
            " '2024-05-01T10:00:00.0000000Z', 'running', ?, 0, NULL, NULL)", (FLOW, body))
        connection.execute("INSERT INTO flows VALUES (?, 0)", (FLOW,))
        connection.commit()
    base = make_sandbox(db=str(db)).base_url
    url = f"{base}{RUNS}/918d4a8f-599b-4f6a-b409-e892855db534"
    assert requests.get(url).headers["ETag"] == 'W/"1"'
    patched = requests.patch(url, json={"status": "failed"}, headers={"If-Match": 'W/"1"'})
    assert patched.status_code == 200 and patched.headers["ETag"] == 'W/"2"'
