"""Config profiles drive commands: flag > environment > profile > default."""

from __future__ import annotations

import json

from tests.conftest import FLOW, run_exe


def test_a_default_profile_drives_list_with_no_other_flags(sandbox_proc, tmp_path) -> None:
    cfg = tmp_path / "cfg"
    env = {"RUNDCTL_CONFIG_DIR": str(cfg)}
    for key, value in (("endpoint", sandbox_proc.url), ("flow", FLOW), ("output", "id")):
        done = run_exe(["config", "set", key, value], env=env)
        assert done.returncode == 0, done.stderr
    made = run_exe(["create", "-n", "from profile", "--start", "now", "--status", "running",
                    "--stat", "a=1"], env=env)
    assert made.returncode == 0, made.stderr
    listed = run_exe(["list"], env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == [made.stdout.strip()]
    shown = run_exe(["config", "list", "--show-origin"], env=env)
    path = str(cfg / "config.toml")
    lines = dict(line.split("=", 1) for line in shown.stdout.splitlines())
    for key in ("endpoint", "flow", "output"):
        assert f"profile default ({path})" in lines[key]
    assert lines["cloud"].endswith("# default")


def test_flag_beats_environment_beats_profile(sandbox_proc, tmp_path) -> None:
    env = {"RUNDCTL_CONFIG_DIR": str(tmp_path)}
    run_exe(["config", "set", "output", "tsv", "--profile", "lab"], env=env)
    run_exe(["config", "set", "endpoint", sandbox_proc.url, "--profile", "lab"], env=env)
    run_exe(["config", "set", "flow", FLOW, "--profile", "lab"], env=env)
    base = ["list", "--profile", "lab"]
    assert run_exe(base, env=env).stdout == ""  # tsv of an empty list
    assert json.loads(run_exe(base, env={**env, "RUNDCTL_OUTPUT": "json"}).stdout) == []
    assert run_exe([*base, "-o", "ndjson"], env={**env, "RUNDCTL_OUTPUT": "json"}).stdout == ""
    origin = run_exe(["config", "list", "--show-origin", "--profile", "lab", "-o", "table"],
                     env={**env, "RUNDCTL_OUTPUT": "json"})
    assert "output=json\t# env RUNDCTL_OUTPUT" in origin.stdout


def test_unknown_profile_and_secret_keys_are_refused(tmp_path) -> None:
    env = {"RUNDCTL_CONFIG_DIR": str(tmp_path)}
    (tmp_path / "config.toml").write_text('[profiles.lab]\nclient_secret = "hunter2"\n')
    proc = run_exe(["list", "--profile", "lab"], env=env)
    assert proc.returncode == 2 and "secrets do not belong" in proc.stderr
    assert "hunter2" not in proc.stderr
    (tmp_path / "config.toml").write_text('[profiles.lab]\noutput = "json"\n')
    missing = run_exe(["list", "--profile", "lba"], env=env)
    assert missing.returncode == 2 and "lab" in missing.stderr
