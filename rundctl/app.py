"""The Typer app, its help, and THE place where errors become exit statuses.

Two things live here and nowhere else:

- :func:`guarded`, the one error handler (httpie's ``raw_main`` is the model). Every way a
  command can end goes through it, in-process (``CliRunner``) and from the installed
  binary alike: a usage error from click (2), a :class:`~rundctl.errors.RundctlError` (its
  exit code, with ``rundctl: error:`` and ``hint:`` lines), a command's own exit code (wait
  and bulk outcomes), Ctrl-C (130), a closed stdout (141) and bugs (1, no traceback, nothing
  secret). It is wired in by :class:`RundctlGroup`, the click group of the app, so a test
  that calls ``CliRunner().invoke(app, args, obj=deps)`` sees exactly what a user sees.
- **Only the invoked command is built.** Typer turns every registered function into a click
  command on each start; :func:`only_invoked` narrows the app to the one command (or group)
  named on the command line first, so start-up stays flat as commands are added. Plain
  ``rundctl``, ``--help`` before the command name and unknown names get the whole app (for
  the command list and "did you mean").
"""

from __future__ import annotations

import copy
import errno
import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

from rundctl import __version__
from rundctl.cli import api as api_cmds
from rundctl.cli import auth as auth_cmds
from rundctl.cli import config as config_cmds
from rundctl.cli import flows as flows_cmds
from rundctl.cli import runs as run_cmds
from rundctl.cli import sandbox as sandbox_cmds
from rundctl.cli import tools as tool_cmds
from rundctl.cli.context import apply_profile, current_deps
from rundctl.cli.options import PANEL_ORDER
from rundctl.deps import Deps, OutputLost, from_process
from rundctl.errors import EXIT_CODE_TABLE, ExitCode, RundctlError, UsageError

HELP = """Create and inspect runs of Microsoft Graph industry-data flows (School Data Sync).

\b
Try it with no account and no network:
  rundctl create --endpoint sandbox --flow 1b4e28ba-2fa1-11d2-883f-0016d3cca427 \\
      --name "Nightly import" --start now --status running --stat people=0
"""

EPILOG = "\b\nExit codes:\n" + "\n".join(
    f"  {code:>3}  {text}" for code, text, _ in EXIT_CODE_TABLE
)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (CI cancel, ``docker stop``, a closed terminal): handled like Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP end the command the way Ctrl-C does (the binary only)."""
    import signal

    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            try:
                signal.signal(number, _on_signal)
            except (OSError, ValueError):  # not the main thread, or not allowed here
                pass


class Escalated(Exception):
    """Carries Ctrl-C or a closed pipe past click (which would swallow them) to guarded()."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause


def guarded(deps: Deps, work: Callable[[], object]) -> int:
    """Run *work* and return the exit status, having said on stderr whatever needs saying."""
    from typer import exceptions as typer_exc
    from typer._click import exceptions as click_exc

    from rundctl import notes

    try:
        try:
            result = work()
            deps.stdout.flush()
            return result if isinstance(result, int) else 0
        except Escalated as carried:
            raise carried.cause from None
    except click_exc.NoArgsIsHelpError as exc:
        exc.show()
        return int(ExitCode.USAGE)
    except click_exc.UsageError as exc:
        notes.usage(deps, exc.format_message(),
                    exc.ctx.command_path if exc.ctx is not None else "rundctl")
        return int(ExitCode.USAGE)
    except click_exc.ClickException as exc:
        notes.usage(deps, exc.format_message(), "rundctl")
        return exc.exit_code
    except RundctlError as exc:
        notes.report(deps, exc)
        return int(exc.exit_code)
    except (KeyboardInterrupt, typer_exc.Abort) as exc:
        signum = getattr(exc, "signum", None)
        notes.interrupted(deps, signum)
        return 128 + signum if signum else int(ExitCode.INTERRUPTED)
    except OutputLost as lost:
        notes.output_lost(deps, lost.cause.strerror or str(lost.cause))
        return int(ExitCode.OUTPUT_LOST)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            return _bug(deps, exc)
        _silence_stdout(deps)
        if not deps.done:  # a read: the reader chose to stop and nothing was lost
            return int(ExitCode.OK)
        notes.done_before_output_lost(deps)
        return int(ExitCode.BROKEN_PIPE)
    except Exception as exc:  # a bug: say so plainly, never dump locals or secrets
        return _bug(deps, exc)
    finally:
        deps.close()


def _bug(deps: Deps, exc: BaseException) -> int:
    from rundctl import notes

    trace = None
    if deps.env.get("RUNDCTL_TRACEBACK") == "1":
        import traceback

        trace = "".join(traceback.format_exception(exc))
    notes.bug(deps, exc, traceback_text=trace)
    return int(ExitCode.INTERNAL)


