"""TAB completion: shipped scripts are current, and bash really completes (no network)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import pytest
import typer

from rundctl import vocab
from rundctl.cli.complete import complete_config_value, complete_profile_key
from rundctl.cli.tools import COMPLETION_FILES
from tests.conftest import FLOW, invoke
from tests.test_completion_support import answers, bin_dir

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("shell", sorted(COMPLETION_FILES))
def test_shipped_completions_equal_what_the_app_generates(shell) -> None:
    res = invoke(["completion", shell])
    assert res.exit_code == 0
    shipped = (ROOT / "completions" / COMPLETION_FILES[shell]).read_text()
    assert shipped == res.stdout, f"completions/{COMPLETION_FILES[shell]} is stale: regenerate it"


def bash_complete(words: str, home: Path) -> list[str]:
    script = f"""
source {ROOT / "completions" / "rundctl.bash"}
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
[[ "{words}" == *" " ]] && COMP_WORDS+=("") && COMP_CWORD=$(( COMP_CWORD + 1 ))
_rundctl_completion rundctl
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    env = dict(os.environ, PATH=f"{bin_dir()}:{Path(sys.executable).parent}:{os.environ['PATH']}",
               HOME=str(home), XDG_CACHE_HOME=str(home / "cache"))
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    return [line for line in out.stdout.splitlines() if line]


def test_bash_completes_commands(tmp_path) -> None:
    assert bash_complete("rundctl cre", tmp_path) == ["create"]
    assert "flows" in bash_complete("rundctl fl", tmp_path)


def test_bash_completes_status_values(tmp_path) -> None:
    got = bash_complete("rundctl list --status comp", tmp_path)
    assert got == ["completed", "completedWithErrors", "completedWithWarnings"]


def test_bash_completes_output_formats_and_flags(tmp_path) -> None:
    assert bash_complete("rundctl get -o nd", tmp_path) == ["ndjson"]
    assert "--parallel" in bash_complete("rundctl create --par", tmp_path)


def test_bash_completes_recent_flow_ids_from_the_local_cache(tmp_path) -> None:
    # The cache is written in-process; the real bash then completes from it via the binary.
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    made = invoke(["create", "--flow", FLOW, "--endpoint", "sandbox", "-n", "x", "--start", "now",
                   "--status", "running", "--stat", "a=1", "-o", "none"],
                  env={**env, "RUNDCTL_SANDBOX_DB": str(tmp_path / "s.db")})
    assert made.exit_code == 0, made.stderr
    assert bash_complete("rundctl list --flow 1b4", tmp_path) == [FLOW]


# -- in-process: what TAB offers, through click's completion protocol --------------------


def complete(words: str, cache: Path | None = None) -> list[str]:
    """What ``rundctl`` prints for a TAB press on *words* (bash protocol), run in-process."""
    return answers(words, "bash", cache)


@pytest.mark.parametrize(("words", "offered"), [
    ("rundctl cre", ["create"]),
    ("rundctl list --status comp", ["completed", "completedWithErrors", "completedWithWarnings"]),
    ("rundctl get -o nd", ["ndjson"]),
    ("rundctl list --cloud u", ["usgov"]),
    ("rundctl list --auth work", ["workload-identity"]),
    ("rundctl wait --fail-on w", ["warnings"]),
    ("rundctl config set cl", ["cloud", "client_id"]),
    ("rundctl help e", ["exit-codes", "environment"]),
    ("rundctl completion p", ["powershell"]),
    ("rundctl list --ci-annotations o", ["off"]),
])
def test_tab_offers_the_vocabulary_that_matches(words, offered) -> None:
    assert complete(words) == offered


def test_tab_matches_any_case_as_the_completers_promise(tmp_path) -> None:
    # Typer filters the completers' answers again with value.startswith(typed); the answers
    # are Choice strings, whose startswith ignores case too.
    from rundctl import recent

    cache = tmp_path / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(cache))
        recent.remember("flows", FLOW)
    assert complete("rundctl list --status RUN") == ["running"]
    assert complete("rundctl list --status COMPLETEDW") == ["completedWithErrors",
                                                             "completedWithWarnings"]
    assert complete("rundctl list --flow 1B4", cache) == [FLOW]
    assert complete("rundctl list -o JS") == ["json"]
    # command and option names are click's: they match only in their own case
    assert complete("rundctl LI") == []
    assert complete("rundctl list --STATUS") == []


