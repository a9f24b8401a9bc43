"""rundctl.query: --query EXPR (JMESPath) compiled once, checked before anything is sent."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rundctl.errors import ExitCode, UsageError
from rundctl.query import Compiled, QueryError, QueryFailed, apply, compile_query

PAGE = {"@odata.context": "x", "value": [{"id": "a", "status": "failed", "n": 3},
                                         {"id": "b", "status": "completed", "n": 4}]}


@pytest.mark.parametrize(("expr", "expected"), [
    ("value[].id", ["a", "b"]),
    ("value[?status=='failed'].id | [0]", "a"),
    ("length(value)", 2),
    ("sum(value[].n)", 7),
    ("value[0].missing", None),
    ("{ids: value[].id, count: length(value)}", {"ids": ["a", "b"], "count": 2}),
    ('"@odata.context"', "x"),
    ("not_null(value[0].nope, `\"fallback\"`)", "fallback"),
    ("merge(value[0], value[1])", {"id": "b", "status": "completed", "n": 4}),
])
def test_a_compiled_query_searches_json(expr, expected) -> None:
    compiled = compile_query(expr)
    assert isinstance(compiled, Compiled) and compiled.text == expr
    assert compiled.search(PAGE) == expected
    assert apply(expr, PAGE) == expected


def test_a_compiled_query_is_reusable_on_other_data() -> None:
    compiled = compile_query("value[].id")
    assert compiled.search(PAGE) == ["a", "b"]
    assert compiled.search({"value": []}) == []
    assert compiled.search(None) is None


@pytest.mark.parametrize(("expr", "message"), [
    ("", "--query: the expression is empty"),
    ("value[", "--query: invalid JMESPath expression: the expression is incomplete at column 6"),
    ("a ||| b", "--query: invalid JMESPath expression: invalid token (at '|') at column 4"),
    ("`abc", "--query: invalid JMESPath expression: Unclosed ` delimiter at column 0"),
    ("foo(@)", "--query: unknown function foo() in 'foo(@)'"),
    ("length(@, @)", "--query: length() takes 1 argument, got 2"),
    ("value[].contains(id)", "--query: contains() takes 2 arguments, got 1"),
    ("merge()", "--query: merge() takes at least 1 argument, got 0"),
])
def test_an_invalid_expression_is_a_usage_error_with_the_reason(expr, message) -> None:
    with pytest.raises(QueryError) as caught:
        compile_query(expr)
    assert isinstance(caught.value, UsageError)
    assert caught.value.exit_code == ExitCode.USAGE == 2
    assert caught.value.message == message


def test_a_parse_error_points_at_the_column() -> None:
    with pytest.raises(QueryError) as caught:
        compile_query("value[")
    assert caught.value.detail_lines() == ["  value[", "        ^"]


def test_a_deeply_nested_expression_is_refused_not_a_crash() -> None:
    with pytest.raises(QueryError):
        compile_query("(" * 5000 + "a" + ")" * 5000)


def test_a_type_mismatch_found_only_in_the_data_is_query_failed() -> None:
    compiled = compile_query("sum(value[].id)")
    with pytest.raises(QueryFailed) as caught:
        compiled.search(PAGE)
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith("--query: In function sum(), invalid type")
    assert "\n" not in caught.value.message


@pytest.mark.parametrize("expr", ["to_number('NaN')", "to_number('1e999')", "[sum(@)]",
                                  "{a: {b: [avg(@)]}}"])
def test_a_result_json_cannot_write_is_query_failed_not_a_crash(expr) -> None:
    with pytest.raises(QueryFailed, match="NaN or Infinity"):
        compile_query(expr).search([1e308, 1e308])


def test_importing_rundctl_query_does_not_import_jmespath() -> None:
    code = "import sys, rundctl.query; print('jmespath' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
