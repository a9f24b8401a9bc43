"""rundctl api's parse step, pure: [METHOD] PATH, -X, -f/-F fields, --input, -H, the target URL."""

from __future__ import annotations

import io
import json

import pytest

from rundctl.api_call import (
    KINDS,
    ApiFlags,
    build_request,
    check_path,
    parse_headers,
    parse_key,
    resolve,
    split_args,
)
from rundctl.errors import InvalidInput, SecurityRefused, UsageError
from rundctl.inputs import Stdin

BASE = "https://graph.microsoft.com/beta"


def request(*args: str, stdin: bytes | None = None, token_file: str | None = None, **kw: object):
    pipe = Stdin(io.BytesIO(stdin or b""), False) if stdin is not None else None
    return build_request(ApiFlags(list(args), **kw), stdin=pipe, token_file=token_file)  # type: ignore[arg-type]


def body(*args: str, **kw: object) -> object:
    built = request(*args, **kw)
    assert built.body is not None
    return json.loads(built.body)


# -- [METHOD] PATH ---------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "option", "expected"), [
    (["/external/industryData/runs"], None, (None, "/external/industryData/runs")),
    (["external/industryData/runs"], None, (None, "/external/industryData/runs")),
    (["/runs?$top=5&$filter=status eq 'failed'"], None,
     (None, "/runs?$top=5&$filter=status eq 'failed'")),
    (["POST", "/runs"], None, ("POST", "/runs")),
    (["patch", "/runs/1"], None, ("PATCH", "/runs/1")),
    (["/runs"], "delete", ("DELETE", "/runs")),
    (["PUT", "/runs"], "PUT", ("PUT", "/runs")),
    (["https://graph.microsoft.com/v1.0/me"], None, (None, "https://graph.microsoft.com/v1.0/me")),
])
def test_method_and_path(args, option, expected) -> None:
    assert split_args(args, option) == expected


@pytest.mark.parametrize(("args", "option", "message"), [
    ([], None, "PATH is missing"),
    (["POST"], None, "PATH is missing after POST"),
    (["GET", "/a", "/b"], None, "too many arguments"),
    (["FETCH", "/a"], None, "METHOD: 'FETCH' is not one of GET, HEAD, POST, PATCH, PUT, DELETE"),
    (["/a"], "OPTIONS", "-X/--method: 'OPTIONS' is not one of"),
    (["GET", "/a"], "POST", "two methods given: GET and -X POST"),
    (["/a#frag"], None, "a fragment is never sent"),
    (["/a\r\nX-Injected: 1"], None, "contains control characters"),
    (["  "], None, "PATH is empty"),
])
def test_bad_method_or_path_is_a_usage_error(args, option, message) -> None:
    with pytest.raises(UsageError) as caught:
        split_args(args, option)
    assert message in caught.value.message


def test_a_path_with_a_lone_surrogate_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        check_path("/a\udcff")


@pytest.mark.parametrize(("target", "url"), [
    ("/external/industryData/runs", f"{BASE}/external/industryData/runs"),
    ("/runs?$top=1", f"{BASE}/runs?$top=1"),
    ("https://graph.microsoft.com/v1.0/me", "https://graph.microsoft.com/v1.0/me"),
    ("https://GRAPH.microsoft.com:443/beta/x", "https://GRAPH.microsoft.com:443/beta/x"),
])
def test_resolve_keeps_requests_on_the_endpoint(target, url) -> None:
    assert resolve(BASE, target) == url


@pytest.mark.parametrize("target", [
    "https://evil.example/beta/x",
    "http://graph.microsoft.com/beta/x",  # another scheme
    "https://graph.microsoft.com:8443/beta/x",  # another port
    "https://user:pw@graph.microsoft.com/beta/x",  # user info
    "https://graph.microsoft.com@evil.example/x",
    "ftp://graph.microsoft.com/x",
    "https://graph.microsoft.com:99999/x",  # not a URL that parses
    "https://[::1/x",
])
def test_resolve_refuses_anything_else_with_exit_10(target) -> None:
    with pytest.raises(SecurityRefused) as caught:
        resolve(BASE, target)
    assert caught.value.exit_code == 10


def test_the_refusal_names_both_hosts() -> None:
    with pytest.raises(SecurityRefused) as caught:
        resolve("http://127.0.0.1:8080", "http://127.0.0.1:9090/x")
    assert caught.value.message == ("PATH points to another host (127.0.0.1:9090); rundctl api "
                                    "sends requests only to the endpoint (http://127.0.0.1:8080)")


@pytest.mark.parametrize(("method", "kind"), [("GET", "read"), ("HEAD", "read"), ("PUT", "update"),
                                              ("DELETE", "update"), ("POST", "post"),
                                              ("PATCH", "post")])
