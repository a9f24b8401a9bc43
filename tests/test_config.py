"""rundctl.config: locating, reading, validating and writing config.toml; precedence and origins."""

from __future__ import annotations

import os
import stat
import sys
import tomllib
from pathlib import Path

import pytest

from rundctl import config
from rundctl.config import Setting
from rundctl.errors import ExitCode, UsageError

FLOW = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
OTHER_FLOW = "8c3c1e9a-1f2b-4c8d-9e0f-123456789abc"
POSIX = sys.platform != "win32"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"RUNDCTL_CONFIG_DIR": str(tmp_path / "cfg"), "HOME": str(tmp_path / "home")}


def write(env: dict[str, str], text: str) -> Path:
    path = config.config_path(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def usage_error(excinfo: pytest.ExceptionInfo[UsageError]) -> str:
    assert excinfo.value.exit_code == ExitCode.USAGE
    return f"{excinfo.value.message}\nhint: {excinfo.value.hint}"


# ---------------------------------------------------------------- where the file is


def test_config_dir_precedence(tmp_path: Path) -> None:
    home = str(tmp_path)
    assert config.config_dir({"HOME": home}) == tmp_path / ".config" / "rundctl"
    assert config.config_dir({"HOME": home, "XDG_CONFIG_HOME": "/x/conf"}) == Path("/x/conf/rundctl")
    # relative XDG_CONFIG_HOME is ignored (XDG spec)
    assert config.config_dir({"HOME": home, "XDG_CONFIG_HOME": "rel"}) == tmp_path / ".config" / "rundctl"
    both = {"HOME": home, "XDG_CONFIG_HOME": "/x/conf", "RUNDCTL_CONFIG_DIR": "/y/rd"}
    assert config.config_dir(both) == Path("/y/rd")
    assert config.config_dir({"HOME": home, "RUNDCTL_CONFIG_DIR": "~/rd"}) == tmp_path / "rd"
    assert config.config_path(both) == Path("/y/rd/config.toml")


def test_missing_file_is_empty_config(env: dict[str, str]) -> None:
    cfg = config.load(env)
    assert cfg.profiles == {}
    assert cfg.path == config.config_path(env)
    assert cfg.profile_name(None, env) is None
    assert cfg.profile(None) == {}
    assert not config.config_dir(env).exists()  # reading creates nothing


def test_public_tables_agree() -> None:
    assert set(config.ENV_FOR_KEY) == set(config.PROFILE_KEYS) == set(config.BUILTIN_DEFAULTS)
    assert config.BUILTIN_DEFAULTS["cloud"] == "global"
    assert config.BUILTIN_DEFAULTS["timeout"] == "120"


# ---------------------------------------------------------------- precedence


def test_precedence_flag_env_profile_default(env: dict[str, str]) -> None:
    path = write(
        env,
        f'[profiles.lab]\nendpoint = "https://lab.example/beta"\nflow = "{FLOW}"\n'
        'output = "tsv"\ntimeout = "2m"\n',
    )
    cfg = config.load(env)
    world = {**env, "RUNDCTL_ENDPOINT": "https://env.example", "RUNDCTL_OUTPUT": "ndjson", "RUNDCTL_AUTH": ""}
    flags = {"endpoint": "sandbox", "flow": None, "auth": None}
    got = config.effective(flags, world, cfg, "lab")
    origin = f"profile lab ({path})"
    assert got == {
        "endpoint": Setting("endpoint", "sandbox", "--endpoint flag"),
        "cloud": Setting("cloud", "global", "default"),
        "flow": Setting("flow", FLOW, origin),
        "auth": Setting("auth", "auto", "default"),  # empty env var counts as unset
        "tenant": Setting("tenant", None, "default"),
        "client_id": Setting("client_id", None, "default"),
        "output": Setting("output", "ndjson", "env RUNDCTL_OUTPUT"),
        "timeout": Setting("timeout", "2m", origin),
    }
    assert list(got) == list(config.PROFILE_KEYS)


@pytest.mark.parametrize(
    ("flag", "env_value", "profile_value", "expected"),
    [
        ("F", "E", "P", ("F", "--client-id flag")),
        (None, "E", "P", ("E", "env AZURE_CLIENT_ID")),
        (None, None, "P", ("P", "profile")),
        (None, None, None, (None, "default")),
    ],
)
def test_precedence_table(
    env: dict[str, str],
    flag: str | None,
    env_value: str | None,
    profile_value: str | None,
    expected: tuple[str | None, str],
) -> None:
    values = {"F": OTHER_FLOW, "E": "22222222-2222-2222-2222-222222222222", "P": FLOW}
    if profile_value:
        write(env, f'[profiles.p]\nclient_id = "{values[profile_value]}"\n')
    else:
        write(env, '[profiles.p]\ncloud = "usgov"\n')
    world = dict(env)
    if env_value:
        world["AZURE_CLIENT_ID"] = values[env_value]
    cfg = config.load(world)
    got = config.effective({"client_id": values[flag] if flag else None}, world, cfg, "p")["client_id"]
    value, origin = expected
    assert got.value == (values[value] if value else None)
    assert got.origin.startswith(origin)


def test_effective_without_profile_is_env_and_defaults(env: dict[str, str]) -> None:
    cfg = config.load(env)
    got = config.effective({}, {**env, "AZURE_TENANT_ID": "contoso.onmicrosoft.com"}, cfg, None)
    assert got["tenant"] == Setting("tenant", "contoso.onmicrosoft.com", "env AZURE_TENANT_ID")
    assert got["timeout"] == Setting("timeout", "120", "default")


# ---------------------------------------------------------------- profile selection


@pytest.fixture
def two_profiles(env: dict[str, str]) -> config.Config:
    write(env, '[profiles.default]\ncloud = "usgov"\n\n[profiles.lab]\ncloud = "china"\n')
    return config.load(env)


def test_profile_flag_beats_env_beats_implicit_default(two_profiles: config.Config) -> None:
    cfg = two_profiles
    assert cfg.profile_name("lab", {"RUNDCTL_PROFILE": "default"}) == "lab"
    assert cfg.profile_name(None, {"RUNDCTL_PROFILE": "lab"}) == "lab"
    assert cfg.profile_name(None, {}) == "default"
    assert cfg.profile_name(None, {"RUNDCTL_PROFILE": ""}) == "default"
    assert cfg.profile("lab") == {"cloud": "china"}


def test_no_implicit_profile_without_default(env: dict[str, str]) -> None:
    write(env, '[profiles.lab]\ncloud = "china"\n')
    assert config.load(env).profile_name(None, {}) is None


def test_unknown_profile_lists_existing(two_profiles: config.Config) -> None:
    with pytest.raises(UsageError) as excinfo:
        two_profiles.profile_name("lba", {})
    text = usage_error(excinfo)
    assert "--profile: no profile 'lba'" in text
    assert str(two_profiles.path) in text
    assert "defined profiles: default, lab" in text
    assert "did you mean 'lab'?" in text
    with pytest.raises(UsageError, match=r"RUNDCTL_PROFILE: no profile 'nope'.*default, lab"):
        two_profiles.profile_name(None, {"RUNDCTL_PROFILE": "nope"})
    with pytest.raises(UsageError, match="no profile 'nope'"):
        two_profiles.profile("nope")


def test_unknown_profile_with_no_profiles(env: dict[str, str]) -> None:
    with pytest.raises(UsageError, match=r"defined profiles: \(none\)"):
        config.load(env).profile_name("lab", {})


# ---------------------------------------------------------------- strict reading


@pytest.mark.parametrize(
    "key",
    [
        "token",
        "client_secret",
        "password",
        "key",
        "certificate_password",
        "access_token",
        "MySecret",
        "db-password",
        "api_key",
    ],
)
def test_secret_keys_rejected_on_read(env: dict[str, str], key: str) -> None:
    path = write(env, f'[profiles.lab]\ncloud = "global"\n{key} = "s3cr3t-value"\n')
    with pytest.raises(UsageError) as excinfo:
        config.load(env)
    text = usage_error(excinfo)
    assert f"{path}: [profiles.lab] {key}: " in text
    assert config.SECRET_MESSAGE in text
    assert "s3cr3t-value" not in text


def test_secret_keys_rejected_anywhere_in_file(env: dict[str, str]) -> None:
    write(env, '[azure]\nclient_secret = "x"\n')
    with pytest.raises(UsageError, match=r"azure\.client_secret: secrets do not belong"):
        config.load(env)


def test_secret_beats_unknown_key(env: dict[str, str]) -> None:
    write(env, '[profiles.lab]\ntenat = "x"\ntoken = "y"\n')
    with pytest.raises(UsageError, match="secrets do not belong"):
        config.load(env)


def test_profile_named_like_a_secret_is_fine(env: dict[str, str]) -> None:
    write(env, '[profiles.token-test]\ncloud = "global"\n')
    assert config.load(env).profiles == {"token-test": {"cloud": "global"}}


def test_unknown_key_did_you_mean(env: dict[str, str]) -> None:
    path = write(env, '[profiles.lab]\ntenat = "contoso.onmicrosoft.com"\n')
    with pytest.raises(UsageError) as excinfo:
        config.load(env)
    text = usage_error(excinfo)
    assert f"{path}: [profiles.lab] tenat: unknown key" in text
    assert "did you mean 'tenant'?" in text


def test_unknown_key_without_close_match_lists_keys(env: dict[str, str]) -> None:
    write(env, '[profiles.lab]\nzzz = "1"\n')
    with pytest.raises(UsageError) as excinfo:
        config.load(env)
    assert excinfo.value.hint == "keys: " + ", ".join(config.PROFILE_KEYS)


def test_malformed_toml_names_file_and_position(env: dict[str, str]) -> None:
    path = write(env, '[profiles.lab]\ncloud = "global"\nendpoint "x"\n')
    with pytest.raises(UsageError) as excinfo:
        config.load(env)
    text = usage_error(excinfo)
    assert f"{path}: malformed TOML: " in text
    assert "line 3" in text


def test_not_utf8(env: dict[str, str]) -> None:
    path = config.config_path(env)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'[profiles.lab]\ncloud = "\xff"\n')
    with pytest.raises(UsageError, match="is not UTF-8"):
        config.load(env)


