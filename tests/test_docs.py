"""Docs that cannot drift: every command has a summary, a paragraph and examples, and the
README names it; `rundctl --help` lists the exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.main import get_command

from rundctl.app import app
from rundctl.errors import EXIT_CODE_TABLE
from tests.conftest import invoke, run_exe

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def all_commands() -> list[tuple[str, object]]:
    found = []

    def walk(cmd: object, path: str) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, f"{path} {name}".strip())
        else:
            found.append((path, cmd))

    walk(get_command(app), "")
    return found


COMMANDS = all_commands()


def test_the_command_list_is_complete() -> None:
    names = {name for name, _ in COMMANDS}
    for expected in ("create", "validate", "list", "get", "update", "wait", "stats", "activities",
                     "start", "flows list", "flows get", "auth status", "auth login",
                     "auth logout", "config list", "config set", "completion", "help",
                     "version", "doctor", "schema", "sandbox"):
        assert expected in names


@pytest.mark.parametrize(("name", "cmd"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_has_summary_paragraph_and_examples(name, cmd) -> None:
    text = cmd.help or ""
    lines = text.strip().splitlines()
    assert lines and lines[0].strip(), f"{name}: no one-line summary"
    assert len(lines[0]) <= 100
    paragraphs = [p for p in text.split("\n\n")[1:] if p.strip() and "Examples:" not in p]
    assert paragraphs, f"{name}: no paragraph after the summary"
    assert "Examples:" in text, f"{name}: no examples"


@pytest.mark.parametrize("name", [n for n, _ in COMMANDS])
def test_every_command_appears_in_the_readme(name) -> None:
    assert f"rundctl {name}" in README, f"README does not mention `rundctl {name}`"


def test_root_help_lists_every_exit_code() -> None:
    out = run_exe(["--help"]).stdout
    for code, _, _ in EXIT_CODE_TABLE:
        assert f"  {code:>3}  " in out


def test_doctor_against_the_sandbox_reports_all_pass(tmp_path) -> None:
    import json

    proc = run_exe(["doctor", "--endpoint", "sandbox", "-o", "json"],
                   env={"RUNDCTL_SANDBOX_DB": str(tmp_path / "d.db")})
    assert proc.returncode == 0, proc.stdout
    assert {c["status"] for c in json.loads(proc.stdout)} == {"pass"}


def test_doctor_against_an_unreachable_endpoint_names_the_failing_check() -> None:
    res = invoke(["doctor", "--endpoint", "http://127.0.0.1:9", "-o", "table"])
    assert res.exit_code == 8
    assert "fail  reachability" in res.stdout


def test_no_file_in_the_repository_points_outside_it() -> None:
    """A person who clones rundctl has only the repository: no reference to inputs beyond it."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=root,
                             capture_output=True, text=True, check=True).stdout.split()
    # Built from parts, so this test names none of them itself.
    needles = tuple(a + b for a, b in (("../", "shared"), ("SPEC", ".md"), ("GRAPH", ".md"),
                                       ("SPEC", " §"), ("GRAPH", " §")))
    offenders = []
    for name in tracked:
        path = root / name
        if not path.is_file() or path.suffix in (".pyc", ".db"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        offenders += [f"{name}: {n}" for n in needles if n in text]
    assert offenders == []
