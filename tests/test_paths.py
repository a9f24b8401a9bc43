"""One place decides where rundctl's files live: config.toml and the login record agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from rundctl import auth, paths
from tests.conftest import invoke


def _login_record_lands_with_config(env: dict[str, str], expected_dir: Path) -> None:
    """config.toml (config set) and the login record (auth logout) use the same folder."""
    res = invoke(["config", "set", "endpoint", "sandbox"], env=env)
    assert res.exit_code == 0, res.stderr
    assert (expected_dir / "config.toml").is_file()
    (expected_dir / auth.RECORD_FILE).write_text("{}", encoding="utf-8")
    out = invoke(["auth", "logout"], env=env)
    assert out.exit_code == 0
    assert "signed out" in out.stderr
    assert not (expected_dir / auth.RECORD_FILE).exists()
    assert invoke(["config", "path"], env=env).stdout.strip() == str(expected_dir / "config.toml")


def test_tilde_in_config_dir_means_home_for_config_and_login(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "RUNDCTL_CONFIG_DIR": "~/cfg"}
    _login_record_lands_with_config(env, home / "cfg")
    assert not (tmp_path / "~").exists()  # never a literal '~' folder


def test_relative_xdg_config_home_is_ignored_by_both(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNDCTL_CONFIG_DIR")
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "XDG_CONFIG_HOME": "rel/dir"}
    _login_record_lands_with_config(env, home / ".config" / "rundctl")
    assert not (tmp_path / "rel").exists()


def test_home_moves_config_and_login_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNDCTL_CONFIG_DIR")
    monkeypatch.delenv("XDG_CONFIG_HOME")
    other = tmp_path / "other"
    other.mkdir()
    _login_record_lands_with_config({"HOME": str(other)}, other / ".config" / "rundctl")


def test_every_location_follows_the_given_environment(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": "relative", "XDG_CACHE_HOME": str(tmp_path / "c")}
    assert paths.data_dir(env) == tmp_path / ".local" / "share" / "rundctl"
    assert paths.sandbox_db(env) == tmp_path / ".local" / "share" / "rundctl" / "sandbox.db"
    assert paths.recent_file(env) == tmp_path / "c" / "rundctl" / "recent.json"
    assert paths.sandbox_db({**env, "RUNDCTL_SANDBOX_DB": "~/s.db"}) == tmp_path / "s.db"
    assert paths.sandbox_db({"RUNDCTL_SANDBOX_DB": ":memory:"}) == Path(":memory:")
