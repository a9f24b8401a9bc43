"""`rundctl api` in-process: the command against a scripted server and the sandbox, with the
fake clock (retries run instantly). What only a real process shows is in test_e2e_api.py."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import invoke
from tests.scripted_server import ScriptedServer, Step
from tests.test_inproc_support import local_sandbox

RUNS = "/external/industryData/runs"
CANARY = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJjYW5hcnkifQ.canary-SIGNATURE-0123456789"
NOT_FOUND = {"error": {"code": "itemNotFound", "message": "Run 'x' was not found.",
                       "innerError": {"request-id": "req-404"}}}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def api(server: ScriptedServer | str, *args: str, **kw: object):
    url = server if isinstance(server, str) else server.url
    return invoke(["api", *args, "--endpoint", url], **kw)  # type: ignore[arg-type]


# -- output ----------------------------------------------------------------------------------


def test_get_prints_the_body_indented_and_ndjson_prints_one_line() -> None:
    with local_sandbox() as url:
        pretty = api(url, RUNS)
        compact = api(url, RUNS.lstrip("/"), "-o", "ndjson")
        none = api(url, RUNS, "-o", "none")
    assert pretty.exit_code == 0, pretty.stderr
    doc = json.loads(pretty.stdout)
    assert doc["value"] == [] and doc["@odata.context"].endswith("#external/industryData/runs")
    assert pretty.stdout.startswith("{\n  ")
    assert compact.stdout.count("\n") == 1 and json.loads(compact.stdout) == doc
    assert none.exit_code == 0 and none.stdout == ""


def test_the_output_setting_of_run_lists_does_not_apply(server) -> None:
    server.queue(Step(200, json={"value": [{"id": "a"}]}))
    res = api(server, RUNS, env={"RUNDCTL_OUTPUT": "tsv"})
    assert res.exit_code == 0 and json.loads(res.stdout) == {"value": [{"id": "a"}]}
    bad = api(server, RUNS, "-o", "table")
    assert bad.exit_code == 2 and "is not one of json, ndjson, none" in bad.stderr


def test_an_empty_answer_prints_nothing(server) -> None:
    server.queue(Step(204, body=b""))
    res = api(server, "DELETE", "/external/industryData/dataConnectors/1")
    assert res.exit_code == 0 and res.stdout == ""


def test_a_text_answer_is_written_as_it_came_and_made_safe_on_a_terminal(server) -> None:
    text = Step(200, body=b"250", headers={"Content-Type": "text/plain"})
    evil = Step(200, body=b"<x>\x1b]0;pwned\x07</x>\n", headers={"Content-Type": "application/xml"})
    server.queue(text, evil, evil)
    assert api(server, f"{RUNS}/$count").stdout == "250"
    assert api(server, "/$metadata").stdout == "<x>\x1b]0;pwned\x07</x>\n"  # piped: exact
    shown = api(server, "/$metadata", tty=True).stdout
    assert "\x1b" not in shown and "\\x1b]0;pwned\\x07" in shown


def test_query_on_a_text_answer_is_exit_11_and_binary_is_refused(server) -> None:
    server.queue(Step(200, body=b"250", headers={"Content-Type": "text/plain"}),
                 Step(200, body=b"\xff\xd8\xff", headers={"Content-Type": "image/jpeg"}))
    res = api(server, f"{RUNS}/$count", "--query", "@")
    assert res.exit_code == 11 and "is text/plain, not JSON, so --query cannot apply" in res.stderr
    binary = api(server, "/photo/$value")
    assert binary.exit_code == 11 and "binary" in binary.stderr and binary.stdout == ""


def test_query_applies_to_the_body(server) -> None:
    server.queue(Step(200, json={"value": [{"id": "a", "n": 1}, {"id": "b", "n": 2}]}))
    res = api(server, RUNS, "--query", "value[?n > `1`].id", "-o", "ndjson")
    assert res.exit_code == 0 and res.stdout == '["b"]\n'


def test_an_invalid_query_is_exit_2_before_anything_is_sent(server) -> None:
    res = api(server, "-X", "POST", f"{RUNS}/microsoft.graph.industryData.start", "--query",
              "value[")
    assert res.exit_code == 2
    assert "--query: invalid JMESPath expression: the expression is incomplete at column 6" in res.stderr
    assert server.requests == []


def test_a_query_that_fails_on_the_answer_of_a_post_says_the_post_succeeded(server) -> None:
    server.queue(Step(200, json={"value": ["x", "y"]}))
    res = api(server, "POST", "/external/industryData/x", "-f", "a=1", "--query", "sum(value)")
    assert res.exit_code == 2
    assert "hint: the POST itself succeeded (HTTP 200); do not send it again" in res.stderr
    assert server.count("POST") == 1


# -- requests --------------------------------------------------------------------------------


def test_fields_build_a_json_body_and_headers_are_sent(server) -> None:
    server.queue(Step(201, json={"id": "new"}))
    res = api(server, "/external/industryData/years", "-f", "displayName=2026", "-F", "n=3",
              "-F", "on=true", "-f", "@odata.type=#microsoft.graph.industryData.yearTimePeriodDefinition",
              "-F", "period[start]=\"2026-08-01\"", "-H", "ConsistencyLevel: eventual")
    assert res.exit_code == 0, res.stderr
    sent = server.requests[0]
    assert sent.method == "POST" and sent.path == "/external/industryData/years"
    assert sent.json() == {"displayName": "2026", "n": 3, "on": True,
                           "@odata.type": "#microsoft.graph.industryData.yearTimePeriodDefinition",
                           "period": {"start": "2026-08-01"}}
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["ConsistencyLevel"] == "eventual"
    assert sent.headers["User-Agent"].startswith("rundctl/")
    assert json.loads(res.stdout) == {"id": "new"}


def test_input_sends_the_document_as_given(server, tmp_path) -> None:
    doc = tmp_path / "c.json"
    doc.write_bytes(b'{"displayName":  "SIS", "n": 1.0}')
    server.queue(Step(200, json={"ok": True}), Step(200, json={"ok": True}))
    assert api(server, "PATCH", "/external/industryData/dataConnectors/1", "--input",
               str(doc)).exit_code == 0
    assert api(server, "PUT", "/x", "--input", "-", stdin=b"[1,2]").exit_code == 0
    assert [r.body for r in server.requests] == [b'{"displayName":  "SIS", "n": 1.0}', b"[1,2]"]
    assert [r.method for r in server.requests] == ["PATCH", "PUT"]


def test_get_with_fields_sends_them_as_the_query(server) -> None:
    server.queue(Step(200, json={"value": []}))
    res = api(server, "GET", f"{RUNS}?$count=true", "-f", "$filter=status eq 'failed'",
              "-f", "$top=5")
    assert res.exit_code == 0, res.stderr
    assert server.requests[0].query == {"$count": "true", "$filter": "status eq 'failed'",
                                        "$top": "5"}
    assert server.requests[0].body == b""


def test_head_prints_no_body(server) -> None:
    server.queue(Step(200, body=b"", headers={"ETag": 'W/"1"'}))
    res = api(server, "HEAD", RUNS, "-i")
    assert res.exit_code == 0 and res.stdout.startswith("HTTP 200 OK\n")
    assert 'ETag: W/"1"' in res.stdout and server.requests[0].method == "HEAD"


def test_a_same_origin_full_url_is_allowed(server) -> None:
    server.queue(Step(200, json={"value": []}))
    assert api(server, f"{server.url}/v1.0/external/industryData/runs").exit_code == 0
    assert server.requests[0].path == "/v1.0/external/industryData/runs"


# -- retries (RFC 9110: safe, idempotent, neither) --------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_post_and_patch_are_never_sent_again_after_a_500(server, method) -> None:
    server.queue(Step(500, json={"error": {"code": "generalException", "message": "boom"}}))
    res = api(server, method, "/external/industryData/x", "-f", "a=1")
    assert res.exit_code == 9, res.stderr
    assert server.count(method) == 1 and len(server.requests) == 1  # and no lookup either
    assert "outcome unknown" in res.stderr
    assert "check what the service holds before sending it again" in res.stderr
    assert res.stdout == ""


def test_a_post_is_sent_again_when_certainly_not_applied(server) -> None:
    server.queue(Step(429, headers={"Retry-After": "1"}),
                 Step(503, headers={"Retry-After": "2"}), Step(202, body=b""))
    res = api(server, "-X", "POST", f"{RUNS}/microsoft.graph.industryData.start")
    assert res.exit_code == 0, res.stderr
    assert server.count("POST") == 3


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_put_and_delete_are_retried_like_updates(server, method) -> None:
    server.queue(Step(500), Step(502), Step(204, body=b""))
    res = api(server, method, "/x")
    assert res.exit_code == 0, res.stderr
    assert server.count(method) == 3


def test_get_is_retried_and_then_exit_8(server) -> None:
    server.queue(*[Step(503)] * 5)
    res = api(server, RUNS)
    assert res.exit_code == 8 and server.count("GET") == 5


def test_a_put_that_keeps_failing_is_outcome_unknown(server) -> None:
    server.queue(*[Step(500)] * 5)
    res = api(server, "PUT", "/x", "--input", "-", stdin=b"{}")
    assert res.exit_code == 9 and server.count("PUT") == 5


@pytest.mark.parametrize(("method", "code"), [("GET", 10), ("POST", 9)])
def test_redirects_are_never_followed(server, method, code) -> None:
    with ScriptedServer() as other:
        server.queue(Step.redirect_to(other.url + "/x"))
        res = api(server, method, "/x")
        assert res.exit_code == code
        assert other.requests == []


# -- errors ------------------------------------------------------------------------------------


def test_a_404_is_exit_6_with_graphs_error_code(server) -> None:
    server.queue(Step(404, json=NOT_FOUND))
    res = api(server, f"{RUNS}/x")
    assert res.exit_code == 6
    assert res.stderr.startswith("rundctl: error: not found: Run 'x' was not found.\n")
    assert "HTTP 404; code: itemNotFound; request-id: req-404" in res.stderr
    assert "hint: check the path: it is relative to the endpoint" in res.stderr


@pytest.mark.parametrize(("status", "code"), [(400, 7), (401, 4), (403, 5), (409, 7), (412, 7)])
def test_other_statuses_map_to_the_usual_exit_codes(server, status, code) -> None:
    server.queue(Step(status, json={"error": {"code": "x", "message": "no"}}))
    res = api(server, "/x")
    assert res.exit_code == code


def test_a_403_hint_does_not_invent_a_permission(server) -> None:
    server.queue(Step(403, json={"error": {"code": "accessDenied", "message": "no"}}))
    res = api(server, "DELETE", "/external/industryData/dataConnectors/1")
    assert res.exit_code == 5
    assert "this call needs the permission Microsoft's API reference names for it" in res.stderr


def test_errors_can_be_json(server) -> None:
    server.queue(Step(404, json=NOT_FOUND))
    res = api(server, "/x", env={"RUNDCTL_ERROR_FORMAT": "json"})
    assert res.exit_code == 6
    error = json.loads(res.stderr.splitlines()[0])["error"]
    assert error["exit"] == 6 and error.get("code") == "itemNotFound"


# -- paging --------------------------------------------------------------------------------------


def pages(server: ScriptedServer, count: int, *, last: dict[str, object] | None = None) -> None:
    for i in range(count):
        page: dict[str, object] = {"@odata.context": "ctx", "value": [{"id": f"{i}-a"}, {"id": f"{i}-b"}]}
        if i + 1 < count:
            page["@odata.nextLink"] = f"{server.url}{RUNS}?$skiptoken={i + 1}"
        elif last:
            page.update(last)
        server.queue(Step(200, json=page))


def test_paginate_merges_every_page_into_one_document(server) -> None:
    pages(server, 3, last={"@odata.deltaLink": "delta"})
    res = api(server, RUNS, "--paginate", "-H", "ConsistencyLevel: eventual", "-i")
    assert res.exit_code == 0, res.stderr
    heads, _, body = res.stdout.rpartition("\n\n")
    assert heads.count("HTTP 200 OK") == 3
    assert json.loads(body) == {"@odata.context": "ctx", "value": [
        {"id": "0-a"}, {"id": "0-b"}, {"id": "1-a"}, {"id": "1-b"}, {"id": "2-a"}, {"id": "2-b"}],
        "@odata.deltaLink": "delta"}
    assert [r.query.get("$skiptoken") for r in server.requests] == [None, "1", "2"]
    assert all(r.headers["ConsistencyLevel"] == "eventual" for r in server.requests)


def test_paginate_with_a_query_works_on_the_merged_document(server) -> None:
    pages(server, 2)
    res = api(server, RUNS, "--paginate", "--query", "value[].id", "-o", "ndjson")
    assert res.stdout == '["0-a","0-b","1-a","1-b"]\n'


def test_without_paginate_the_first_page_is_printed_as_sent(server) -> None:
    pages(server, 2)
    res = api(server, RUNS)
    doc = json.loads(res.stdout)
    assert doc["@odata.nextLink"].endswith("$skiptoken=1") and len(doc["value"]) == 2
    assert len(server.requests) == 1


def test_paginate_on_something_that_is_not_a_collection_prints_it(server) -> None:
    server.queue(Step(200, json={"id": "r1", "@odata.nextLink": "ignored"}))
    res = api(server, f"{RUNS}/r1", "--paginate")
    assert res.exit_code == 0 and json.loads(res.stdout)["id"] == "r1"


def test_a_next_link_to_another_host_is_refused(server) -> None:
    with ScriptedServer() as other:
        server.queue(Step(200, json={"value": [], "@odata.nextLink": other.url + RUNS}))
        res = api(server, RUNS, "--paginate", env={"RUNDCTL_TOKEN": CANARY})
        assert res.exit_code == 10
        assert other.requests == [] and res.stdout == ""


def test_a_page_loop_and_a_broken_page_are_exit_11(server) -> None:
    loop = {"value": [], "@odata.nextLink": f"{server.url}{RUNS}?$skiptoken=1"}
    server.queue(Step(200, json=loop), Step(200, json=loop))
    looped = api(server, RUNS, "--paginate")
    assert looped.exit_code == 11 and "a page loop" in looped.stderr
    assert len(server.requests) == 2
    server.queue(Step(200, json=loop), Step(200, json={"oops": 1}))
    res = api(server, RUNS, "--paginate")
    assert res.exit_code == 11 and "page 2 is not a JSON object with a 'value' list" in res.stderr


# -- secrets and hosts --------------------------------------------------------------------------


def test_include_shows_status_and_headers_but_never_a_token(server) -> None:
    server.queue(Step(200, json={"value": []}, headers={
        "request-id": "req-1", "X-Echo": f"Bearer {CANARY}", "Set-Cookie": "session=s3cr3t",
        "X-Evil": "\x1b[31mred"}))
    res = api(server, RUNS, "-i", "--auth", "token", env={"RUNDCTL_TOKEN": CANARY})
    assert res.exit_code == 0, res.stderr
    head, _, body = res.stdout.partition("\n\n")
    lines = head.splitlines()
    assert lines[0] == "HTTP 200 OK"
    assert "request-id: req-1" in lines and "Set-Cookie: ***" in lines
    assert "X-Echo: Bearer ***" in lines
    assert "X-Evil: \\x1b[31mred" in lines
    assert CANARY not in res.stdout + res.stderr and "s3cr3t" not in res.stdout
    assert json.loads(body) == {"value": []}
    assert server.requests[0].headers["Authorization"] == f"Bearer {CANARY}"


def test_without_include_stdout_is_only_the_body(server) -> None:
    server.queue(Step(200, json={"value": []}, headers={"request-id": "req-1"}))
    assert json.loads(api(server, RUNS).stdout) == {"value": []}


def test_debug_redacts_the_authorization_header(server) -> None:
    server.queue(Step(200, json={"value": []}))
    res = api(server, RUNS, "--debug", "--auth", "token", env={"RUNDCTL_TOKEN": CANARY})
    assert res.exit_code == 0
    assert "Authorization=Bearer ***" in res.stderr
    assert CANARY not in res.stderr + res.stdout


def test_a_full_url_to_another_host_is_exit_10_and_nothing_is_sent(server) -> None:
    with ScriptedServer() as other:
        res = api(server, other.url + RUNS, "--auth", "token", env={"RUNDCTL_TOKEN": CANARY})
        assert res.exit_code == 10
        assert "PATH points to another host" in res.stderr
        assert other.requests == [] and server.requests == []


def test_a_token_never_leaves_for_a_host_that_is_not_the_clouds_graph(server) -> None:
    # The default endpoint is graph.microsoft.com: a full URL to any other host is refused
    # before a connection is opened, so the token cannot reach it.
    res = invoke(["api", server.url + RUNS, "--auth", "token"], env={"RUNDCTL_TOKEN": CANARY})
    assert res.exit_code == 10 and server.requests == []
    # An Entra token is only for the cloud's Graph host: a custom endpoint is refused too.
    entra = api(server, RUNS, "--auth", "managed-identity")
    assert entra.exit_code == 10 and server.requests == []


def test_authorization_cannot_be_set_with_h(server) -> None:
    res = api(server, RUNS, "-H", f"Authorization: Bearer {CANARY}")
    assert res.exit_code == 2 and server.requests == []
    assert CANARY not in res.stderr


def test_the_help_says_f_is_not_file() -> None:
    res = invoke(["api", "--help"])
    assert res.exit_code == 0
    assert "-f, --raw-field" in res.stdout and "-F, --field" in res.stdout
    assert "Examples:" in res.stdout


def test_after_an_error_stdout_holds_nothing_not_even_the_heads(server) -> None:
    server.queue(Step(200, body=b"250", headers={"Content-Type": "text/plain"}))
    res = api(server, f"{RUNS}/$count", "-i", "--query", "@")
    assert res.exit_code == 11 and res.stdout == ""


def test_include_with_no_body_still_prints_the_heads(server) -> None:
    server.queue(Step(202, body=b""))
    res = api(server, "POST", f"{RUNS}/microsoft.graph.industryData.start", "-i", "-o", "none")
    assert res.exit_code == 0 and res.stdout.startswith("HTTP 202 Accepted\n")
    assert res.stdout.endswith("\n\n")