def test_bom_is_tolerated(env: dict[str, str]) -> None:
    path = config.config_path(env)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'\xef\xbb\xbf[profiles.lab]\ncloud = "china"\n')
    assert config.load(env).profiles == {"lab": {"cloud": "china"}}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[profiles.lab]\ntimeout = 120\n", r"\[profiles.lab\] timeout must be a string"),
        ('[profiles.lab]\ntimeout = "soon"\n', r"\[profiles.lab\] timeout: 'soon' is not a duration"),
        ('[profiles.lab]\ncloud = "mars"\n', r"\[profiles.lab\] cloud: 'mars' is not one of"),
        ('[profiles.lab]\nendpoint = "http://evil.example"\n', r"endpoint: http:// is allowed only"),
        ('profiles = "lab"\n', "'profiles' must be a table"),
        ('[profiles]\nlab = "x"\n', "profiles.lab must be a table"),
        ('[profile.lab]\ncloud = "global"\n', "unknown table 'profile'"),
    ],
)
def test_bad_content_on_read(env: dict[str, str], text: str, match: str) -> None:
    path = write(env, text)
    with pytest.raises(UsageError, match=match) as excinfo:
        config.load(env)
    assert str(path) in excinfo.value.message


def test_int_value_hint_shows_quoted_form(env: dict[str, str]) -> None:
    write(env, "[profiles.lab]\ntimeout = 120\n")
    with pytest.raises(UsageError) as excinfo:
        config.load(env)
    assert excinfo.value.hint == 'quote it: timeout = "120"'


