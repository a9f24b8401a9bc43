"""TAB completion: every completer of the command line, local only (never the network).

Choices come from :mod:`rundctl.vocab`; recently used IDs (and the names they were seen with,
shown as descriptions in zsh, fish and PowerShell) from :mod:`rundctl.recent`; profile names
from config.toml. A completer takes what was typed (and, to depend on earlier words, the click
context as ``ctx``) and returns the matching values, or ``(value, description)`` pairs.

Matching ignores case: ``--status RUN`` offers ``running``, and the shell puts ``running`` in
place of ``RUN``. Typer filters a completer's answers once more with a case-sensitive
``value.startswith(typed)``; the values are therefore :class:`Choice` strings, whose
``startswith`` ignores case too. Command and option names still match as typed: click takes
them only in their own case.

How the shells show the answers (scripts and the classes answering them):
:mod:`rundctl.cli.completion_shells`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import SupportsIndex

import typer

from rundctl import vocab

Answer = str | tuple[str, str]
Completer = Callable[[str], list[Answer]]

DESCRIPTION_LIMIT = 60  # characters of a remembered name shown next to an ID


class Choice(str):
    """A completion value whose ``startswith`` ignores case (see the module docstring)."""

    __slots__ = ()

    def startswith(self, prefix: str | tuple[str, ...], start: SupportsIndex | None = None,
                   end: SupportsIndex | None = None) -> bool:
        folded = self.casefold()
        if isinstance(prefix, str):
            return folded.startswith(prefix.casefold(), start, end)
        return folded.startswith(tuple(p.casefold() for p in prefix), start, end)


def matches(typed: str, value: str) -> bool:
    """Whether *value* starts with *typed*, in any case."""
    return value.casefold().startswith(typed.casefold())


def complete_from(choices: tuple[str, ...]) -> Completer:
    """A completer offering *choices* that start with what was typed (any case)."""

    def complete(incomplete: str) -> list[Answer]:
        return [Choice(c) for c in choices if matches(incomplete, c)]

    return complete


def _described(value: str, name: str | None) -> Answer:
    if not name:
        return Choice(value)
    short = " ".join(name.split())
    if len(short) > DESCRIPTION_LIMIT:
        short = short[: DESCRIPTION_LIMIT - 1] + "…"
    return (Choice(value), short)


def _complete_recent(kind: str) -> Completer:
    def complete(incomplete: str) -> list[Answer]:
        from rundctl.recent import recent_named

        return [_described(i, name) for i, name in recent_named(kind) if matches(incomplete, i)]

    return complete


def complete_profile(incomplete: str) -> list[Answer]:
    """Profile names from config.toml."""
    import os

    from rundctl import config

    try:
        names = list(config.load(os.environ).profiles)
    except Exception:  # a broken config.toml must never break TAB
        return []
    return [Choice(n) for n in names if matches(incomplete, n)]


FINAL_STATUSES: tuple[str, ...] = tuple(s for s in vocab.RUN_STATUSES if s != "running")

complete_status = complete_from(vocab.RUN_STATUSES)
complete_start_outcome = complete_from(FINAL_STATUSES)
complete_output = complete_from(vocab.OUTPUT_FORMATS)
complete_cloud = complete_from((*vocab.CLOUD_NAMES, vocab.CUSTOM_CLOUD))
complete_auth = complete_from(vocab.AUTH_MODES)
complete_fail_on = complete_from(vocab.FAIL_ON)
complete_profile_key = complete_from(vocab.PROFILE_KEYS)
complete_topic = complete_from(vocab.HELP_TOPICS)
complete_shell = complete_from(vocab.SHELLS)
complete_endpoint = complete_from(("sandbox",))
complete_time = complete_from(("now",))
complete_flow = _complete_recent("flows")
complete_run = _complete_recent("runs")

CONFIG_VALUES: dict[str, Completer] = {
    "cloud": complete_cloud,
    "auth": complete_auth,
    "output": complete_output,
    "endpoint": complete_endpoint,
    "flow": complete_flow,
}
"""What ``config set KEY VALUE`` offers for VALUE, by KEY (other keys: nothing)."""


def complete_config_value(ctx: typer.Context, incomplete: str) -> list[Answer]:
    """VALUE of ``config set KEY VALUE``: the values of the KEY typed before it."""
    key = ctx.params.get("key")
    completer = CONFIG_VALUES.get(key.strip().lower()) if isinstance(key, str) else None
    return completer(incomplete) if completer is not None else []


def complete_help(incomplete: str) -> list[Answer]:
    """``rundctl help``: the topics, then the names of the commands and groups."""
    from rundctl.app import COMMANDS, GROUPS

    topics = complete_topic(incomplete)
    names = [name for name, _ in COMMANDS] + [name for name, _, _ in GROUPS]
    return [*topics, *(Choice(n) for n in names if matches(incomplete, n))]
