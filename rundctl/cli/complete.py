"""TAB completion: every completer of the command line, local only (never the network).

Choices come from :mod:`rundctl.vocab`; recently used IDs from :mod:`rundctl.recent`.
"""

from __future__ import annotations

from collections.abc import Callable

from rundctl import vocab


def complete_from(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    """A completer offering *choices* that start with what was typed (any case)."""

    def complete(incomplete: str) -> list[str]:
        low = incomplete.lower()
        return [c for c in choices if c.lower().startswith(low)]

    return complete


def _complete_recent(kind: str) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        from rundctl.recent import recent

        return [i for i in recent(kind) if i.startswith(incomplete.lower())]

    return complete


def complete_profile(incomplete: str) -> list[str]:
    """Profile names from config.toml."""
    import os

    from rundctl import config

    try:
        names = list(config.load(os.environ).profiles)
    except Exception:  # a broken config.toml must never break TAB
        return []
    return [n for n in names if n.startswith(incomplete)]


complete_status = complete_from(vocab.RUN_STATUSES)
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
