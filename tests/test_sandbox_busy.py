"""A busy, locked or full database (adversarial #20): 503 + Retry-After when nothing was written.

A 500 tells a client "outcome unknown" (rundctl then reports the create as unknown and a bulk
run journals it for a lookup); that is wrong when SQLite refused before anything was committed.
"""

from __future__ import annotations

import http.client
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from rundctl.sandbox.server import Sandbox, SandboxOptions

FLOW = "0b8e2f3a-51a4-4e0c-9d5f-3a7c1c2b9e10"
RUNS = f"/industryData/incomingFlows/{FLOW}/runs"
Factory = Callable[..., Sandbox]
RUN = {
    "@odata.type": "#microsoft.industryData.run",
    "displayName": "Nightly import",
    "startDateTime": "2024-05-01T10:00:00Z",
    "endDateTime": "2024-05-01T10:30:00Z",
    "status": "completed",
    "statistics": {"people": 120},
}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "sandbox.db"


@pytest.fixture
def sandbox(db: Path) -> Iterator[Sandbox]:
    box = Sandbox(SandboxOptions(port=0, db=str(db), db_busy_timeout=0.05))
    box.start()
    yield box
    box.stop()


def call(sandbox: Sandbox, method: str, path: str, body: object = None) -> tuple[int, Any, Any]:
    split = urlsplit(sandbox.base_url)
    connection = http.client.HTTPConnection(split.hostname or "", split.port, timeout=30)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {} if body is None else {"Content-Type": "application/json"}
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, json.loads(response.read() or b"null")
    finally:
        connection.close()


@pytest.fixture
def writer_lock(db: Path) -> Iterator[sqlite3.Connection]:
    """Another process holds the write lock, as a second sandbox on the same file may."""
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    yield other
    other.rollback()
    other.close()


def assert_unavailable(status: int, headers: Any, body: Any) -> None:
    assert status == 503, body
    assert headers["Retry-After"] == "1"
    assert body["error"]["code"] == "serviceNotAvailable"
    assert "nothing was stored" in body["error"]["message"]


def test_a_create_while_the_database_is_locked_is_503_and_stores_nothing(
    sandbox: Sandbox, writer_lock: sqlite3.Connection
) -> None:
    assert_unavailable(*call(sandbox, "POST", RUNS, RUN))
    status, _, listed = call(sandbox, "GET", RUNS)  # WAL: reads go on
    assert status == 200 and listed["value"] == []
    writer_lock.rollback()
    status, _, created = call(sandbox, "POST", RUNS, RUN)
    assert status == 201, created
    assert [r["id"] for r in call(sandbox, "GET", RUNS)[2]["value"]] == [created["id"]]


def test_a_patch_while_the_database_is_locked_is_503_and_changes_nothing(sandbox: Sandbox, db: Path) -> None:
    status, _, created = call(sandbox, "POST", RUNS, {**RUN, "status": "running", "endDateTime": None})
    assert status == 201
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert_unavailable(*call(sandbox, "PATCH", f"{RUNS}/{created['id']}", {"status": "failed"}))
    finally:
        other.rollback()
        other.close()
    assert call(sandbox, "GET", f"{RUNS}/{created['id']}")[2]["status"] == "running"
    # And the sandbox's own connection was left usable (no transaction left open).
    status, _, patched = call(sandbox, "PATCH", f"{RUNS}/{created['id']}", {"status": "failed"})
    assert status == 200 and patched["status"] == "failed"


def test_start_while_the_database_is_locked_is_503(
    sandbox: Sandbox, writer_lock: sqlite3.Connection
) -> None:
    assert_unavailable(*call(sandbox, "POST", "/external/industryData/runs/start"))


def test_a_full_database_is_503_and_stores_nothing(sandbox: Sandbox) -> None:
    """SQLITE_FULL, simulated with max_page_count on the sandbox's own connection."""
    store = sandbox._store  # no other way to fill a disk deterministically
    assert store is not None
    with store._lock:
        (pages,) = store._db.execute("PRAGMA page_count").fetchone()
        store._db.execute(f"PRAGMA max_page_count = {pages}")
    big = {**RUN, "statistics": {"note": "x" * 200_000}}
    assert_unavailable(*call(sandbox, "POST", RUNS, big))
    assert call(sandbox, "GET", RUNS)[2]["value"] == []
    assert call(sandbox, "POST", RUNS, RUN)[0] in (201, 503)  # still answering, never 500
