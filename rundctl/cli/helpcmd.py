"""``rundctl help COMMAND``: the ``--help`` page of a command, by name.

The app is imported when a page is asked for (this module is imported by ``rundctl help``
itself), and only the command or group named first is built, as for ``rundctl NAME --help``.
"""

from __future__ import annotations


def command_help(name: str) -> str | None:
    """The help of the command *name* (``list``, ``flows list``, ``flows``; a leading
    ``rundctl`` is allowed, any case) exactly as ``rundctl NAME --help`` prints it, without
    the final newline; None when no command has that name."""
    words = [w.lower() for w in name.split()]
    if words[:1] == ["rundctl"]:
        words = words[1:]
    if not words or any(w.startswith("-") for w in words):
        return None
    from typer.main import get_command

    from rundctl.app import app, only_invoked

    command = get_command(only_invoked(app, words[:1]))
    ctx = command.make_context("rundctl", [], resilient_parsing=True)
    for word in words:
        get_sub = getattr(command, "get_command", None)
        sub = get_sub(ctx, word) if get_sub is not None else None
        if sub is None or getattr(sub, "hidden", False):
            return None
        command = sub
        ctx = command.make_context(word, [], parent=ctx, resilient_parsing=True)
    return command.get_help(ctx)
