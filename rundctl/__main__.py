"""Entry point: ``rundctl`` and ``python -m rundctl``.

Handles what happens outside a command body: usage errors (exit 2, in rundctl's error
format), Ctrl-C during start-up (130), a closed stdout (141) and unexpected bugs (exit 1,
no traceback, nothing secret printed).
"""

from __future__ import annotations

import os
import sys
from typing import Any


def _utf8_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and (stream.encoding or "").lower() not in ("utf-8", "utf8"):
            try:
                reconfigure(encoding="utf-8", errors="replace")
            except (ValueError, OSError):
                pass


def _only_invoked_command(app: Any, argv: list[str]) -> Any:
    """A copy of *app* holding just the command being run.

    Typer builds a click command for every registered command on each start; building only
    the one invoked keeps start-up flat as commands are added. ``rundctl``, ``--help`` and
    unknown names still get the full app (for the command list and "did you mean").
    """
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is None or any(a in ("-h", "--help", "--version") for a in argv[: argv.index(first)]):
        return app
    chosen = [c for c in app.registered_commands if (c.name or c.callback.__name__) == first]
    groups = [g for g in app.registered_groups if g.name == first]
    if not chosen and not groups:
        return app
    import copy

    narrow = copy.copy(app)
    narrow.registered_commands = chosen
    narrow.registered_groups = groups
    return narrow


def main(argv: list[str] | None = None) -> None:
    _utf8_streams()
    try:
        from typer import exceptions as typer_exc
        from typer._click import exceptions as click_exc

        from rundctl.cli import app

        if os.environ.get("_RUNDCTL_COMPLETE"):  # TAB pressed: register the shells' completers
            from typer._completion_classes import completion_init

            completion_init()

        try:
            args = sys.argv[1:] if argv is None else argv
            target = _only_invoked_command(app, args)
            result = target(args=args, prog_name="rundctl", standalone_mode=False)
        except click_exc.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(2)
        except click_exc.UsageError as exc:
            msg = exc.format_message()
            sys.stderr.write(f"rundctl: error: {msg}\n")
            cmd = exc.ctx.command_path if exc.ctx is not None else "rundctl"
            sys.stderr.write(f"hint: see '{cmd} --help'\n")
            sys.exit(2)
        except click_exc.ClickException as exc:
            sys.stderr.write(f"rundctl: error: {exc.format_message()}\n")
            sys.exit(exc.exit_code)
        except typer_exc.Abort:
            sys.stderr.write("rundctl: interrupted\n")
            sys.exit(130)
        sys.stdout.flush()
        sys.exit(result if isinstance(result, int) else 0)
    except KeyboardInterrupt:
        sys.stderr.write("rundctl: interrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(141)
    except SystemExit:
        raise
    except Exception as exc:  # a bug: say so plainly, never dump locals or secrets
        from rundctl.redact import safe_message

        sys.stderr.write(
            f"rundctl: error: internal error (a bug): {type(exc).__name__}: "
            f"{safe_message(str(exc))}\n"
            "hint: please report it with the command you ran (run with --debug for details)\n"
        )
        if os.environ.get("RUNDCTL_TRACEBACK") == "1":
            import traceback

            sys.stderr.write(safe_message(traceback.format_exc()))
        sys.exit(1)


if __name__ == "__main__":
    main()