def test_each_method_has_the_kind_its_rfc_9110_semantics_give(method, kind) -> None:
    assert KINDS[method] == kind


# -- the method a body implies ---------------------------------------------------------------


def test_get_by_default_post_with_a_body() -> None:
    assert request("/a").method == "GET"
    assert request("/a").body is None
    assert request("/a", raw_fields=["x=1"]).method == "POST"
    assert request("/a", input="-", stdin=b"{}").method == "POST"
    assert request("PATCH", "/a", raw_fields=["x=1"]).method == "PATCH"


def test_with_get_fields_become_query_parameters() -> None:
    built = request("GET", "/runs", raw_fields=["$top=5", "$filter=status eq 'x'"],
                    typed_fields=["$count=true", "n=3"])
    assert built.body is None
    assert built.params == {"$top": "5", "$filter": "status eq 'x'", "$count": "true", "n": "3"}


@pytest.mark.parametrize(("kw", "message"), [
    ({"raw_fields": ["a[b]=1"]}, "cannot nest"),
    ({"raw_fields": ["a=1", "a=2"]}, "given twice"),
    ({"typed_fields": ["a={}"]}, "cannot be a JSON object"),
    ({"input": "-", "stdin": b"{}"}, "--input sends a body; GET has none"),
])
def test_get_refuses_what_a_query_cannot_carry(kw, message) -> None:
    with pytest.raises(UsageError) as caught:
        request("GET", "/runs", **kw)
    assert message in caught.value.message


def test_paginate_goes_with_get_only() -> None:
    assert request("/runs", paginate=True).paginate
    with pytest.raises(UsageError, match="--paginate"):
        request("POST", "/runs", paginate=True)


# -- -f / -F -----------------------------------------------------------------------------------


def test_raw_fields_are_strings_and_typed_fields_are_typed() -> None:
    assert body("/a", raw_fields=["s=true", "n=3", "at=@file", "empty="],
                typed_fields=["t=true", "f=false", "z=null", "i=42", "x=-1.5e3", "big=12345678901234567890",
                              'obj={"k": [1, 2]}', "arr=[1]", 'q="007"', "word=hello", "zip=007",
                              "nan=NaN"]) == {
        "s": "true", "n": "3", "at": "@file", "empty": "",
        "t": True, "f": False, "z": None, "i": 42, "x": -1500.0, "big": 12345678901234567890,
        "obj": {"k": [1, 2]}, "arr": [1], "q": "007", "word": "hello", "zip": "007", "nan": "NaN"}


def test_brackets_nest_and_append_and_dots_stay_in_names() -> None:
    assert body("/a", raw_fields=["@odata.type=#microsoft.graph.x", "a[b][c]=1", "a[d]=2",
                                  "tags[]=x", "tags[]=y"],
                typed_fields=["a[n]=3", "list[]=1"]) == {
        "@odata.type": "#microsoft.graph.x", "a": {"b": {"c": "1"}, "d": "2", "n": 3},
        "tags": ["x", "y"], "list": [1]}


@pytest.mark.parametrize(("raw", "message"), [
    (["novalue"], "-f: 'novalue' is not KEY=VALUE"),
    (["=x"], "has no key name"),
    (["[a]=x"], "starts with '['"),
    (["a[b=x"], "is not NAME, NAME[KEY]... or NAME[]"),
    (["a[b]c=x"], "is not NAME"),
    (["a[][b]=x"], "[] may only come last"),
    (["a=1", "a=2"], "field 'a' is given twice"),
    (["a=1", "a[b]=2"], "'a' is already set to a value that is not an object"),
    (["a[b]=1", "a=2"], "field 'a' is given twice"),
    (["a=1", "a[]=2"], "is already set to a value that is not an array"),
])
def test_bad_fields_are_usage_errors(raw, message) -> None:
    with pytest.raises(UsageError) as caught:
        request("/a", raw_fields=raw)
    assert message in caught.value.message


def test_bad_json_in_a_typed_field_is_invalid_input_naming_the_key() -> None:
    with pytest.raises(InvalidInput) as caught:
        request("/a", typed_fields=["obj={nope}"])
    assert caught.value.exit_code == 3
    assert caught.value.problems[0].path == "obj (-F)"
    with pytest.raises(InvalidInput):
        request("/a", typed_fields=["n=1e999"])  # not a finite number


