"""TAB completion: shipped scripts are current, and bash really completes (no network)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rundctl.cli.tools import COMPLETION_FILES
from tests.conftest import FLOW, invoke

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
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
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
    from typer._completion_classes import completion_init

    completion_init()  # what rundctl's main() does when _RUNDCTL_COMPLETE is set
    parts = words.split(" ")
    env = {"_RUNDCTL_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(parts) - 1)}
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    res = invoke([], env=env)
    assert res.exit_code == 0, res.stderr
    return [line for line in res.stdout.splitlines() if line]


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


@pytest.mark.xfail(strict=True, reason="the completers match any case (complete_from, "
                   "_complete_recent), but Typer filters their answers again with a "
                   "case-sensitive startswith, so TAB on upper case offers nothing")
def test_tab_matches_any_case_as_the_completers_promise(tmp_path) -> None:
    from rundctl import recent

    cache = tmp_path / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(cache))
        recent.remember("flows", FLOW)
    assert complete("rundctl list --status RUN") == ["running"]
    assert complete("rundctl list --flow 1B4", cache) == [FLOW]


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
    assert saved == {"flows": [FLOW], "runs": [run_id]}
    assert complete("rundctl wait ", cache) == [run_id]


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
