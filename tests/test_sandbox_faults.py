"""Sandbox faults (docs/sandbox.md), deterministic by seed, with an injected clock and sleep."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from rundctl.sandbox.faults import FaultInjector, parse_codes, parse_latency, parse_rate_limit
from rundctl.sandbox.server import Sandbox, SandboxOptions

FLOW = "0b8e2f3a-51a4-4e0c-9d5f-3a7c1c2b9e10"
RUNS = f"/industryData/incomingFlows/{FLOW}/runs"
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Sleeper:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


def run_body(name: str = "Nightly import") -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.industryData.run",
        "displayName": name,
        "startDateTime": "2024-05-01T10:00:00Z",
        "endDateTime": "2024-05-01T10:30:00Z",
        "status": "completed",
        "statistics": {"people": 120},
    }


Factory = Callable[..., Sandbox]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "sandbox.db")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_sandbox(db: str, clock: Clock) -> Iterator[Factory]:
    started: list[Sandbox] = []

    def make(**options: Any) -> Sandbox:
        options.setdefault("port", 0)
        options.setdefault("db", db)
        options.setdefault("clock", clock)
        options.setdefault("sleep", Sleeper())
        sandbox = Sandbox(SandboxOptions(**options))
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def clean(make_sandbox: Factory) -> Sandbox:
    """A fault-free sandbox on the same database, to see what was really stored."""
    return make_sandbox()


def stored_runs(clean: Sandbox) -> list[dict[str, Any]]:
    response = requests.get(f"{clean.base_url}{RUNS}?$top=100", timeout=5)
    assert response.status_code == 200, response.text
    return list(response.json()["value"])


# -- parsers for the CLI ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10/1s", (10, 1.0)), ("100/60", (100, 60.0)), ("5/1m", (5, 60.0)), ("5/m", (5, 60.0)),
     ("3/500ms", (3, 0.5)), (" 2 / 1h ", (2, 3600.0)), ("1/2.5s", (1, 2.5))],
)
def test_parse_rate_limit(text: str, expected: tuple[int, float]) -> None:
    assert parse_rate_limit(text) == expected


@pytest.mark.parametrize("text", ["", "10", "0/1s", "-1/1s", "x/1s", "10/", "10/0s", "10/1d", "10/s1"])
def test_parse_rate_limit_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        parse_rate_limit(text)


def test_parse_latency() -> None:
    assert parse_latency("200") == (200, 200)
    assert parse_latency("100-300") == (100, 300)
    assert parse_latency("0-5ms") == (0, 5)
    for bad in ("", "-5", "300-100", "1-2-3", "fast", "1.5"):
        with pytest.raises(ValueError, match="latency"):
            parse_latency(bad)


def test_parse_codes() -> None:
    assert parse_codes("429,500,503") == (429, 500, 503)
    assert parse_codes(" 503 , 503,502") == (503, 502)
    for bad in ("", "429,", "200", "abc", "600", "429;500"):
        with pytest.raises(ValueError, match="fail codes"):
            parse_codes(bad)


@pytest.mark.parametrize(
    "options",
    [{"fail_rate": 1.5}, {"fail_rate": -0.1}, {"fail_rate": 0.5, "fail_codes": ()},
     {"fail_codes": (200,)}, {"retry_after": -1.0}, {"latency_ms": (300, 100)},
     {"rate_limit": (0, 1.0)}, {"rate_limit": (5, 0.0)}],
)
def test_out_of_range_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Sandbox(SandboxOptions(port=0, **options))


# -- fail_rate --------------------------------------------------------------------------------


def test_fail_rate_one_with_503_answers_every_request_and_stores_nothing(
    make_sandbox: Factory, clean: Sandbox
) -> None:
    faulty = make_sandbox(seed=1, fail_rate=1.0, fail_codes=(503,), retry_after=2.0)
    response = requests.post(
        faulty.base_url + RUNS, json=run_body(), headers={"client-request-id": "c-1"}, timeout=5
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.headers["retry-after-ms"] == "2000"
    error = response.json()["error"]
    assert error["code"] == "serviceNotAvailable"
    assert error["innerError"]["client-request-id"] == "c-1"
    assert response.headers["client-request-id"] == "c-1"
    assert stored_runs(clean) == []


def test_429_is_throttling_in_graph_terms_and_500_carries_no_retry_after(make_sandbox: Factory) -> None:
    throttled = make_sandbox(seed=1, fail_rate=1.0, fail_codes=(429,), retry_after=0.25)
    response = requests.get(throttled.base_url + RUNS, timeout=5)
    assert response.status_code == 429
    error = response.json()["error"]
    # The shape of Graph's own throttling answer (learn.microsoft.com/graph/throttling).
    assert (error["code"], error["message"]) == ("TooManyRequests", "Please retry again later.")
    inner = error["innerError"]
    assert (inner["code"], inner["message"], inner["status"]) == ("429", "Please retry after", "429")
    assert {"date", "request-id", "client-request-id"} <= set(inner)
    assert (response.headers["Retry-After"], response.headers["retry-after-ms"]) == ("1", "250")

    broken = make_sandbox(seed=1, fail_rate=1.0, fail_codes=(500,), retry_after=3.0)
    response = requests.get(broken.base_url + RUNS, timeout=5)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "generalException"
    assert "Retry-After" not in response.headers


def test_same_seed_same_sequence_of_statuses(make_sandbox: Factory) -> None:
    def statuses(seed: int) -> list[int]:
        sandbox = make_sandbox(seed=seed, fail_rate=0.4, fail_codes=(429, 500, 503))
        with requests.Session() as session:
            return [session.get(sandbox.base_url + RUNS, timeout=5).status_code for _ in range(50)]

    first = statuses(7)
    assert first == statuses(7)
    assert first != statuses(8)
    assert {429, 500, 503} <= set(first) and 200 in first
    assert 5 < sum(s != 200 for s in first) < 40


def test_the_injector_alone_is_deterministic() -> None:
    def kinds(seed: int) -> list[tuple[str, int] | None]:
        injector = FaultInjector(seed=seed, fail_rate=0.5, fault_after_commit=True, clock=Clock())
        decisions = [injector.decide(m, "c") for m in ["POST", "GET", "PATCH"] * 30]
        return [(d.fault.kind, d.fault.status) if d.fault else None for d in decisions]

    assert kinds(3) == kinds(3)
    seen = {k[0] for k in kinds(3) if k}
    assert seen == {"fail-rate", "after-commit-500", "after-commit-drop"}


# -- fault_after_commit -----------------------------------------------------------------------


def test_fault_after_commit_stores_the_run_though_the_client_never_learns(
    make_sandbox: Factory, clean: Sandbox
) -> None:
    faulty = make_sandbox(seed=5, fail_rate=1.0, fail_codes=(500, 503), fault_after_commit=True)
    outcomes: list[str] = []
    with requests.Session() as session:
        for n in range(8):
            try:
                response = session.post(faulty.base_url + RUNS, json=run_body(f"run {n}"), timeout=5)
            except requests.ConnectionError:
                outcomes.append("dropped")
            else:
                assert response.status_code == 500
                assert response.json()["error"]["code"] == "generalException"
                outcomes.append("500")
    assert {"dropped", "500"} <= set(outcomes)  # the rng alternates between the two
    names = sorted(run["displayName"] for run in stored_runs(clean))
    assert names == [f"run {n}" for n in range(8)]  # every one of them was committed


def test_fault_after_commit_applies_a_patch(make_sandbox: Factory, clean: Sandbox) -> None:
    created = requests.post(clean.base_url + RUNS, json=run_body(), timeout=5).json()
    faulty = make_sandbox(seed=2, fail_rate=1.0, fail_codes=(500,), fault_after_commit=True)
    try:
        response = requests.patch(
            f"{faulty.base_url}{RUNS}/{created['id']}", json={"displayName": "renamed"}, timeout=5
        )
    except requests.ConnectionError:
        pass
    else:
        assert response.status_code == 500
    [run] = stored_runs(clean)
    assert run["displayName"] == "renamed"


def test_fault_after_commit_keeps_429_before_commit(make_sandbox: Factory, clean: Sandbox) -> None:
    faulty = make_sandbox(seed=1, fail_rate=1.0, fail_codes=(429,), fault_after_commit=True)
    response = requests.post(faulty.base_url + RUNS, json=run_body(), timeout=5)
    assert response.status_code == 429
    assert stored_runs(clean) == []


def test_fault_after_commit_does_not_touch_reads(make_sandbox: Factory) -> None:
    faulty = make_sandbox(seed=1, fail_rate=1.0, fail_codes=(500,), fault_after_commit=True)
    for _ in range(5):
        assert requests.get(faulty.base_url + RUNS, timeout=5).status_code == 500


# -- latency ----------------------------------------------------------------------------------


def test_latency_is_drawn_per_request_and_slept_through_the_injected_sleep(
    make_sandbox: Factory,
) -> None:
    def slept(seed: int) -> list[float]:
        sleeper = Sleeper()
        sandbox = make_sandbox(seed=seed, latency_ms=(100, 300), sleep=sleeper)
        with requests.Session() as session:
            for _ in range(10):
                assert session.get(sandbox.base_url + RUNS, timeout=5).status_code == 200
        return sleeper.slept

    first = slept(11)
    assert len(first) == 10
    assert all(0.1 <= s <= 0.3 for s in first)
    assert len(set(first)) > 1
    assert first == slept(11)


# -- rate limit -------------------------------------------------------------------------------


def test_rate_limit_headers_then_429_until_the_window_resets(
    make_sandbox: Factory, clock: Clock
) -> None:
    sandbox = make_sandbox(rate_limit=(3, 10.0))
    url = sandbox.base_url + RUNS
    with requests.Session() as session:
        answers = [session.get(url, timeout=5) for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 200]
        assert [r.headers["RateLimit-Limit"] for r in answers] == ["3", "3", "3"]
        assert [r.headers["RateLimit-Remaining"] for r in answers] == ["2", "1", "0"]
        assert [r.headers["RateLimit-Reset"] for r in answers] == ["10", "10", "10"]

        clock.now += 3.5
        over = session.get(url, timeout=5)
        assert over.status_code == 429
        assert over.headers["Retry-After"] == "7"  # ceil(10 - 3.5)
        assert over.headers["RateLimit-Remaining"] == "0"
        assert over.json()["error"]["code"] == "TooManyRequests"

        clock.now += 6.5  # the window has passed
        again = session.get(url, timeout=5)
        assert again.status_code == 200
        assert again.headers["RateLimit-Remaining"] == "2"
        assert again.headers["RateLimit-Reset"] == "10"


def test_rate_limited_creates_are_not_stored(make_sandbox: Factory, clean: Sandbox) -> None:
    sandbox = make_sandbox(rate_limit=(1, 60.0))
    assert requests.post(sandbox.base_url + RUNS, json=run_body("a"), timeout=5).status_code == 201
    assert requests.post(sandbox.base_url + RUNS, json=run_body("b"), timeout=5).status_code == 429
    assert [r["displayName"] for r in stored_runs(clean)] == ["a"]


# -- retry_after_strict -----------------------------------------------------------------------


def test_retry_after_strict_throttles_a_client_that_comes_back_early(
    make_sandbox: Factory, clock: Clock
) -> None:
    log = io.StringIO()
    sandbox = make_sandbox(
        seed=1, fail_rate=1.0, fail_codes=(429,), retry_after=5.0, retry_after_strict=True, log=log
    )
    url = sandbox.base_url + RUNS

    def get(crid: str | None) -> requests.Response:
        headers = {"client-request-id": crid} if crid else {}
        return requests.get(url, headers=headers, timeout=5)

    def last_fault() -> str:
        return log.getvalue().splitlines()[-1].rpartition("fault=")[2]

    first = get("A")
    assert (first.status_code, first.headers["Retry-After"], last_fault()) == (429, "5", "fail-rate")

    clock.now += 2
    early = get("A")
    assert (early.status_code, early.headers["Retry-After"], last_fault()) == (
        429, "3", "retry-after-strict",
    )
    assert early.headers["retry-after-ms"] == "3000"

    other = get("B")  # another client is not held to A's Retry-After
    assert last_fault() == "fail-rate"
    assert other.headers["Retry-After"] == "5"

    clock.now += 3  # A waited as told
    get("A")
    assert last_fault() == "fail-rate"

    get(None)  # without a client-request-id the client is its address
    clock.now += 1
    get(None)
    assert last_fault() == "retry-after-strict"


def test_retry_after_strict_extends_a_rate_limit_to_early_returners(
    make_sandbox: Factory, clock: Clock
) -> None:
    sandbox = make_sandbox(rate_limit=(1, 10.0), retry_after_strict=True)
    url = sandbox.base_url + RUNS
    assert requests.get(url, headers={"client-request-id": "A"}, timeout=5).status_code == 200
    limited = requests.get(url, headers={"client-request-id": "A"}, timeout=5)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "10")
    clock.now += 10  # a new window; A waited long enough
    assert requests.get(url, headers={"client-request-id": "A"}, timeout=5).status_code == 200


# -- logging ----------------------------------------------------------------------------------


LINE = re.compile(
    r"(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?P<method>[A-Z]+) (?P<target>\S+) "
    r"(?P<status>\d{3}|-) (?P<ms>\d+\.\d)ms crid=(?P<crid>\S+)(?: fault=(?P<fault>[a-z0-9-]+))?"
)


def test_every_request_is_logged_in_one_line_with_its_fault(make_sandbox: Factory) -> None:
    log = io.StringIO()
    sandbox = make_sandbox(seed=5, fail_rate=1.0, fail_codes=(500,), fault_after_commit=True, log=log)
    plain = make_sandbox(log=log)
    requests.get(f"{plain.base_url}{RUNS}?$top=1", headers={"client-request-id": "abc-1"}, timeout=5)
    requests.get(f"{plain.base_url}/nope", timeout=5)
    requests.get(sandbox.base_url + RUNS, headers={"client-request-id": "r 2"}, timeout=5)
    for _ in range(4):
        try:
            requests.post(sandbox.base_url + RUNS, json=run_body(), timeout=5)
        except requests.ConnectionError:
            pass
    lines = log.getvalue().splitlines()
    assert len(lines) == 7
    parsed = [LINE.fullmatch(line) for line in lines]
    assert all(parsed), lines
    first, nope, faulted = (m.groupdict() for m in parsed[:3] if m)
    assert first["time"] == "2023-11-14T22:13:20.000Z"  # from the injected clock
    assert (first["method"], first["target"], first["status"]) == ("GET", f"{RUNS}?$top=1", "200")
    assert (first["crid"], first["fault"]) == ("abc-1", None)
    assert (nope["target"], nope["status"], nope["crid"]) == ("/nope", "400", "-")
    assert (faulted["status"], faulted["crid"], faulted["fault"]) == ("500", "r%202", "fail-rate")
    posts = [m.groupdict() for m in parsed[3:] if m]
    assert {(p["status"], p["fault"]) for p in posts} == {
        ("500", "after-commit-500"), ("-", "after-commit-drop"),
    }


def test_no_fault_options_no_fault_headers(make_sandbox: Factory) -> None:
    sandbox = make_sandbox()
    response = requests.get(sandbox.base_url + RUNS, timeout=5)
    assert response.status_code == 200
    assert not any(name.lower().startswith("ratelimit") for name in response.headers)
