"""The config file: named profiles of defaults, read, validated and written (docs/commands.md).

Where: ``$RUNDCTL_CONFIG_DIR/config.toml`` if that variable is set, else
``$XDG_CONFIG_HOME/rundctl/config.toml``, else ``~/.config/rundctl/config.toml``. A missing file
is an empty config. The file holds only ``[profiles.NAME]`` tables of string keys::

    [profiles.lab]
    endpoint = "https://graph.microsoft.com/beta"
    flow = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    timeout = "2m"

Which profile: ``--profile NAME``, else ``RUNDCTL_PROFILE``, else the profile named ``default``
when the file defines one, else none. A profile that is asked for by name but not defined is a
usage error that lists the profiles that are.

Precedence for every setting: command-line flag > environment variable > profile > built-in
default (:func:`effective` also says where each value came from).

Strict on read: the whole file is checked whenever it is loaded. Unknown keys in a profile
(with a did-you-mean), non-string values and bad values are usage errors naming the file, the
profile and the key. Keys that look like secrets (``token``, ``client_secret``, anything with
"token", "secret" or "password" in it, ...) are refused anywhere in the file and by
:func:`set_value`: credentials come from ``RUNDCTL_TOKEN`` or a credential source, never from
this file. Top-level content other than ``profiles`` is ignored on read (so a newer rundctl may
add tables), except near-misses such as ``[profile.lab]``, which are reported.

Writing (:func:`set_value`, :func:`unset_value`) rewrites the whole file from what was parsed:
comments, blank lines and key order are NOT preserved. rundctl refuses to rewrite a file that
has top-level content other than ``profiles``. The file is replaced atomically, with mode 0600,
in folders created 0700. A symlinked config.toml is written through to its target.
:func:`unset_value` may remove any key, even one that fails the checks above, so a secret that
was written into the file by hand can be removed with ``rundctl config unset``.

No I/O happens at import time; ``tomllib``, ``difflib`` and ``tempfile`` are imported where used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from rundctl import vocab
from rundctl.errors import UsageError
from rundctl.paths import config_dir

PROFILE_KEYS: tuple[str, ...] = vocab.PROFILE_KEYS
ENV_FOR_KEY: dict[str, str] = {
    "endpoint": "RUNDCTL_ENDPOINT",
    "cloud": "RUNDCTL_CLOUD",
    "flow": "RUNDCTL_FLOW",
    "auth": "RUNDCTL_AUTH",
    "tenant": "AZURE_TENANT_ID",
    "client_id": "AZURE_CLIENT_ID",
    "output": "RUNDCTL_OUTPUT",
    "timeout": "RUNDCTL_TIMEOUT",
}

BUILTIN_DEFAULTS: dict[str, str | None] = {
    "endpoint": None,  # the cloud's Graph root + /beta
    "cloud": "global",
    "flow": None,
    "auth": "auto",
    "tenant": None,
    "client_id": None,
    "output": None,  # table on a terminal, json otherwise
    "timeout": "120",
}

PROFILE_ENV = "RUNDCTL_PROFILE"
DEFAULT_PROFILE = "default"
FILE_NAME = "config.toml"

SECRET_MESSAGE = "secrets do not belong in config.toml; use RUNDCTL_TOKEN or a credential"  # noqa: S105 - a message, not a password

_SECRET_NAMES = frozenset(
    {
        "token",
        "secret",
        "password",
        "client_secret",
        "key",
        "certificate_password",
        "passwd",
        "pwd",
        "apikey",
        "accesskey",
        "privatekey",
    }
)
_SECRET_PARTS = ("token", "secret", "password", "passwd")
# Patterns as text: compiled (and cached by re) only when a value is checked, so reading
# config on every start costs nothing for them.
_BARE_KEY = r"[A-Za-z0-9_-]+"
_CONTROL = r"[\x00-\x1f\x7f]"
_TENANT_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*"
_FILE_HEADER = (
    "# rundctl configuration: [profiles.NAME] tables of defaults.\n"
    "# `rundctl config set` and `rundctl config unset` rewrite this file; comments are not kept.\n"
    "# No secrets here: use RUNDCTL_TOKEN or a credential.\n"
)


# --------------------------------------------------------------------------- where


def config_path(env: Mapping[str, str]) -> Path:
    return config_dir(env) / FILE_NAME


# --------------------------------------------------------------------------- keys and values


def looks_secret(key: str) -> bool:
    """True for key names that suggest a credential (checked case-insensitively)."""
    lowered = key.lower()
    if lowered in _SECRET_NAMES or any(part in lowered for part in _SECRET_PARTS):
        return True
    return "key" in re.split(r"[^a-z0-9]+", lowered)


def _did_you_mean(word: str, choices: tuple[str, ...] | list[str], cutoff: float = 0.6) -> str | None:
    import difflib

    candidates = {c.lower().replace("-", "_"): c for c in choices}
    close = difflib.get_close_matches(word.lower().replace("-", "_"), list(candidates), n=1, cutoff=cutoff)
    return candidates[close[0]] if close else None


def _unknown_key_hint(key: str) -> str:
    known = f"keys: {', '.join(PROFILE_KEYS)}"
    guess = _did_you_mean(key, PROFILE_KEYS)
    return f"did you mean '{guess}'? {known}" if guess else known


def check_key(key: str) -> str:
    """Refuse a secret-looking or unknown key name (for ``config get/set/unset``)."""
    if looks_secret(key):
        raise UsageError(f"'{key}': {SECRET_MESSAGE}", hint="rundctl help environment")
    if key not in PROFILE_KEYS:
        raise UsageError(f"'{key}' is not a config key", hint=_unknown_key_hint(key))
    return key


def _strip_flag(message: str) -> str:
    return re.sub(r"^--[a-z_-]+: ", "", message)


def check_value(key: str, value: str) -> str:
    """Check one profile value and return the form to store; UsageError ``KEY: why`` if bad."""
    from rundctl import settings

    text = value.strip()
    if not text:
        raise UsageError(f"{key}: the value is empty", hint="to remove a key use `rundctl config unset`")
    try:
        if key == "endpoint":
            endpoint = settings.parse_endpoint(text, settings.CLOUDS["global"])
            return settings.SANDBOX if endpoint.sandbox else str(endpoint.url)
        if key == "cloud":
            name = text.lower()
            if name != "custom" and name not in settings.CLOUDS:
                settings.parse_cloud(text)  # raises with the list and the hint
            return name
        if key in ("flow", "client_id"):
            return settings.parse_guid(text, name=f"--{key}")
        if key == "tenant":
            return _check_tenant(text)
        if key == "auth":
            return settings.parse_auth_mode(text)
        if key == "output":
            return settings.parse_output(text)
        if key == "timeout":
            settings.parse_duration(text, name=f"--{key}")
            return text
    except UsageError as exc:
        raise UsageError(f"{key}: {_strip_flag(exc.message)}", hint=exc.hint) from None
    raise UsageError(f"'{key}' is not a config key", hint=_unknown_key_hint(key))


def _check_tenant(text: str) -> str:
    import uuid

    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    if re.fullmatch(_TENANT_NAME, text) and len(text) <= 253:
        return text
    raise UsageError(
        f"'{text}' is not a tenant ID or domain",
        hint="a GUID or a domain such as contoso.onmicrosoft.com",
    )


def _check_profile_name(name: str) -> str:
    if not name:
        raise UsageError("the profile name is empty")
    if re.search(_CONTROL, name):
        raise UsageError(f"profile name {name!r} contains control characters")
    _check_encodable(name, "profile name")
    return name


def _check_encodable(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} {text!r} is not valid Unicode text") from None


# --------------------------------------------------------------------------- TOML text


def toml_key(name: str) -> str:
    """A key as TOML writes it: bare if it can be, else a quoted basic string."""
    return name if re.fullmatch(_BARE_KEY, name) else toml_string(name)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(text: str) -> str:
    """A TOML basic string: quote, backslash and control characters escaped; other Unicode as is."""

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return _ESCAPES.get(char) or f"\\u{ord(char):04X}"

    return '"' + re.sub(r'["\\\x00-\x1f\x7f]', escape, text) + '"'


def _where(path: Path, profile: str, key: str | None = None) -> str:
    section = f"[profiles.{toml_key(profile)}]"
    return f"{path}: {section} {key}" if key is not None else f"{path}: {section}"


def _dump(profiles: Mapping[str, Mapping[str, str]]) -> str:
    parts = [_FILE_HEADER]
    for name, table in profiles.items():
        ordered = [k for k in PROFILE_KEYS if k in table] + [k for k in table if k not in PROFILE_KEYS]
        lines = [f"[profiles.{toml_key(name)}]"]
        lines.extend(f"{toml_key(k)} = {toml_string(table[k])}" for k in ordered)
        parts.append("\n" + "\n".join(lines) + "\n")
    return "".join(parts)


# --------------------------------------------------------------------------- reading


def _read_document(path: Path) -> dict[str, Any]:
    """The parsed file, ``{}`` if it does not exist; UsageError if unreadable or malformed."""
    import tomllib

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path} is not UTF-8 text (byte {exc.start})", hint="save the file as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(
            f"{path}: malformed TOML: {exc}",
            hint="fix the file by hand (TOML syntax: https://toml.io), or move it away to start over",
        ) from None


def _walk_secrets(value: Any, trail: tuple[str, ...], path: Path) -> None:
    """Refuse a secret-looking key anywhere in the document (the value is never shown)."""
    if isinstance(value, list):
        for item in value:
            _walk_secrets(item, trail, path)
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        here = (*trail, key)
        if trail != ("profiles",) and looks_secret(key):  # profile names are not keys
            if len(here) == 3 and here[0] == "profiles":
                where = _where(path, here[1], key)
            else:
                where = f"{path}: {'.'.join(toml_key(k) for k in here)}"
            raise UsageError(
                f"{where}: {SECRET_MESSAGE}",
                hint="delete that key (by hand or with `rundctl config unset`) and rotate the secret "
                "if the file was ever shared",
            )
        _walk_secrets(item, here, path)


def _profiles_table(document: Mapping[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    """The ``profiles`` table, checked only for shape (tables of tables)."""
    raw = document.get("profiles", {})
    if not isinstance(raw, dict):
        raise UsageError(
            f"{path}: 'profiles' must be a table of [profiles.NAME] tables",
            hint='write e.g. [profiles.lab] and then endpoint = "..." lines below it',
        )
    for name, table in raw.items():
        if not isinstance(table, dict):
            raise UsageError(
                f"{path}: profiles.{toml_key(name)} must be a table",
                hint=f'write [profiles.{toml_key(name)}] and then key = "value" lines below it',
            )
    return raw


def _check_strings(profiles: Mapping[str, Mapping[str, Any]], path: Path) -> None:
    for name, table in profiles.items():
        for key, value in table.items():
            if not isinstance(value, str):
                shown = str(value).lower() if isinstance(value, bool) else str(value)
                raise UsageError(
                    f"{_where(path, name, key)} must be a string",
                    hint=f"quote it: {toml_key(key)} = {toml_string(shown)}",
                )


def _check_document(document: Mapping[str, Any], path: Path) -> dict[str, dict[str, str]]:
    """Validate everything ``load`` promises; return the profiles."""
    _walk_secrets(document, (), path)
    for top in document:
        if top != "profiles" and _did_you_mean(top, ["profiles"], cutoff=0.75) is not None:
            raise UsageError(
                f"{path}: unknown table '{top}'", hint="did you mean 'profiles'? e.g. [profiles.lab]"
            )
    raw = _profiles_table(document, path)
    _check_strings(raw, path)
    profiles: dict[str, dict[str, str]] = {}
    for name, table in raw.items():
        for key, value in table.items():
            if key not in PROFILE_KEYS:
                raise UsageError(f"{_where(path, name, key)}: unknown key", hint=_unknown_key_hint(key))
            try:
                check_value(key, value)
            except UsageError as exc:
                raise UsageError(f"{_where(path, name)} {exc.message}", hint=exc.hint) from None
        profiles[name] = dict(table)
    return profiles


def _refuse_unmanaged(document: Mapping[str, Any], path: Path) -> None:
    others = [k for k in document if k != "profiles"]
    if others:
        raise UsageError(
            f"{path}: config.toml has content rundctl does not manage; edit it by hand",
            hint=f"top-level {'keys' if len(others) > 1 else 'key'}: {', '.join(others)}",
        )


@dataclass
class Config:
    """The parsed and checked config file."""

    path: Path
    profiles: dict[str, dict[str, str]] = field(default_factory=dict)

    def profile_name(self, flag: str | None, env: Mapping[str, str]) -> str | None:
        """``--profile`` > ``RUNDCTL_PROFILE`` > ``default`` if defined > None."""
        if flag is not None:
            name, source = flag, "--profile"
        elif env.get(PROFILE_ENV):
            name, source = env[PROFILE_ENV], PROFILE_ENV
        else:
            return DEFAULT_PROFILE if DEFAULT_PROFILE in self.profiles else None
        if name not in self.profiles:
            raise self._unknown_profile(name, source)
        return name

    def profile(self, name: str | None) -> dict[str, str]:
        """The keys of one profile (a copy); ``{}`` for None; UsageError if not defined."""
        if name is None:
            return {}
        if name not in self.profiles:
            raise self._unknown_profile(name, "profile")
        return dict(self.profiles[name])

    def _unknown_profile(self, name: str, source: str) -> UsageError:
        names = list(self.profiles)
        defined = ", ".join(names) if names else "(none)"
        message = f"{source}: no profile '{name}' in {self.path}; defined profiles: {defined}"
        guess = _did_you_mean(name, names) if names else None
        hint = f"did you mean '{guess}'?" if guess else "create one with `rundctl config set`"
        return UsageError(message, hint=hint)


def load(env: Mapping[str, str]) -> Config:
    """Read and check the whole config file; an absent file is an empty config."""
    path = config_path(env)
    return Config(path, _check_document(_read_document(path), path))


# --------------------------------------------------------------------------- effective settings


class Setting(NamedTuple):
    key: str
    value: str | None
    origin: str


def effective(
    flags: Mapping[str, str | None],
    env: Mapping[str, str],
    config: Config,
    profile: str | None,
) -> dict[str, Setting]:
    """Every profile key's value by precedence: flag > environment > profile > built-in default.

    ``flags`` maps keys to what was given on the command line (None or absent: not given). An
    empty environment variable counts as not set.
    """
    table = config.profile(profile)
    result: dict[str, Setting] = {}
    for key in PROFILE_KEYS:
        flag = flags.get(key)
        variable = ENV_FOR_KEY[key]
        if flag is not None:
            setting = Setting(key, flag, f"--{key.replace('_', '-')} flag")
        elif env.get(variable):
            setting = Setting(key, env[variable], f"env {variable}")
        elif key in table:
            setting = Setting(key, table[key], f"profile {profile} ({config.path})")
        else:
            setting = Setting(key, BUILTIN_DEFAULTS[key], "default")
        result[key] = setting
    return result


# --------------------------------------------------------------------------- get / set / unset


def get_value(env: Mapping[str, str], profile: str, key: str) -> str | None:
    """The value of ``key`` in ``profile``; None if the key or the profile is not there."""
    check_key(key)
    return load(env).profiles.get(profile, {}).get(key)


def set_value(env: Mapping[str, str], profile: str, key: str, value: str) -> Path:
    """Check and store ``key = value`` in ``profile`` (created if new); return the file's path."""
    check_key(key)
    _check_profile_name(profile)
    stored = check_value(key, value)
    _check_encodable(stored, key)
    path = config_path(env)
    document = _read_document(path)
    profiles = _check_document(document, path)
    _refuse_unmanaged(document, path)
    profiles.setdefault(profile, {})[key] = stored
    _write(path, profiles)
    return path


