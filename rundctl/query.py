"""``--query EXPR``: a JMESPath expression applied to the JSON a command would print.

One shared function for every command that prints JSON (``rundctl api`` first): the
expression is compiled and checked once, before anything is sent, and applied to the whole
document afterwards::

    compiled = compile_query("value[].id")   # UsageError (exit 2) when it is not valid
    ids = compiled.search(document)

:func:`compile_query` checks more than the grammar: a function the language does not have
(``foo(@)``) or a call with the wrong number of arguments (``length(@, @)``) is refused at
once too, instead of after the request has been made. What only the data can show (a type
mismatch such as ``sum(value[].id)`` over strings) is :class:`QueryFailed` from
:meth:`Compiled.search`, also exit 2.

``jmespath`` is imported inside the functions only (ruff's TID253 keeps it out of start-up).
"""

from __future__ import annotations

from typing import Any

from rundctl.errors import UsageError

FLAG = "--query"


class QueryError(UsageError):
    """An expression that is not valid JMESPath (exit 2); shows where it stops making sense."""

    def __init__(self, message: str, text: str = "", column: int | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.text = text
        self.column = column

    def detail_lines(self) -> list[str]:
        if self.column is None or not self.text or "\n" in self.text:
            return []
        return [f"  {self.text}", "  " + " " * min(self.column, len(self.text)) + "^"]


class QueryFailed(UsageError):
    """A valid expression that cannot be applied to this data (a type mismatch); exit 2."""


class Compiled:
    """A checked JMESPath expression (from :func:`compile_query`)."""

    __slots__ = ("_parsed", "text")

    def __init__(self, text: str, parsed: Any) -> None:
        self.text = text
        self._parsed = parsed

    def search(self, data: object) -> object:
        """The expression applied to *data* (any JSON value); QueryFailed when it cannot be."""
        from jmespath import exceptions

        try:
            result = self._parsed.search(data)
        except exceptions.JMESPathError as exc:
            raise QueryFailed(f"{FLAG}: {_one_line(str(exc))}") from None
        except RecursionError:
            raise QueryFailed(f"{FLAG}: the data is nested too deeply for the expression") from None
        if not _finite(result):  # to_number('NaN'), sum() past 1e308: not JSON
            raise QueryFailed(f"{FLAG}: the result holds a number JSON cannot write (NaN or "
                              "Infinity)")
        return result

    def __repr__(self) -> str:
        return f"Compiled({self.text!r})"


def compile_query(text: str) -> Compiled:
    """Parse and check *text*; :class:`QueryError` (a UsageError, exit 2) when it is invalid."""
    import jmespath
    from jmespath import exceptions

    try:
        parsed = jmespath.compile(text)
    except exceptions.EmptyExpressionError:
        raise QueryError(f"{FLAG}: the expression is empty",
                         hint="give a JMESPath expression, e.g. --query 'value[].id'") from None
    except exceptions.IncompleteExpressionError as exc:
        raise _invalid("the expression is incomplete", text, exc.lex_position) from None
    except exceptions.LexerError as exc:
        raise _invalid(str(exc.message), text, exc.lexer_position) from None
    except exceptions.ParseError as exc:
        reason = str(exc.msg)
        if exc.token_value not in (None, ""):
            reason += f" (at {str(exc.token_value)!r})"
        raise _invalid(reason, text, exc.lex_position) from None
    except exceptions.JMESPathError as exc:  # anything else the parser may raise
        raise QueryError(f"{FLAG}: invalid JMESPath expression: {_one_line(str(exc))}") from None
    except RecursionError:
        raise QueryError(f"{FLAG}: the expression is nested too deeply") from None
    _check_functions(parsed.parsed, text)
    return Compiled(text, parsed)


def apply(expr: str, data: object) -> object:
    """Compile *expr* and apply it to *data* (for one-off use; commands compile first)."""
    return compile_query(expr).search(data)


def _invalid(reason: str, text: str, column: object) -> QueryError:
    where = column if isinstance(column, int) and column >= 0 else None
    at = f" at column {where}" if where is not None else ""
    return QueryError(f"{FLAG}: invalid JMESPath expression: {reason}{at}", text, where,
                      hint="JMESPath syntax: https://jmespath.org/specification.html")


def _check_functions(tree: Any, text: str) -> None:
    """Every function called exists and gets as many arguments as it takes (no recursion:
    a deeply nested expression cannot exhaust the stack here)."""
    from jmespath.functions import Functions

    table: dict[str, Any] = Functions().FUNCTION_TABLE
    stack = [tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        children = node.get("children")
        if isinstance(children, list):
            stack.extend(children)
        if node.get("type") != "function_expression":
            continue
        name = str(node.get("value"))
        spec = table.get(name)
        if spec is None:
            known = ", ".join(sorted(table))
            raise QueryError(f"{FLAG}: unknown function {name}() in {text!r}",
                             hint=f"JMESPath's functions are: {known}")
        signature = spec.get("signature", ())
        given = len(children) if isinstance(children, list) else 0
        variadic = bool(signature) and bool(signature[-1].get("variadic"))
        wanted = len(signature)
        if (given < wanted) if variadic else (given != wanted):
            amount = f"at least {wanted}" if variadic else str(wanted)
            plural = "" if wanted == 1 else "s"
            raise QueryError(f"{FLAG}: {name}() takes {amount} argument{plural}, got {given}")


def _finite(value: object) -> bool:
    """No float in *value* is NaN or infinite (walked without recursion)."""
    import math

    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())