def test_unmanaged_top_level_content_is_ignored_on_read(env: dict[str, str]) -> None:
    write(env, 'editor = "vim"\n[aliases]\nls = "runs list"\n[profiles.lab]\ncloud = "dod"\n')
    assert config.load(env).profiles == {"lab": {"cloud": "dod"}}


def test_other_toml_spellings_are_read(env: dict[str, str]) -> None:
    write(env, f'profiles.a.flow = "{FLOW}"\nprofiles.b = {{ output = "json" }}\n[profiles."c d"]\n')
    assert config.load(env).profiles == {"a": {"flow": FLOW}, "b": {"output": "json"}, "c d": {}}


# ---------------------------------------------------------------- set / get / unset


def test_set_get_unset_round_trip(env: dict[str, str]) -> None:
    path = config.set_value(env, "lab", "endpoint", "https://lab.example/beta/")
    assert path == config.config_path(env)
    config.set_value(env, "lab", "flow", FLOW.upper())
    config.set_value(env, "prod", "cloud", "USGov")
    assert config.get_value(env, "lab", "endpoint") == "https://lab.example/beta"  # normalized
    assert config.get_value(env, "lab", "flow") == FLOW
    assert config.get_value(env, "prod", "cloud") == "usgov"
    assert config.get_value(env, "lab", "cloud") is None
    assert config.get_value(env, "nosuch", "cloud") is None
    assert tomllib.loads(path.read_text("utf-8")) == {
        "profiles": {
            "lab": {"endpoint": "https://lab.example/beta", "flow": FLOW},
            "prod": {"cloud": "usgov"},
        }
    }
    if POSIX:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    config.set_value(env, "lab", "flow", OTHER_FLOW)  # overwrite keeps the other keys
    assert config.load(env).profiles["lab"] == {"endpoint": "https://lab.example/beta", "flow": OTHER_FLOW}

    assert config.unset_value(env, "lab", "flow") is True
    assert config.unset_value(env, "lab", "flow") is False
    assert config.unset_value(env, "nosuch", "flow") is False
    assert config.unset_value(env, "prod", "cloud") is True  # emptied profile is dropped
    assert config.load(env).profiles == {"lab": {"endpoint": "https://lab.example/beta"}}
    assert list(path.parent.iterdir()) == [path]  # no temporary files left behind