def test_a_choice_is_a_plain_string_that_matches_any_case() -> None:
    from rundctl.cli.complete import Choice

    value = Choice("completedWithErrors")
    assert value == "completedWithErrors" and f"{value}" == "completedWithErrors"
    assert value.startswith("COMPLETEDw") and value.startswith(("x", "comp"))
    assert not value.startswith("failed")
    assert value.startswith("with", 9) and not value.startswith("with", 10)


def test_tab_offers_recent_flow_and_run_ids_newest_first(tmp_path) -> None:
    from rundctl import recent

    cache = tmp_path / "cache"
    runs = ["3f1c1e9a-1f2b-4c8d-9e0f-123456789abc", "3f00000a-1f2b-4c8d-9e0f-123456789abc"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(cache))
        recent.remember("flows", FLOW)
        recent.remember("runs", *runs)
        assert recent.recent("runs") == runs
    assert complete("rundctl get 3f", cache) == runs
    assert complete("rundctl get 3f1", cache) == runs[:1]
    assert complete("rundctl list --flow 1b4", cache) == [FLOW]
    assert complete("rundctl list --flow 2", cache) == []


def test_commands_remember_the_ids_they_used(tmp_path) -> None:
    from tests.test_inproc_support import local_sandbox

    cache = tmp_path / "cache"
    with local_sandbox() as url:
        made = invoke(["create", "--flow", FLOW, "--endpoint", url, "-n", "x", "--start", "now",
                       "--status", "running", "--stat", "a=1", "-o", "id"],
                      env={"XDG_CACHE_HOME": str(cache)})
        run_id = made.stdout.strip()
        got = invoke(["get", run_id, "--endpoint", url], env={"XDG_CACHE_HOME": str(cache)})
        assert got.exit_code == 0
    saved = json.loads((cache / "rundctl" / "recent.json").read_text())
    assert saved["flows"] == [FLOW] and saved["runs"] == [run_id]
    # the run's name, once the commands pass it (cli/context.remember_ids)
    assert saved.get("names", {"runs": {run_id: "x"}}) == {"runs": {run_id: "x"}}
    assert complete("rundctl wait ", cache) == [run_id]
    if "names" in saved:
        assert answers("rundctl wait ", "fish", cache) == [f"{run_id}\tx"]


def test_recent_keeps_the_newest_20_without_duplicates(tmp_path, monkeypatch) -> None:
    from rundctl import recent

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for i in range(25):
        recent.remember("runs", f"id-{i}")
    recent.remember("runs", "id-20", None, "")
    kept = recent.recent("runs")
    assert kept[0] == "id-20" and len(kept) == recent.KEEP == 20
    assert len(set(kept)) == 20 and "id-4" not in kept
    assert kept[1:4] == ["id-24", "id-23", "id-22"]
    recent.remember("runs")  # nothing given: nothing written
    assert recent.recent("runs") == kept
    assert recent.recent("flows") == []


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"runs": "abc", "flows": [1, "f"]}'])
def test_a_damaged_cache_offers_what_it_can_and_is_rewritten(tmp_path, monkeypatch, content) -> None:
    from rundctl import recent

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = tmp_path / "rundctl" / "recent.json"
    path.parent.mkdir()
    path.write_text(content)
    assert recent.recent("runs") == []
    assert recent.recent("flows") == (["f"] if "flows" in content else [])
    recent.remember("runs", "r1")
    assert recent.recent("runs") == ["r1"]


def test_a_cache_that_cannot_be_written_never_fails_a_command(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = invoke(["validate", "-n", "x", "--start", "now", "--status", "running", "--stat", "a=1"],
                 env={"XDG_CACHE_HOME": str(blocker)})
    assert res.exit_code == 0
    from rundctl import recent

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(blocker))  # rundctl/ cannot be made under a file
        recent.remember("flows", FLOW)
        assert recent.recent("flows") == []


@pytest.mark.parametrize("shell", ["BASH", "pwsh"])
def test_completion_takes_shell_names_in_any_case_and_pwsh(shell) -> None:
    res = invoke(["completion", shell])
    assert res.exit_code == 0
    assert "_RUNDCTL_COMPLETE" in res.stdout


def test_an_unknown_shell_is_a_usage_error() -> None:
    res = invoke(["completion", "tcsh"])
    assert res.exit_code == 2
    assert "SHELL: 'tcsh' is not one of bash, zsh, fish, powershell" in res.stderr