def _silence_stdout(deps: Deps) -> None:
    """After EPIPE: point stdout at /dev/null so the interpreter's last flush is quiet."""
    if not deps.process_streams or sys.stdout is None:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class RundctlGroup(TyperGroup):
    """The app's click group: every invocation runs inside :func:`guarded`."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        obj = extra.get("obj")
        deps = obj if isinstance(obj, Deps) else from_process()
        deps.use_error_format(error_format_in(args if args is not None else sys.argv[1:],
                                              deps.error_format))
        extra["obj"] = deps
        deps.argv = list(args if args is not None else sys.argv[1:])
        code = guarded(deps, lambda: super(RundctlGroup, self).main(
            args, prog_name or "rundctl", complete_var, standalone_mode=False,
            windows_expand_args=windows_expand_args, **extra))
        if standalone_mode:
            sys.exit(code)
        return code


ERROR_FORMATS = ("text", "json")


def error_format_in(argv: Sequence[str], default: str) -> str:
    """``--error-format`` from the command line, read before parsing so that even a
    mistake in the flags is reported in the format asked for."""
    found = default
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--error-format" and index + 1 < len(argv):
            found = argv[index + 1]
        elif arg.startswith("--error-format="):
            found = arg.partition("=")[2]
    found = found.strip().lower()
    return found if found in ERROR_FORMATS else default


ErrorFormatOpt = Annotated[str | None, typer.Option(
    "--error-format", metavar="|".join(ERROR_FORMATS), envvar="RUNDCTL_ERROR_FORMAT",
    help="text (default), or json: every line on stderr is one JSON value (errors as "
    "{\"error\": {...}}).", rich_help_panel="Output", show_default=False)]


def _with_error_format(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Every command accepts --error-format (read early by RundctlGroup; checked here)."""
    import inspect

    sig = inspect.signature(fn, eval_str=True)
    param = inspect.Parameter("error_format", inspect.Parameter.KEYWORD_ONLY, default=None,
                              annotation=ErrorFormatOpt)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        chosen = kwargs.pop("error_format", None)
        if chosen is not None and chosen.strip().lower() not in ERROR_FORMATS:
            raise UsageError(f"--error-format: '{chosen}' is not one of "
                             f"{', '.join(ERROR_FORMATS)}")
        return fn(*args, **kwargs)

    params = [*sig.parameters.values(), param]
    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


class PanelCommand(TyperCommand):
    """Plain (fast, markup-free) help with options grouped into panels: Input, Output, ..."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        groups: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                panel = getattr(param, "rich_help_panel", None) or "Options"
                groups.setdefault(panel, []).append(record)
        order = PANEL_ORDER
        for name in sorted(groups, key=lambda n: order.index(n) if n in order else len(order)):
            with formatter.section(name):
                formatter.write_dl(groups[name])


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A command body as Typer calls it: the active profile applied first, and Ctrl-C or a
    closed pipe carried past click to :func:`guarded`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        deps = current_deps()
        apply_profile(deps, kwargs)
        if "ci_annotations" in kwargs:
            mode = str(kwargs["ci_annotations"]).strip().lower()
            if mode not in ("auto", "off"):
                raise UsageError(f"--ci-annotations: '{kwargs['ci_annotations']}' is not auto "
                                 "or off")
            deps.ci_annotations = mode
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt as exc:
            raise Escalated(exc) from None
        except OutputLost as exc:
            raise Escalated(exc) from None
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise Escalated(exc) from None
            raise

    return wrapper


def _typer(**kw: Any) -> typer.Typer:
    return typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                       rich_markup_mode=None, **kw)


app = _typer(name="rundctl", help=HELP, epilog=EPILOG, cls=RundctlGroup,
             context_settings={"help_option_names": ["-h", "--help"]})


def _register(target: typer.Typer, name: str, fn: Callable[..., Any]) -> None:
    target.command(name, cls=PanelCommand)(command(_with_error_format(fn)))


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"rundctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Create and inspect runs of Microsoft Graph industry-data flows (School Data Sync)."""


COMMANDS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("create", run_cmds.create),
    ("validate", run_cmds.validate),
    ("list", run_cmds.list_),
    ("get", run_cmds.get),
    ("update", run_cmds.update),
    ("wait", run_cmds.wait),
    ("stats", run_cmds.stats),
    ("activities", run_cmds.activities),
    ("start", run_cmds.start),
    ("api", api_cmds.api),
    ("sandbox", sandbox_cmds.sandbox),
    ("completion", tool_cmds.completion),
    ("version", tool_cmds.version),
    ("help", tool_cmds.help_),
    ("schema", tool_cmds.schema),
    ("doctor", tool_cmds.doctor),
)
GROUPS: tuple[tuple[str, str, tuple[tuple[str, Callable[..., Any]], ...]], ...] = (
    ("flows", "Inbound flows (published API).",
     (("list", flows_cmds.flows_list), ("get", flows_cmds.flows_get))),
    ("auth", "Sign in, see which credential wins, sign out.",
     (("status", auth_cmds.auth_status), ("login", auth_cmds.auth_login),
      ("logout", auth_cmds.auth_logout))),
    ("config", "Settings profiles in config.toml.",
     (("list", config_cmds.config_list), ("get", config_cmds.config_get),
      ("set", config_cmds.config_set), ("unset", config_cmds.config_unset),
      ("path", config_cmds.config_path))),
)

for _name, _fn in COMMANDS:
    _register(app, _name, _fn)
for _name, _help, _subs in GROUPS:
    _sub = _typer(help=_help)
    for _sub_name, _fn in _subs:
        _register(_sub, _sub_name, _fn)
    app.add_typer(_sub, name=_name)


def only_invoked(full: typer.Typer, argv: Sequence[str]) -> typer.Typer:
    """A copy of *full* holding just the command (or group) that *argv* names first."""
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is None or any(a in ("-h", "--help", "--version")
                            for a in argv[: list(argv).index(first)]):
        return full
    chosen = [c for c in full.registered_commands if c.name == first]
    groups = [g for g in full.registered_groups if g.name == first]
    if not chosen and not groups:
        return full
    narrow = copy.copy(full)
    narrow.registered_commands = chosen
    narrow.registered_groups = groups
    return narrow


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``rundctl`` program: run the command named in *argv* and exit with its status."""
    args = list(sys.argv[1:] if argv is None else argv)
    install_signal_handlers()
    if os.environ.get("_RUNDCTL_COMPLETE"):  # TAB pressed: register the shells' completers
        from rundctl.cli.completion_shells import install

        install()
    only_invoked(app, args)(args=args, prog_name="rundctl")
    raise SystemExit(0)  # not reached: RundctlGroup.main exits