def test_unset_on_missing_file_creates_nothing(env: dict[str, str]) -> None:
    assert config.unset_value(env, "lab", "cloud") is False
    assert not config.config_dir(env).exists()


def test_set_creates_missing_folders_0700(tmp_path: Path) -> None:
    env = {"RUNDCTL_CONFIG_DIR": str(tmp_path / "a" / "b"), "HOME": str(tmp_path)}
    config.set_value(env, "lab", "output", "json")
    if POSIX:
        assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700


def test_set_tightens_existing_file_mode(env: dict[str, str]) -> None:
    path = write(env, '[profiles.lab]\ncloud = "global"\n')
    path.chmod(0o644)
    config.set_value(env, "lab", "auth", "azure-cli")
    if POSIX:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.skipif(not POSIX, reason="symlinks")
def test_set_writes_through_a_symlink(env: dict[str, str], tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "rundctl.toml"
    real.parent.mkdir()
    real.write_text('[profiles.lab]\ncloud = "global"\n', "utf-8")
    link = config.config_path(env)
    link.parent.mkdir(parents=True)
    link.symlink_to(real)
    config.set_value(env, "lab", "output", "tsv")
    assert link.is_symlink()
    assert tomllib.loads(real.read_text("utf-8")) == {
        "profiles": {"lab": {"cloud": "global", "output": "tsv"}}
    }


@pytest.mark.parametrize("key", ["token", "client_secret", "password", "key", "my_token"])
def test_secret_keys_rejected_on_set(env: dict[str, str], key: str) -> None:
    with pytest.raises(UsageError, match=config.SECRET_MESSAGE) as excinfo:
        config.set_value(env, "lab", key, "s3cr3t-value")
    assert "s3cr3t-value" not in usage_error(excinfo)
    assert not config.config_path(env).exists()


def test_unknown_key_on_set_get_unset(env: dict[str, str]) -> None:
    for call in (
        lambda: config.set_value(env, "lab", "client-id", FLOW),
        lambda: config.get_value(env, "lab", "client-id"),
        lambda: config.unset_value(env, "lab", "client-id"),
    ):
        with pytest.raises(UsageError, match="'client-id' is not a config key") as excinfo:
            call()
        assert "did you mean 'client_id'?" in usage_error(excinfo)


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        ("endpoint", "sandbox", "sandbox"),
        ("endpoint", "SANDBOX", "sandbox"),
        ("endpoint", "http://127.0.0.1:8080/beta", "http://127.0.0.1:8080/beta"),
        ("cloud", "custom", "custom"),
        ("cloud", "China", "china"),
        ("auth", "Managed-Identity", "managed-identity"),
        ("auth", "github-oidc", "github-oidc"),
        ("output", "NDJSON", "ndjson"),
        ("output", "id", "id"),
        ("timeout", "90", "90"),
        ("timeout", " 2m ", "2m"),
        ("timeout", "1h", "1h"),
        ("flow", "{" + FLOW.upper() + "}", FLOW),
        ("tenant", "contoso.onmicrosoft.com", "contoso.onmicrosoft.com"),
        ("tenant", OTHER_FLOW.upper(), OTHER_FLOW),
        ("client_id", OTHER_FLOW, OTHER_FLOW),
    ],
)
def test_set_accepts_and_normalizes(env: dict[str, str], key: str, value: str, stored: str) -> None:
    config.set_value(env, "lab", key, value)
    assert config.get_value(env, "lab", key) == stored


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("cloud", "mars", "cloud: 'mars' is not one of global, usgov, dod, china, custom"),
        ("auth", "magic", "auth: 'magic' is not one of"),
        ("output", "xml", "output: 'xml' is not one of"),
        ("flow", "not-a-guid", "flow: 'not-a-guid' is not a GUID"),
        ("client_id", "abc", "client_id: 'abc' is not a GUID"),
        ("tenant", "bad tenant!", "tenant: 'bad tenant!' is not a tenant ID or domain"),
        ("timeout", "soon", "timeout: 'soon' is not a duration"),
        ("timeout", "0", "timeout: must be greater than zero"),
        ("endpoint", "ftp://x.example", "endpoint: scheme 'ftp' is not supported"),
        ("endpoint", "http://graph.example", "endpoint: http:// is allowed only for loopback"),
        ("endpoint", "https://u:p@graph.example", "endpoint: credentials in the URL"),
        ("endpoint", "  ", "endpoint: the value is empty"),
        ("endpoint", "https://graph.example/beta?x=1", "endpoint: the base URL must not carry a query"),
    ],
)
def test_set_rejects_bad_values(env: dict[str, str], key: str, value: str, match: str) -> None:
    # the message names the key, not a flag: the value may not have come from a flag
    with pytest.raises(UsageError) as excinfo:
        config.set_value(env, "lab", key, value)
    assert excinfo.value.message == match or excinfo.value.message.startswith(match)
    assert not config.config_path(env).exists()


