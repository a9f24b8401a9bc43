"""TAB completion: shipped scripts are current, and bash really completes (no network)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rundctl.cli.tools import COMPLETION_FILES
from tests.conftest import FLOW, invoke, run_exe

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
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    made = run_exe(["validate", "-n", "x", "--start", "now", "--status", "running", "--stat",
                    "a=1"], env=env)
    assert made.returncode == 0
    run_exe(["create", "--flow", FLOW, "--endpoint", "sandbox", "-n", "x", "--start", "now",
             "--status", "running", "--stat", "a=1", "-o", "none"],
            env={**env, "RUNDCTL_SANDBOX_DB": str(tmp_path / "s.db")})
    assert bash_complete("rundctl list --flow 1b4", tmp_path) == [FLOW]
