"""The "post" kind (any request that is not idempotent, e.g. rundctl api's POST and PATCH) in the
retry table and the client: sent again exactly as rarely as a create, with no expectation about
its answer; bodies that are not JSON come back as bytes when the caller asks for them."""

from __future__ import annotations

import itertools

import pytest
import requests

from rundctl.client import Deadline, GraphClient, NoAuth, json_media_type
from rundctl.errors import ExitCode, OutcomeUnknown, TemporaryFailure
from rundctl.retry import Failure, certainly_not_applied, decide, may_resend
from tests.scripted_server import ScriptedServer, Step

STATUSES = [None, 400, 401, 403, 404, 408, 409, 422, 429, 500, 501, 502, 503, 504, 507]
RETRY_AFTERS = [None, 0.0, 1.0, 59.0, 61.0]
CASES = list(itertools.product([True, False], STATUSES, RETRY_AFTERS, range(1, 7)))


def test_an_uncertain_post_is_never_resent_and_decides_exactly_like_a_create() -> None:
    resent = 0
    for sent, status, retry_after, attempt in CASES:
        failure = Failure(sent=sent, status=status, retry_after=retry_after)
        post = decide("post", attempt, failure, max_retry_wait=60, rand=lambda: 0.5)
        assert post == decide("create", attempt, failure, max_retry_wait=60, rand=lambda: 0.5)
        if post.retry:
            resent += 1
            assert certainly_not_applied(failure), (sent, status, retry_after)
    assert resent > 0


@pytest.mark.parametrize("status", [None, 500, 502, 504, 408])
def test_idempotent_updates_are_retried_where_posts_are_not(status) -> None:
    failure = Failure(sent=True, status=status)
    assert may_resend("update", failure) and may_resend("read", failure)
    assert not may_resend("post", failure)


@pytest.mark.parametrize(("content_type", "json"), [
    (None, True), ("", True), ("application/json", True), ("application/json; charset=utf-8", True),
    ("APPLICATION/JSON", True), ("text/json", True), ("application/problem+json", True),
    ("text/plain; charset=utf-8", False), ("application/xml", False), ("text/html", False),
])
def test_json_media_types(content_type, json) -> None:
    assert json_media_type(content_type) is json


def client(url: str) -> GraphClient:
    return GraphClient(url, session=requests.Session(), auth=NoAuth(), deadline=Deadline(30),
                       sleep=lambda _s: None, rand=lambda: 0.0)


def test_a_post_that_failed_with_500_is_sent_once_and_is_outcome_unknown() -> None:
    with ScriptedServer([Step(500, json={"error": {"code": "generalException"}})]) as server:
        with pytest.raises(OutcomeUnknown) as caught:
            client(server.url).send("POST", server.url + "/x", body={"a": 1}, kind="post")
        assert server.count("POST") == 1
    assert caught.value.exit_code == ExitCode.OUTCOME_UNKNOWN


def test_a_post_answered_429_is_sent_again_and_needs_no_id_in_its_answer() -> None:
    with ScriptedServer([Step(429, headers={"Retry-After": "0"}), Step(200, json={"ok": 1})]) as server:
        resp = client(server.url).send("POST", server.url + "/x", kind="post")
        assert server.count("POST") == 2
    assert resp.status == 200 and resp.body == {"ok": 1}  # a create would be outcome unknown here


def test_a_post_whose_connection_broke_after_sending_is_outcome_unknown() -> None:
    with ScriptedServer([Step(action="close_before_response")]) as server:
        with pytest.raises(OutcomeUnknown):
            client(server.url).send("PATCH", server.url + "/x", body={}, kind="post")
        assert server.count("PATCH") == 1


def test_a_put_is_retried_after_a_500_like_an_update() -> None:
    with ScriptedServer([Step(500), Step(200, json={"ok": True})]) as server:
        resp = client(server.url).send("PUT", server.url + "/x", body={}, kind="update")
        assert server.count("PUT") == 2
    assert resp.body == {"ok": True}


def test_a_read_that_keeps_failing_is_temporary_not_unknown() -> None:
    with ScriptedServer([Step(503)] * 5) as server:
        with pytest.raises(TemporaryFailure):
            client(server.url).send("GET", server.url + "/x", kind="read")
        assert server.count("GET") == 5


def test_a_text_body_comes_back_as_bytes_only_when_asked() -> None:
    text = Step(200, body=b"<edmx/>", headers={"Content-Type": "application/xml"})
    with ScriptedServer([text, text]) as server:
        resp = client(server.url).send("GET", server.url + "/$metadata", json_only=False)
        assert resp.body == b"<edmx/>"
        from rundctl.errors import BadResponse

        with pytest.raises(BadResponse):  # the other commands still read JSON only
            client(server.url).send("GET", server.url + "/$metadata")


def test_a_json_body_is_parsed_even_when_text_is_allowed() -> None:
    with ScriptedServer([Step(200, json={"value": [1]})]) as server:
        assert client(server.url).send("GET", server.url + "/x", json_only=False).body == {"value": [1]}
