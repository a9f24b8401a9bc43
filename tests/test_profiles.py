"""Config profiles drive commands: flag > environment > profile > default (in-process)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import FLOW, invoke
from tests.test_inproc_support import local_sandbox


@pytest.fixture
def url() -> Iterator[str]:
    with local_sandbox() as base:
        yield base


def test_a_default_profile_drives_list_with_no_other_flags(url, tmp_path) -> None:
    cfg = tmp_path / "cfg"
    env = {"RUNDCTL_CONFIG_DIR": str(cfg)}
    for key, value in (("endpoint", url), ("flow", FLOW), ("output", "id")):
        done = invoke(["config", "set", key, value], env=env)
        assert done.exit_code == 0, done.stderr
        assert done.stderr == f"rundctl: set {key} in profile default ({cfg / 'config.toml'})\n"
    made = invoke(["create", "-n", "from profile", "--start", "now", "--status", "running",
                   "--stat", "a=1"], env=env)
    assert made.exit_code == 0, made.stderr
    listed = invoke(["list"], env=env)
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.split() == [made.stdout.strip()]
    shown = invoke(["config", "list", "--show-origin"], env=env)
    path = str(cfg / "config.toml")
    lines = dict(line.split("=", 1) for line in shown.stdout.splitlines())
    for key in ("endpoint", "flow", "output"):
        assert f"profile default ({path})" in lines[key]
    assert lines["cloud"].endswith("# default")


def test_flag_beats_environment_beats_profile(url, tmp_path) -> None:
    env = {"RUNDCTL_CONFIG_DIR": str(tmp_path)}
    invoke(["config", "set", "output", "tsv", "--profile", "lab"], env=env)
    invoke(["config", "set", "endpoint", url, "--profile", "lab"], env=env)
    invoke(["config", "set", "flow", FLOW, "--profile", "lab"], env=env)
    base = ["list", "--profile", "lab"]
    tsv = invoke(base, env=env)
    assert tsv.exit_code == 0 and tsv.stdout == ""  # tsv of an empty list
    assert json.loads(invoke(base, env={**env, "RUNDCTL_OUTPUT": "json"}).stdout) == []
    assert invoke([*base, "-o", "ndjson"], env={**env, "RUNDCTL_OUTPUT": "json"}).stdout == ""
    origin = invoke(["config", "list", "--show-origin", "--profile", "lab", "-o", "table"],
                    env={**env, "RUNDCTL_OUTPUT": "json"})
    assert "output=json\t# env RUNDCTL_OUTPUT" in origin.stdout
    from_env = invoke(["list"], env={**env, "RUNDCTL_PROFILE": "lab"})
    assert from_env.exit_code == 0 and from_env.stdout == ""


def test_unknown_profile_and_secret_keys_are_refused(tmp_path) -> None:
    env = {"RUNDCTL_CONFIG_DIR": str(tmp_path)}
    (tmp_path / "config.toml").write_text('[profiles.lab]\nclient_secret = "hunter2"\n')
    res = invoke(["list", "--profile", "lab"], env=env)
    assert res.exit_code == 2 and "secrets do not belong" in res.stderr
    assert "hunter2" not in res.stderr
    (tmp_path / "config.toml").write_text('[profiles.lab]\noutput = "json"\n')
    missing = invoke(["list", "--profile", "lba"], env=env)
    assert missing.exit_code == 2 and "lab" in missing.stderr


def test_config_get_unset_and_path(tmp_path) -> None:
    env = {"RUNDCTL_CONFIG_DIR": str(tmp_path)}
    assert invoke(["config", "path"], env=env).stdout == f"{tmp_path / 'config.toml'}\n"
    assert invoke(["config", "get", "timeout"], env=env).stdout == ""  # no file yet
    assert invoke(["config", "set", "timeout", "90s", "--profile", "ci"], env=env).exit_code == 0
    assert invoke(["config", "get", "timeout", "--profile", "ci"], env=env).stdout == "90s\n"
    assert invoke(["config", "get", "timeout"], env=env).stdout == ""  # only in profile ci
    gone = invoke(["config", "unset", "timeout", "--profile", "ci"], env=env)
    assert gone.exit_code == 0 and gone.stderr == "rundctl: removed timeout in profile ci\n"
    again = invoke(["config", "unset", "timeout", "--profile", "ci"], env=env)
    assert again.exit_code == 0 and again.stderr == "rundctl: no timeout in profile ci\n"
    assert invoke(["config", "get", "timeout", "--profile", "ci"], env=env).stdout == ""
    assert "[profiles.ci]" not in (tmp_path / "config.toml").read_text()


def test_config_set_checks_values_and_refuses_unknown_keys(tmp_path) -> None:
    env = {"RUNDCTL_CONFIG_DIR": str(tmp_path)}
    bad = invoke(["config", "set", "flow", "not-a-guid"], env=env)
    assert bad.exit_code == 2 and "not-a-guid" in bad.stderr
    unknown = invoke(["config", "set", "colour", "blue"], env=env)
    assert unknown.exit_code == 2 and "colour" in unknown.stderr
    assert not (tmp_path / "config.toml").exists() or "blue" not in (
        tmp_path / "config.toml").read_text()


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_config_list_as_json_with_and_without_origins(tmp_path, fmt) -> None:
    env = {"RUNDCTL_CONFIG_DIR": str(tmp_path)}
    invoke(["config", "set", "cloud", "usgov"], env=env)
    plain = json.loads(invoke(["config", "list", "-o", fmt], env=env).stdout)
    assert plain["cloud"] == "usgov" and plain["timeout"] == "120" and plain["flow"] is None
    origins = json.loads(invoke(["config", "list", "--show-origin", "-o", fmt], env=env).stdout)
    assert origins["cloud"] == {"value": "usgov",
                                "origin": f"profile default ({tmp_path / 'config.toml'})"}
    assert origins["auth"]["origin"] == "default"


def test_config_list_without_origins_marks_unset_values(tmp_path) -> None:
    res = invoke(["config", "list", "-o", "table"], env={"RUNDCTL_CONFIG_DIR": str(tmp_path)})
    lines = dict(line.split("=", 1) for line in res.stdout.splitlines())
    assert lines["flow"] == "(unset)" and lines["cloud"] == "global"
    assert "#" not in res.stdout