@pytest.mark.parametrize("name", ["", "a\nb", "tab\there"])
def test_set_rejects_bad_profile_names(env: dict[str, str], name: str) -> None:
    with pytest.raises(UsageError, match="profile name"):
        config.set_value(env, name, "cloud", "global")


def test_set_rejects_undecodable_text(env: dict[str, str]) -> None:
    with pytest.raises(UsageError, match="not valid Unicode"):
        config.set_value(env, "lab\udcff", "cloud", "global")


@pytest.mark.parametrize(
    "name",
    ["lab", "with space", "a.b", 'quo"te', "back\\slash", "ünïcødé", "日本", "[x]", "=", "#hash", "'single'"],
)
def test_odd_profile_names_round_trip(env: dict[str, str], name: str) -> None:
    path = config.set_value(env, name, "output", "json")
    config.set_value(env, "plain", "cloud", "global")
    assert tomllib.loads(path.read_text("utf-8")) == {
        "profiles": {name: {"output": "json"}, "plain": {"cloud": "global"}}
    }
    assert config.load(env).profile_name(name, {}) == name


@pytest.mark.parametrize(
    "value",
    [
        'https://graph.example/p"q',
        "https://graph.example/back\\slash",
        "https://graph.example/ünï/日本",
        "https://graph.example/a'b",
    ],
)
def test_odd_values_round_trip(env: dict[str, str], value: str) -> None:
    config.set_value(env, "lab", "endpoint", value)
    assert config.get_value(env, "lab", "endpoint") == value


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        'dq"',
        "bs\\",
        "\\u0041 literal",
        "tab\tnl\ncr\rbell\x07del\x7fnul\x00",
        "ünï 日本 😀",
        "'",
        "",
        '"""',
        "\\",
        "\b\f",
    ],
)
def test_toml_string_round_trips(text: str) -> None:
    key = config.toml_key(text) if text else '""'
    doc = f"{key} = {config.toml_string(text)}\n"
    assert tomllib.loads(doc) == {text: text}