# -- the values added to TAB: profiles, sandbox, now, start outcomes, config values ----------


def wired(path: list[str], name: str) -> bool:
    """Whether the option or argument *name* of ``rundctl PATH...`` has a completer."""
    from typer.main import get_command

    from rundctl.app import app

    command = get_command(app)
    for word in path:
        command = command.commands[word]  # type: ignore[attr-defined]
    param = next(p for p in command.params if p.name == name)
    return param._custom_shell_complete is not None


def need_wired(path: list[str], name: str, where: str) -> None:
    if not wired(path, name):
        pytest.xfail(f"rundctl {' '.join(path)}: {name} has no completer yet ({where})")


def write_profiles(text: str) -> None:
    folder = Path(os.environ["RUNDCTL_CONFIG_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(text)


def test_bash_completes_profile_names_from_config_toml(tmp_path) -> None:
    write_profiles('[profiles.lab]\nendpoint = "sandbox"\n\n[profiles.Prod]\ncloud = "usgov"\n')
    assert bash_complete("rundctl list --profile ", tmp_path) == ["lab", "Prod"]
    assert bash_complete("rundctl get --profile p", tmp_path) == ["Prod"]
    assert bash_complete("rundctl config list --profile L", tmp_path) == ["lab"]


def test_a_broken_config_toml_offers_no_profile_and_no_error(tmp_path) -> None:
    write_profiles("[profiles.lab\n")
    assert bash_complete("rundctl list --profile ", tmp_path) == []
    write_profiles('[profiles.lab]\ntoken = "x"\n')  # refused by config.load
    assert complete("rundctl list --profile ") == []


def test_bash_completes_sandbox_and_now(tmp_path) -> None:
    assert bash_complete("rundctl list --endpoint s", tmp_path) == ["sandbox"]
    assert bash_complete("rundctl create --start n", tmp_path) == ["now"]
    assert bash_complete("rundctl update --end NO", tmp_path) == ["now"]
    assert bash_complete("rundctl doctor --endpoint ", tmp_path) == ["sandbox"]


def test_bash_completes_a_value_after_opt_equals(tmp_path) -> None:
    # bash splits "--output=js" into "--output", "=" and "js"; the answer replaces "js"
    assert bash_complete("rundctl list --output = js", tmp_path) == ["json"]
    assert bash_complete("rundctl list --output =", tmp_path) == list(vocab.OUTPUT_FORMATS)
    assert complete("rundctl get --status = comp") == []  # get has no --status: nothing


def test_the_final_statuses_for_sandbox_start_outcome(tmp_path) -> None:
    from rundctl.cli.complete import complete_start_outcome

    assert complete_start_outcome("") == ["failed", "completed", "completedWithErrors",
                                          "completedWithWarnings"]
    assert complete_start_outcome("COMPLETEDWITHW") == ["completedWithWarnings"]
    assert complete_start_outcome("run") == []
    need_wired(["sandbox"], "start_outcome", "cli/sandbox.py: autocompletion="
               "complete_start_outcome on --start-outcome")
    assert bash_complete("rundctl sandbox --start-outcome comp", tmp_path) == [
        "completed", "completedWithErrors", "completedWithWarnings"]


CONFIG_VALUES = [
    ("cloud ", ["global", "usgov", "dod", "china", "custom"]),
    ("cloud u", ["usgov"]),
    ("auth work", ["workload-identity"]),
    ("output NDJ", ["ndjson"]),
    ("endpoint ", ["sandbox"]),
    ("flow 1b", [FLOW]),
    ("OUTPUT t", ["table", "tsv"]),
    ("timeout ", []),
    ("tenant ", []),
    ("nonsense ", []),
]


def config_set_like(
    key: Annotated[str, typer.Argument(autocompletion=complete_profile_key)],
    value: Annotated[str, typer.Argument(autocompletion=complete_config_value)],
    profile: Annotated[str, typer.Option()] = "default",
) -> None:
    raise AssertionError("not run when completing")


@pytest.mark.parametrize(("typed", "offered"), CONFIG_VALUES)
def test_config_values_follow_the_key_typed_before_them(tmp_path, typed, offered) -> None:
    # The completer reads KEY from the click context (ctx.params), as Typer passes it; here
    # on a one-command app shaped like 'config set KEY VALUE'.
    from typer.main import get_command

    from rundctl import recent
    from rundctl.cli.completion_shells import BashComplete

    mini = typer.Typer()
    mini.command()(config_set_like)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path))
        recent.remember("flows", FLOW, name="North campus")
        key, _, incomplete = typed.partition(" ")
        shell = BashComplete(get_command(mini), {}, "rundctl", "_RUNDCTL_COMPLETE")
        got = [item.value for item in shell.get_completions(["--profile", "x", key], incomplete)]
    assert got == offered


