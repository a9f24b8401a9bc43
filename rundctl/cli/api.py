"""``rundctl api``: any Graph request with rundctl's endpoint, auth, retries and exit codes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from rundctl.cli.context import conn_settings, current_deps, query_flag, stdin
from rundctl.cli.options import INPUT, OUTPUT, ConnArgs, with_connection
from rundctl.errors import UsageError

if TYPE_CHECKING:
    from rundctl.api_call import ApiRequest, ApiResult
    from rundctl.deps import Deps
    from rundctl.query import Compiled

API_FORMATS = ("json", "ndjson", "none")

ArgsArg = Annotated[list[str], typer.Argument(
    metavar="[METHOD] PATH", show_default=False,
    help="PATH relative to the endpoint (a query string allowed), or a full URL on the "
    "endpoint's host; METHOD: GET (default; POST with a body), HEAD, POST, PATCH, PUT, DELETE.")]
MethodOpt = Annotated[str | None, typer.Option(
    "--method", "-X", metavar="METHOD", help="The HTTP method (instead of the METHOD argument).",
    show_default=False)]
RawFieldOpt = Annotated[list[str] | None, typer.Option(
    "--raw-field", "-f", metavar="KEY=VALUE", help="A string field of the JSON body "
    "(repeatable; KEY[SUB] nests, KEY[] appends; with GET a query parameter). Not --file.",
    rich_help_panel=INPUT, show_default=False)]
TypedFieldOpt = Annotated[list[str] | None, typer.Option(
    "--field", "-F", metavar="KEY=VALUE", help="A typed field: true, false, null, a number, "
    "JSON ({…}, […], \"…\"), or @FILE / @- (the content as a string); else a string.",
    rich_help_panel=INPUT, show_default=False)]
InputOpt = Annotated[str | None, typer.Option(
    "--input", metavar="FILE|-", help="Send FILE (or stdin) as the body: one JSON document.",
    rich_help_panel=INPUT, show_default=False)]
HeaderOpt = Annotated[list[str] | None, typer.Option(
    "--header", "-H", metavar="'NAME: VALUE'", help="An extra request header (repeatable); "
    "never Authorization.", show_default=False)]
PaginateOpt = Annotated[bool, typer.Option(
    "--paginate", help="Follow @odata.nextLink and print ONE document with every page's "
    "'value' items.")]
IncludeOpt = Annotated[bool, typer.Option(
    "--include", "-i", help="Print the status line and response headers (redacted) before "
    "the body.", rich_help_panel=OUTPUT)]
QueryOpt = Annotated[str | None, typer.Option(
    "--query", metavar="JMESPATH", help="Shape the output with a JMESPath expression, applied "
    "to the body as the service sent it (with --paginate: the merged document), e.g. "
    "'value[].id'.", rich_help_panel=OUTPUT, show_default=False)]
FormatOpt = Annotated[str | None, typer.Option(
    "--output", "-o", metavar="|".join(API_FORMATS), help="json: indented; ndjson: one "
    "compact line; none: no body. Not RUNDCTL_OUTPUT. [default: json]", rich_help_panel=OUTPUT,
    show_default=False)]


@with_connection
def api(
    args: ArgsArg,
    method: MethodOpt = None,
    raw_field: RawFieldOpt = None,
    field: TypedFieldOpt = None,
    input_: InputOpt = None,
    header: HeaderOpt = None,
    paginate: PaginateOpt = False,
    include: IncludeOpt = False,
    query: QueryOpt = None,
    fmt: FormatOpt = None,
    *,
    conn_args: ConnArgs,
) -> int:
    """Send any Graph request with rundctl's sign-in, retries, redaction and exit codes.

    The escape hatch for what no other command covers (dataConnectors, years, inboundFlows,
    $count, $metadata …), like gh api and az rest. PATH is relative to the endpoint, or a
    full URL on its scheme, host and port (anything else is refused: exit 10). GET and HEAD
    are retried like reads, PUT and DELETE like updates; POST and PATCH are sent again only
    when the service certainly did not apply them (else exit 9). The body is printed as the
    service sent it (JSON indented; other text as it is); errors exit as everywhere (404: 6).
    Here -f is --raw-field (as in gh), not --file.

    \b
    Examples:
      rundctl api /external/industryData/dataConnectors
      rundctl api /external/industryData/runs --paginate --query 'value[].id'
      rundctl api -X POST /external/industryData/runs/microsoft.graph.industryData.start -i
      rundctl api GET /external/industryData/runs -f '$top=5' -f '$orderby=startDateTime desc'
      rundctl api PATCH /external/industryData/dataConnectors/$ID -f displayName=SIS
      rundctl api POST /external/industryData/years --input year.json
      rundctl api '/external/industryData/runs/$count' -H 'ConsistencyLevel: eventual'
    """
    from rundctl import api_call

    deps = current_deps()
    shown = _format(fmt)
    compiled: Compiled | None = query_flag(query)  # exit 2 before anything is read or sent
    request = api_call.build_request(
        api_call.ApiFlags(args, method, raw_field or (), field or (), input_, header or (),
                          paginate),
        stdin=stdin(deps), token_file=conn_args.token_file)
    conn = conn_settings(conn_args)
    result = api_call.run(deps, conn, request)
    if request.kind != "read":
        deps.did(f"{request.method} {result.url}: HTTP {result.status}")
    _show(deps, request, result, shown, include, compiled)
    return 0


def _format(text: str | None) -> str:
    if text is None:
        return "json"
    value = text.strip().lower()
    if value not in API_FORMATS:
        raise UsageError(f"--output: '{text}' is not one of {', '.join(API_FORMATS)} "
                         "(rundctl api prints the service's JSON)")
    return value


def _show(deps: Deps, request: ApiRequest, result: ApiResult, fmt: str, include: bool,
          compiled: Compiled | None) -> None:
    """-i heads, then the body: JSON indented (or one line), other text as it came. Everything
    is prepared first, so stdout gets all of it or (after an error) nothing."""
    from rundctl import api_call

    heads = "".join(api_call.head_text(e) for e in result.exchanges) if include else ""
    text = _body_text(deps, request, result, fmt, compiled)
    deps.stdout.write(heads + text)
    deps.stdout.flush()


def _body_text(deps: Deps, request: ApiRequest, result: ApiResult, fmt: str,
               compiled: Compiled | None) -> str:
    from rundctl import api_call
    from rundctl.errors import BadResponse
    from rundctl.query import QueryFailed
    from rundctl.redact import neutralise
    from rundctl.render import to_json

    body = result.body
    if fmt == "none" or body is None or body == b"":
        return ""
    if isinstance(body, bytes):
        if compiled is not None:
            kind = result.exchanges[-1].headers.get("Content-Type", "not JSON")
            raise BadResponse(f"the answer (HTTP {result.status}) is {kind}, not JSON, so --query "
                              "cannot apply", hint=_applied_hint(request, result))
        text = api_call.raw_text(body, result.status)
        if deps.stdout_tty:
            text = neutralise(text, keep_newlines=True)
            text += "" if text.endswith("\n") else "\n"
        return text
    if compiled is not None:
        try:
            body = compiled.search(body)
        except QueryFailed as exc:
            exc.hint = _applied_hint(request, result)
            raise
    return to_json(body, indent=None if fmt == "ndjson" else 2) + "\n"


def _applied_hint(request: ApiRequest, result: ApiResult) -> str | None:
    if request.kind == "read":
        return None
    return (f"the {request.method} itself succeeded (HTTP {result.status}); do not send it again "
            "— run a GET to see the result")
