"""``rundctl help COMMAND``: cli/helpcmd.command_help renders what ``rundctl COMMAND --help``
prints, and TAB after ``rundctl help`` offers topics and command names."""

from __future__ import annotations

import pytest

from rundctl.cli.helpcmd import command_help
from tests.conftest import run_exe
from tests.test_completion_support import answers


@pytest.mark.parametrize("name", ["list", "create", "flows list", "flows", "config set",
                                  "auth status", "help", "completion"])
def test_command_help_is_what_dash_dash_help_prints(name) -> None:
    res = run_exe([*name.split(), "--help"], env={"COLUMNS": "80"})
    assert res.returncode == 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COLUMNS", "80")
        assert command_help(name) == res.stdout.rstrip("\n")


def test_command_help_takes_any_case_and_a_leading_rundctl() -> None:
    assert command_help("rundctl FLOWS  Get") == command_help("flows get")
    text = command_help("flows get")
    assert text is not None and text.startswith("Usage: rundctl flows get [OPTIONS] {ID}")


@pytest.mark.parametrize("name", ["", "  ", "rundctl", "nope", "flows nope", "list extra",
                                  "--help", "list --help", "exit-codes"])
def test_command_help_is_none_for_what_is_no_command(name) -> None:
    assert command_help(name) is None


def test_tab_after_help_can_offer_topics_and_commands() -> None:
    from rundctl.cli.complete import complete_help

    assert complete_help("e") == ["exit-codes", "environment"]
    assert complete_help("C") == ["ci", "create", "completion", "config"]
    assert complete_help("fl") == ["flows"]
    # what 'rundctl help' offers today (cli/tools.py uses complete_topic)
    assert answers("rundctl help c") in (["ci"], ["ci", "create", "completion", "config"])
