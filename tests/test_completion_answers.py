"""What rundctl answers a TAB in each shell's protocol, in-process: descriptions as written,
nothing that could steer a terminal, the instruction an older zsh script sends, and a TAB
that stays light (no rich, no network modules)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.test_completion_support import answers

PROFILE_HELP = "Settings from [profiles.NAME] in config.toml (flag > env > profile > default)."
RUN = "3f1c1e9a-1f2b-4c8d-9e0f-123456789abc"


@pytest.mark.parametrize(("shell", "line"), [
    ("zsh", f"--profile\t{PROFILE_HELP}"),
    ("fish", f"--profile\t{PROFILE_HELP}"),
    ("powershell", f"--profile:::{PROFILE_HELP}"),
    ("bash", "--profile"),
])
def test_help_texts_keep_their_brackets(shell, line) -> None:
    assert answers("rundctl list --pro", shell) == [line]


def test_long_help_texts_stay_on_one_line() -> None:
    # rich used to wrap at 80 columns: fish took the rest of the line for a candidate
    for shell in ("zsh", "fish"):
        offered = answers("rundctl list --", shell)
        assert all(line.startswith("--") and line.count("\t") == 1 for line in offered), offered
        assert ("--ci-annotations\tIn GitHub Actions, also report errors and failed waits as "
                "::error:: annotations and in the step summary.") in offered


def test_names_cannot_steer_the_terminal(tmp_path) -> None:
    from rundctl import recent

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path))
        recent.remember("runs", RUN, name="a\x1b]0;owned\x07b\u202ec\nd")
        recent.remember("runs", "bad\nid", name="x")
        recent.remember("runs", "3f-tab\tid")
    for shell in ("zsh", "fish"):
        assert answers("rundctl get 3", shell, tmp_path) == [
            f"{RUN}\ta\\x1b]0;owned\\x07b\\u202ec d"]
    assert answers("rundctl get 3", "powershell", tmp_path) == [
        f"{RUN}:::a\\x1b]0;owned\\x07b\\u202ec d"]
    assert answers("rundctl get ", "bash", tmp_path) == [RUN]


def test_descriptions_are_plain_one_line_and_bounded() -> None:
    from rundctl.cli.completion_shells import DESCRIPTION_LIMIT, description

    assert description(None) == "" and description("") == ""
    assert description("  a\n\n b\tc  ") == "a b c"
    assert description("[bold]x[/bold] [default: 1]") == "[bold]x[/bold] [default: 1]"
    long = description("y" * 1000)
    assert len(long) == DESCRIPTION_LIMIT and long.endswith("…")


def test_an_older_zsh_script_still_gets_typers_answer() -> None:
    # A _rundctl made by an earlier rundctl asks complete_zsh and evals what comes back.
    from rundctl.cli.completion_shells import install
    from tests.conftest import invoke

    install()
    res = invoke([], env={"_RUNDCTL_COMPLETE": "complete_zsh",
                          "_TYPER_COMPLETE_ARGS": "rundctl li"})
    assert res.stdout.startswith("_arguments '*: :((\"list\":")


def test_the_source_instruction_prints_the_shipped_scripts() -> None:
    from rundctl.cli.completion_shells import FISH_SCRIPT, ZSH_SCRIPT, install
    from tests.conftest import invoke

    install()
    install()  # twice: the same classes
    for shell, text in (("zsh2", ZSH_SCRIPT), ("fish", FISH_SCRIPT)):
        res = invoke([], env={"_RUNDCTL_COMPLETE": f"source_{shell}"})
        assert res.stdout == text + "\n"


def test_completion_script_is_the_shells_script() -> None:
    from rundctl.cli.completion_shells import FISH_SCRIPT, ZSH_SCRIPT
    from rundctl.cli.tools import completion_script

    assert completion_script("zsh") == ZSH_SCRIPT
    assert completion_script("fish") == FISH_SCRIPT
    assert completion_script("bash").startswith("_rundctl_completion() {")
    assert completion_script("bash").endswith("rundctl\n")
    assert "Register-ArgumentCompleter" in completion_script("powershell")


def test_a_tab_imports_neither_rich_nor_the_network_modules() -> None:
    code = (
        "import sys, typer._completion_classes as classes\n"
        "from rundctl.cli import completion_shells\n"
        "classes.completion_init = completion_shells.install\n"
        "from rundctl.app import main\n"
        "try:\n    main(['list', '--'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('rich', 'requests', 'azure.identity', 'sqlite3') if m in sys.modules]\n"
        "sys.stderr.write(repr(heavy))\n"
    )
    env = dict(os.environ, _RUNDCTL_COMPLETE="complete_fish",
               _TYPER_COMPLETE_FISH_ACTION="get-args", _TYPER_COMPLETE_ARGS="rundctl list --pro")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.stderr.strip() == "[]", proc.stderr
    assert proc.stdout == f"--profile\t{PROFILE_HELP}\n"