def test_typed_at_file_reads_the_content_as_a_string(tmp_path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("line 1\nline 2\n", encoding="utf-8")
    assert body("/a", typed_fields=[f"text=@{note}"]) == {"text": "line 1\nline 2\n"}
    assert body("/a", typed_fields=["text=@-"], stdin=b"from stdin") == {"text": "from stdin"}


@pytest.mark.parametrize(("typed", "files", "error"), [
    (["a=@missing.txt"], {}, InvalidInput),
    (["a=@"], {}, UsageError),
    (["a=@bad.bin"], {"bad.bin": b"\xff\xfe\x00"}, InvalidInput),
    (["a=@big.txt"], {"big.txt": b"x" * (1024 * 1024 + 1)}, InvalidInput),
    (["a=@-", "b=@-"], {}, UsageError),  # stdin read twice
])
def test_unreadable_at_files_are_refused(tmp_path, monkeypatch, typed, files, error) -> None:
    monkeypatch.chdir(tmp_path)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(error):
        request("/a", typed_fields=typed, stdin=b"")


def test_at_dash_on_a_terminal_is_refused() -> None:
    with pytest.raises(UsageError, match="stdin is a terminal"):
        build_request(ApiFlags(["/a"], typed_fields=["a=@-"]), stdin=Stdin(io.BytesIO(), True))


# -- --input ---------------------------------------------------------------------------------


def test_input_is_sent_exactly_as_given_once_it_is_valid_json(tmp_path) -> None:
    doc = tmp_path / "year.json"
    doc.write_bytes(b'\xef\xbb\xbf{"displayName": "2026", "n": 1.0}\n')
    assert request("/a", input=str(doc)).body == b'{"displayName": "2026", "n": 1.0}\n'
    assert request("PUT", "/a", input="-", stdin=b"[1, 2]").body == b"[1, 2]"
    assert request("/a", input="-", stdin=b"null").body == b"null"  # JSON null is a body too


@pytest.mark.parametrize(("data", "problem"), [
    (b'{"a": 1, "a": 2}', "duplicate key"),
    (b"{nope", ""),
    (b"", "no input"),
    (b'{"a": NaN}', ""),
])
def test_input_that_is_not_strict_json_is_invalid_input(data, problem) -> None:
    with pytest.raises(InvalidInput) as caught:
        request("/a", input="-", stdin=data)
    assert problem in str(caught.value.problems)


def test_input_and_fields_do_not_mix_and_stdin_is_read_once() -> None:
    with pytest.raises(UsageError, match="-f/-F and --input cannot be combined"):
        request("/a", input="-", raw_fields=["a=1"], stdin=b"{}")
    with pytest.raises(UsageError, match="--token-file - and --input - cannot both read stdin"):
        request("/a", input="-", stdin=b"{}", token_file="-")
    with pytest.raises(InvalidInput, match="cannot read"):
        request("/a", input="/nonexistent/x.json")


# -- -H ----------------------------------------------------------------------------------------


def test_headers_are_parsed_and_kept() -> None:
    assert parse_headers(["ConsistencyLevel: eventual", "If-Match:W/\"2\"", "X-Empty:",
                          "Content-Type:  application/json; odata.metadata=minimal "]) == {
        "ConsistencyLevel": "eventual", "If-Match": 'W/"2"', "X-Empty": "",
        "Content-Type": "application/json; odata.metadata=minimal"}


@pytest.mark.parametrize(("header", "message"), [
    ("Authorization: Bearer abc", "-H cannot set Authorization"),
    ("authorization:x", "-H cannot set authorization"),
    ("Proxy-Authorization: Basic x", "-H cannot set Proxy-Authorization"),
    ("Host: evil.example", "rundctl's HTTP layer sets it"),
    ("Content-Length: 5", "rundctl's HTTP layer sets it"),
    ("Transfer-Encoding: chunked", "rundctl's HTTP layer sets it"),
    ("Accept-Encoding: br", "rundctl's HTTP layer sets it"),
    ("no colon", "is not 'Name: value'"),
    ("Bad Name: x", "is not 'Name: value'"),
    (": x", "is not 'Name: value'"),
    ("X-A: caf\u00e9", "printable ASCII"),
    ("X-A: a\rb", "printable ASCII"),
])
def test_bad_or_forbidden_headers_are_usage_errors(header, message) -> None:
    with pytest.raises(UsageError) as caught:
        parse_headers([header])
    assert message in caught.value.message


def test_a_header_given_twice_is_refused() -> None:
    with pytest.raises(UsageError, match="given twice"):
        parse_headers(["X-A: 1", "x-a: 2"])


def test_authorization_is_never_echoed_in_the_error() -> None:
    with pytest.raises(UsageError) as caught:
        parse_headers(["Authorization: Bearer SECRET-VALUE-123"])
    assert "SECRET-VALUE-123" not in caught.value.message + (caught.value.hint or "")


def test_parse_key_shapes() -> None:
    assert parse_key("a", "-f") == ["a"]
    assert parse_key("a[b][c]", "-f") == ["a", "b", "c"]
    assert parse_key("a[]", "-f") == ["a", None]
    assert parse_key("@odata.bind", "-f") == ["@odata.bind"]