def test_toml_key_bare_only_when_allowed() -> None:
    assert config.toml_key("lab-1_x") == "lab-1_x"
    assert config.toml_key("a.b") == '"a.b"'
    assert config.toml_key("ü") == '"ü"'


def test_written_file_layout(env: dict[str, str]) -> None:
    config.set_value(env, "lab", "timeout", "2m")
    config.set_value(env, "lab", "endpoint", "sandbox")
    config.set_value(env, "a b", "flow", FLOW)
    text = config.config_path(env).read_text("utf-8")
    assert text.startswith("# rundctl configuration")
    body = text[text.index("\n[profiles") + 1 :]
    assert body == (
        f'[profiles.lab]\nendpoint = "sandbox"\ntimeout = "2m"\n\n[profiles."a b"]\nflow = "{FLOW}"\n'
    )


def test_refuses_to_overwrite_unmanaged_content(env: dict[str, str]) -> None:
    text = 'editor = "vim"\n[profiles.lab]\ncloud = "global"\n'
    path = write(env, text)
    refusal = "config.toml has content rundctl does not manage; edit it by hand"
    with pytest.raises(UsageError, match=refusal) as excinfo:
        config.set_value(env, "lab", "output", "json")
    assert excinfo.value.hint == "top-level key: editor"
    with pytest.raises(UsageError, match=refusal):
        config.unset_value(env, "lab", "cloud")
    assert config.unset_value(env, "lab", "output") is False  # nothing to remove: nothing written
    assert path.read_text("utf-8") == text


def test_refuses_to_overwrite_unmanaged_table(env: dict[str, str]) -> None:
    text = '[aliases]\nls = "runs list"\n'
    path = write(env, text)
    with pytest.raises(UsageError, match="does not manage"):
        config.set_value(env, "lab", "output", "json")
    assert path.read_text("utf-8") == text


def test_set_refuses_when_file_is_invalid(env: dict[str, str]) -> None:
    text = '[profiles.lab]\ntoken = "abc"\n'
    path = write(env, text)
    with pytest.raises(UsageError, match="secrets do not belong"):
        config.set_value(env, "other", "cloud", "global")
    with pytest.raises(UsageError, match="malformed TOML"):
        write(env, "[profiles.lab\n")
        config.set_value(env, "other", "cloud", "global")
    assert path.read_text("utf-8") == "[profiles.lab\n"


def test_unset_can_remove_keys_load_rejects(env: dict[str, str]) -> None:
    write(env, '[profiles.lab]\ncloud = "global"\ntoken = "tok-XYZ"\npassword = "pw-XYZ"\n')
    assert config.unset_value(env, "lab", "token") is True
    assert config.unset_value(env, "lab", "password") is True
    text = config.config_path(env).read_text("utf-8")
    assert "XYZ" not in text
    assert config.load(env).profiles == {"lab": {"cloud": "global"}}


def test_unset_refuses_non_string_leftovers(env: dict[str, str]) -> None:
    write(env, '[profiles.lab]\ncloud = "global"\ntimeout = 120\n')
    with pytest.raises(UsageError, match="timeout must be a string"):
        config.unset_value(env, "lab", "cloud")


def test_write_failure_is_a_usage_error(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(src: str, dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(UsageError, match=r"cannot write .*config\.toml: Permission denied"):
        config.set_value(env, "lab", "cloud", "global")
    assert list(config.config_dir(env).iterdir()) == []  # the temporary file is removed


def test_config_path_under_a_file(env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env = {**env, "RUNDCTL_CONFIG_DIR": str(blocker / "sub")}
    with pytest.raises(UsageError, match=r"cannot read .*Not a directory"):
        config.set_value(env, "lab", "cloud", "global")


def test_unreadable_file(env: dict[str, str]) -> None:
    path = config.config_path(env)
    path.mkdir(parents=True)  # a folder where the file should be
    with pytest.raises(UsageError) as excinfo:
        config.load(env)
    assert excinfo.value.message.startswith(f"cannot read {path}: ")


def test_import_is_cheap() -> None:
    import subprocess

    code = "import sys, rundctl.config; print([m for m in ('tomllib', 'difflib') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
