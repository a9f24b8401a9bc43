"""Every option of the command line, declared once, and the groups they are reused in.

A *group* is a set of options that always travel together (connection, run input, wait).
A command takes a group by one decorator; its body receives the values bundled in one typed
object (a NamedTuple), so the same flags are never written twice and a command's signature
stays short (sqlite-utils' ``output_options`` is the model).

Help texts and TAB-completion choices come from :mod:`rundctl.vocab`, the domain's own
constants, never from re-typed lists.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, NamedTuple, TypeVar

import typer

from rundctl import vocab
from rundctl.cli.complete import (
    complete_auth,
    complete_cloud,
    complete_endpoint,
    complete_fail_on,
    complete_flow,
    complete_from,
    complete_output,
    complete_profile,
    complete_run,
    complete_status,
    complete_time,
)
from rundctl.inputs import RunFlags

F = TypeVar("F", bound=Callable[..., Any])

CONNECTION = "Connection"
AUTH = "Auth"
OUTPUT = "Output"
INPUT = "Input"
WAIT = "Wait"
BULK = "Bulk"
FAULTS = "Faults (like Microsoft Dev Proxy)"
PANEL_ORDER = ("Options", INPUT, OUTPUT, WAIT, BULK, CONNECTION, AUTH)

DEFAULT_CLOUD = "global"
DEFAULT_AUTH = "auto"
DEFAULT_MAX_RETRY_WAIT = "60s"


# -- TAB completion: the completers live in rundctl.cli.complete (local only) ----------------

# -- single options ----------------------------------------------------------------------

FlowOpt = Annotated[
    str | None,
    typer.Option("--flow", autocompletion=complete_flow, metavar="ID", envvar="RUNDCTL_FLOW",
                 help="Inbound flow ID (a GUID).", show_default=False),
]
RunArg = Annotated[
    str, typer.Argument(metavar="RUN", help="Run ID (a GUID), or the start of one as a "
                        "narrow table shows it (8 characters).", show_default=False,
                        autocompletion=complete_run),
]
OutputOpt = Annotated[
    str | None,
    typer.Option("--output", "-o", autocompletion=complete_output, metavar="FORMAT",
                 envvar="RUNDCTL_OUTPUT",
                 help=f"{vocab.words(vocab.OUTPUT_FORMATS)}. [default: table on a terminal, "
                 "json otherwise]", rich_help_panel=OUTPUT, show_default=False),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", metavar="NAME", envvar="RUNDCTL_PROFILE",
                 autocompletion=complete_profile,
                 help="Settings from [profiles.NAME] in config.toml (flag > env > profile > "
                 "default).", rich_help_panel=CONNECTION, show_default=False),
]
CloudOpt = Annotated[
    str,
    typer.Option("--cloud", autocompletion=complete_cloud, metavar="CLOUD", envvar="RUNDCTL_CLOUD",
                 help=f"{', '.join(vocab.CLOUD_NAMES)}, or {vocab.CUSTOM_CLOUD} "
                 "(RUNDCTL_GRAPH_ROOT + RUNDCTL_AUTHORITY_HOST).",
                 rich_help_panel=CONNECTION),
]
TenantOpt = Annotated[
    str | None,
    typer.Option("--tenant", metavar="TENANT", help="Entra tenant ID (else AZURE_TENANT_ID).",
                 rich_help_panel=AUTH, show_default=False),
]
ClientIdOpt = Annotated[
    str | None,
    typer.Option("--client-id", metavar="ID", help="Entra app (client) ID (else "
                 "AZURE_CLIENT_ID).", rich_help_panel=AUTH, show_default=False),
]
FileOpt = Annotated[
    str | None,
    typer.Option("--file", "-f", metavar="PATH", help="Read the run as JSON from PATH, or - for stdin.",
                 rich_help_panel=INPUT, show_default=False),
]
StatusOpt = Annotated[
    str | None,
    typer.Option("--status", autocompletion=complete_status, metavar="STATUS",
                 help=f"{', '.join(vocab.RUN_STATUSES)} (any case).", rich_help_panel=INPUT,
                 show_default=False),
]
QueryOpt = Annotated[str | None, typer.Option(
    "--query", metavar="JMESPATH", help="Shape the output with a JMESPath expression (as az "
    "does), applied to the JSON before it is printed: e.g. \"[?status=='failed'].id\".",
    rich_help_panel=OUTPUT, show_default=False)]
ColumnsOpt = Annotated[str | None, typer.Option(
    "--columns", metavar="A,B.C", help="Columns for table and tsv: fields or dotted paths "
    "(id,displayName,status,statistics.people); -o wide shows them all.",
    rich_help_panel=OUTPUT, show_default=False)]
GithubOutputOpt = Annotated[bool, typer.Option(
    "--github-output", help="In GitHub Actions, also write the results (run-id, status; for "
    "bulk the counts) to $GITHUB_OUTPUT for later steps (or RUNDCTL_GITHUB_OUTPUT=true).",
    rich_help_panel=OUTPUT)]
WaitFlag = Annotated[
    bool, typer.Option("--wait", help="Then follow the run until it ends (exit codes as wait).",
                       rich_help_panel=WAIT)
]


def _text(flag: str, metavar: str, help_text: str, panel: str | None = None, *,
          short: str | None = None, **kw: Any) -> Any:
    """An optional text flag (no default shown)."""
    decls = (flag, short) if short else (flag,)
    return Annotated[str | None, typer.Option(*decls, metavar=metavar, help=help_text,
                                              rich_help_panel=panel, show_default=False, **kw)]


# -- groups ---------------------------------------------------------------------------------


class Param(NamedTuple):
    name: str
    annotation: Any
    default: Any


def option_group(target: str, bundle: type[Any], params: tuple[Param, ...]) -> Callable[[F], F]:
    """A decorator adding *params* to a command; the body gets them as ``target=bundle(...)``.

    Typer reads parameters from the signature, so the wrapper's signature is the command's
    own parameters followed by the group's.
    """

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != target]
        extra = [inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=p.default,
                                   annotation=p.annotation) for p in params]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {p.name: kwargs.pop(p.name, p.default) for p in params}
            return fn(*args, **{target: bundle(**values)}, **kwargs)

        merged = [*own, *extra]
        wrapper.__signature__ = sig.replace(parameters=merged)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in merged}
        return wrapper  # type: ignore[return-value]

    return decorate


class ConnArgs(NamedTuple):
    """The shared connection flags as typed (checked by ``context.conn_settings``)."""

    endpoint: str | None
    cloud: str
    auth: str
    token_file: str | None
    tenant: str | None
    client_id: str | None
    timeout: str | None
    max_retry_wait: str
    debug: bool
    ci_annotations: str
    profile: str | None


CONNECTION_PARAMS = (
    Param("endpoint", _text("--endpoint", "URL", "API base URL, or 'sandbox' for the built-in "
                            "local sandbox. [default: the cloud's Graph root + /beta]",
                            CONNECTION, envvar="RUNDCTL_ENDPOINT",
                            autocompletion=complete_endpoint), None),
    Param("cloud", CloudOpt, DEFAULT_CLOUD),
    Param("auth", Annotated[str, typer.Option(
        "--auth", autocompletion=complete_auth, metavar="MODE", envvar="RUNDCTL_AUTH",
        help=f"{', '.join(vocab.AUTH_MODES)}.", rich_help_panel=AUTH)], DEFAULT_AUTH),
    Param("token_file", _text("--token-file", "PATH", "Read the bearer token from PATH, or - for "
                              "stdin (else RUNDCTL_TOKEN).", AUTH), None),
    Param("tenant", TenantOpt, None),
    Param("client_id", ClientIdOpt, None),
    Param("timeout", _text("--timeout", "DURATION", "Wall-clock limit for the whole command (90, "
                           "90s, 2m, 1h). [default: 120s; 30m when waiting]", CONNECTION,
                           envvar="RUNDCTL_TIMEOUT"), None),
    Param("max_retry_wait", Annotated[str, typer.Option(
        "--max-retry-wait", metavar="DURATION", envvar="RUNDCTL_MAX_RETRY_WAIT",
        help="Longest single wait rundctl will sleep before a retry; a longer Retry-After "
        "exits 8 with the time to retry.", rich_help_panel=CONNECTION)], DEFAULT_MAX_RETRY_WAIT),
    Param("debug", Annotated[bool, typer.Option(
        "--debug", "-v", help="Log requests to stderr (secrets redacted).",
        rich_help_panel=CONNECTION)], False),
    Param("ci_annotations", Annotated[str, typer.Option(
        "--ci-annotations", metavar="|".join(vocab.CI_ANNOTATIONS), envvar="RUNDCTL_CI_ANNOTATIONS",
        autocompletion=complete_from(vocab.CI_ANNOTATIONS),
        help="In GitHub Actions, also report errors and failed waits as ::error:: "
        "annotations and in the step summary.", rich_help_panel=OUTPUT)], "auto"),
    Param("profile", ProfileOpt, None),
)
with_connection = option_group("conn_args", ConnArgs, CONNECTION_PARAMS)


RUN_FIELD_PARAMS = (
    Param("name", _text("--name", "TEXT", "displayName.", INPUT, short="-n"), None),
    Param("start", _text("--start", "TS", "startDateTime: RFC 3339 with Z or ±hh:mm, or 'now'.",
                         INPUT, autocompletion=complete_time), None),
    Param("end", _text("--end", "TS", "endDateTime: RFC 3339 with Z or ±hh:mm, or 'now'.", INPUT,
                       autocompletion=complete_time), None),
    Param("status", StatusOpt, None),
    Param("statistics", _text("--statistics", "JSON|@FILE", "statistics object: JSON or @FILE.",
                              INPUT), None),
    Param("stat", Annotated[list[str] | None, typer.Option(
        "--stat", metavar="KEY=VALUE", help="Set one statistic (repeatable; VALUE is JSON if it "
        "parses, dotted keys nest).", rich_help_panel=INPUT, show_default=False)], None),
    Param("blocking_error", _text("--blocking-error", "JSON|@FILE",
                                  "blockingError object: JSON or @FILE.", INPUT), None),
    Param("error_code", _text("--error-code", "TEXT", "blockingError.code.", INPUT), None),
    Param("error_message", _text("--error-message", "TEXT", "blockingError.message.", INPUT), None),
    Param("error_target", _text("--error-target", "TEXT", "blockingError.target.", INPUT), None),
)
with_run_flags = option_group("run_flags", RunFlags, RUN_FIELD_PARAMS)


class WaitArgs(NamedTuple):
    """How to follow a run: ``--interval``, ``--fail-on``, ``--not-found-grace``."""

    interval: str
    fail_on: str
    not_found_grace: str | None


WAIT_PARAMS = (
    Param("interval", Annotated[str, typer.Option(
        "--interval", metavar="auto|DURATION", help="Poll interval: auto (5s growing to 60s) "
        "or e.g. 15s.", rich_help_panel=WAIT)], "auto"),
    Param("fail_on", Annotated[str, typer.Option(
        "--fail-on", autocompletion=complete_fail_on, metavar="|".join(vocab.FAIL_ON),
        help="Which outcomes exit non-zero: errors (completedWithErrors -> 14), "
        "warnings (also completedWithWarnings -> 15), never (only failed -> 13).",
        rich_help_panel=WAIT)], "errors"),
    Param("not_found_grace", Annotated[str | None, typer.Option(
        "--not-found-grace", metavar="DURATION",
        help="Keep polling a run that is not found yet for this long. [default: 0 for wait "
        "(a mistyped ID fails at once); 60s for create --wait and start --wait]",
        rich_help_panel=WAIT, show_default=False)], None),
)
with_wait = option_group("wait_args", WaitArgs, WAIT_PARAMS)