def unset_value(env: Mapping[str, str], profile: str, key: str) -> bool:
    """Remove ``key`` from ``profile``; True if it was there. An emptied profile is dropped.

    Any key can be removed, even one :func:`load` rejects (e.g. a secret written by hand);
    the rest of the file is kept as it is.
    """
    path = config_path(env)
    document = _read_document(path)
    raw = _profiles_table(document, path)
    table = raw.get(profile)
    if table is None or key not in table:
        check_key(key)
        return False
    _refuse_unmanaged(document, path)
    del table[key]
    if not table:
        del raw[profile]
    _check_strings(raw, path)
    _write(path, raw)
    return True


# --------------------------------------------------------------------------- writing


def _make_dirs(folder: Path) -> None:
    """Create ``folder`` and any missing parents with mode 0700 (the XDG rule)."""
    missing: list[Path] = []
    current = folder
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for item in reversed(missing):
        try:
            item.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(item, 0o700)


def _write(path: Path, profiles: Mapping[str, Mapping[str, str]]) -> None:
    """Replace the file atomically with ``profiles`` (mode 0600); a symlink's target is written."""
    import tempfile

    text = _dump(profiles)
    target = Path(os.path.realpath(path))
    tmp: str | None = None
    try:
        _make_dirs(target.parent)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