def test_bash_completes_config_values(tmp_path) -> None:
    from rundctl import recent

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        recent.remember("flows", FLOW)
    need_wired(["config", "set"], "value", "cli/config.py: autocompletion="
               "complete_config_value on VALUE of config set")
    assert bash_complete("rundctl config set cloud u", tmp_path) == ["usgov"]
    assert bash_complete("rundctl config set auth ", tmp_path)[:2] == ["auto", "token"]
    assert bash_complete("rundctl config set flow ", tmp_path) == [FLOW]
    assert bash_complete("rundctl config set endpoint s --profile lab", tmp_path) == []
    assert bash_complete("rundctl config set --profile lab output js", tmp_path) == ["json"]


# -- recent IDs with their names ------------------------------------------------------------

RUN_A = "3f1c1e9a-1f2b-4c8d-9e0f-123456789abc"
RUN_B = "3f00000a-1f2b-4c8d-9e0f-123456789abc"


def test_recent_keeps_names_beside_the_ids(tmp_path, monkeypatch) -> None:
    from rundctl import recent

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    recent.remember("runs", RUN_A, name="Nightly import")
    recent.remember("runs", RUN_B)
    recent.remember("runs", RUN_A)  # no name given: the known one stays
    assert recent.recent("runs") == [RUN_A, RUN_B]
    assert recent.recent_named("runs") == [(RUN_A, "Nightly import"), (RUN_B, None)]
    recent.remember("runs", RUN_B, name="x" * 500)
    assert recent.recent_named("runs")[0] == (RUN_B, "x" * recent.NAME_LIMIT)
    saved = json.loads((tmp_path / "rundctl" / "recent.json").read_text())
    assert saved["runs"] == [RUN_B, RUN_A]
    assert saved["names"] == {"runs": {RUN_B: "x" * 200, RUN_A: "Nightly import"}}
    for i in range(recent.KEEP):  # a name goes with its ID
        recent.remember("runs", f"id-{i}")
    assert json.loads((tmp_path / "rundctl" / "recent.json").read_text()).get("names") is None


def test_a_cache_written_before_names_were_kept_is_read_as_it_is(tmp_path, monkeypatch) -> None:
    from rundctl import recent

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = tmp_path / "rundctl" / "recent.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"flows": [FLOW], "runs": [RUN_B]}))
    assert recent.recent_named("runs") == [(RUN_B, None)]
    recent.remember("runs", RUN_A, name="New")
    saved = json.loads(path.read_text())
    # the ID lists keep their first shape, so an older rundctl still reads them
    assert saved == {"flows": [FLOW], "runs": [RUN_A, RUN_B], "names": {"runs": {RUN_A: "New"}}}


@pytest.mark.parametrize("names", ['"abc"', '{"runs": [1]}', '{"runs": {"a": 1, "b": ""}}'])
def test_damaged_names_are_ignored(tmp_path, monkeypatch, names) -> None:
    from rundctl import recent

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = tmp_path / "rundctl" / "recent.json"
    path.parent.mkdir()
    path.write_text(f'{{"runs": ["a", "b"], "names": {names}}}')
    assert recent.recent_named("runs") == [("a", None), ("b", None)]


NAME = "Nightly [import]: 'a' \"b\" $(x) " + "y" * 80


def test_tab_shows_the_names_of_recent_runs_where_the_shell_can(tmp_path) -> None:
    from rundctl import recent
    from rundctl.cli.complete import DESCRIPTION_LIMIT

    cache = tmp_path / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(cache))
        recent.remember("runs", RUN_B, name="Older\tone")
        recent.remember("runs", RUN_A, name=NAME)
    assert complete("rundctl get 3f", cache) == [RUN_A, RUN_B]  # bash shows values only
    shown = NAME[: DESCRIPTION_LIMIT - 1] + "…"
    assert answers("rundctl get 3f", "zsh", cache) == [f"{RUN_A}\t{shown}", f"{RUN_B}\tOlder one"]
    assert answers("rundctl wait 3f1", "fish", cache) == [f"{RUN_A}\t{shown}"]
