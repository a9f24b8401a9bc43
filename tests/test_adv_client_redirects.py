"""A redirect answer after the request was sent (adversarial #7).

Anything received after a create was sent is "outcome unknown" unless the answer proves the
request was not applied: a 3xx to a POST (e.g. 303 See Other after applying it) is exit 9 and
the caller reconciles by lookup; it is never re-sent and never a certain failure. Reads keep
refusing redirects (exit 10). Nothing follows the Location.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from rundctl import errors
from rundctl.client import Deadline, GraphClient, NoAuth
from rundctl.errors import ExitCode
from rundctl.retry import Failure, decide, outcome
from tests.scripted_server import ScriptedServer, Step

FLOW = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
RUNS = f"/industryData/incomingFlows/{FLOW}/runs"
RUN = {"displayName": "Nightly", "startDateTime": "2026-11-01T10:00:00Z", "status": "completed",
       "statistics": {}}
# OutcomeUnknown is what makes the caller (runs.create_run, bulk) reconcile by lookup instead
# of recording "failed" and re-sending; these tests stop at the client.
REDIRECTS = [300, 301, 302, 303, 304, 305, 307, 308, 399]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def client_for(server: ScriptedServer) -> GraphClient:
    return GraphClient(server.url, session=requests.Session(), auth=NoAuth(),
                       deadline=Deadline(30), sleep=lambda _s: None, rand=lambda: 0.0)


@pytest.mark.parametrize("status", REDIRECTS)
def test_a_redirect_to_a_create_is_outcome_unknown_not_a_failure(server, status) -> None:
    with ScriptedServer() as other:
        server.queue(Step(status, headers={"Location": other.url + RUNS + "/x"}, json={"id": "x"}))
        with pytest.raises(errors.OutcomeUnknown) as info:
            client_for(server).send("POST", server.url + RUNS, body=RUN, kind="create")
        assert info.value.exit_code == ExitCode.OUTCOME_UNKNOWN
        assert "client-request-id" in (info.value.hint or "")
        assert other.requests == []  # the Location was not followed
    assert server.count("POST") == 1  # and the POST was not re-sent


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_an_update_is_outcome_unknown(server, status) -> None:
    server.queue(Step(status, headers={"Location": "/x"}))
    with pytest.raises(errors.OutcomeUnknown):
        client_for(server).send("PATCH", server.url + RUNS + "/x", body={"status": "failed"},
                                kind="update")
    assert server.count("PATCH") == 1


@pytest.mark.parametrize("status", REDIRECTS)
def test_a_redirect_to_a_read_is_still_refused(server, status) -> None:
    with ScriptedServer() as other:
        server.queue(Step(status, headers={"Location": other.url + RUNS}))
        with pytest.raises(errors.SecurityRefused) as info:
            client_for(server).send("GET", server.url + RUNS)
        assert info.value.exit_code == ExitCode.SECURITY
        assert other.requests == []
    assert server.count("GET") == 1


STATUSES = [None, 100, 103, 200, 201, 204, 300, 301, 302, 303, 304, 307, 308, 400, 401, 403,
            404, 405, 408, 409, 412, 422, 429, 500, 501, 502, 503, 504, 599, 600]


@pytest.mark.parametrize("retry_after", [None, 0.0, 5.0])
@pytest.mark.parametrize("status", STATUSES)
def test_after_sending_only_proof_makes_a_create_certain(status, retry_after) -> None:
    """The decision table: once sent, a create's failure is 'unknown' unless the status
    proves it: 'not applied' (429, 503 + Retry-After) or 'refused' (a 4xx other than 408)."""
    failure = Failure(sent=True, status=status, retry_after=retry_after)
    got = outcome(failure)
    if status == 429 or (status == 503 and retry_after is not None):
        assert got == "not_applied"
    elif status is not None and 400 <= status < 500 and status != 408:
        assert got == "refused"
    else:
        assert got == "unknown"
    decision = decide("create", 1, failure, max_retry_wait=60, rand=lambda: 0.0)
    assert decision.retry == (got == "not_applied")
    assert outcome(Failure(sent=False, status=status)) == "not_applied"
