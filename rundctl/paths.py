"""The one place rundctl decides where its files live.

Every location is computed from the environment mapping it is given (never from
``os.environ`` behind the caller's back), with the same rules for each:

- a ``RUNDCTL_*`` override wins; a leading ``~`` in it means the home folder;
- otherwise the XDG base folder, but only when it is an absolute path (the XDG Base
  Directory spec says to ignore relative ones);
- otherwise the conventional folder under the home folder, which is ``HOME`` (or
  ``USERPROFILE`` on Windows) from that same mapping.

=============  ==========================  ===================  ==========================
what           override                    XDG variable         fallback
=============  ==========================  ===================  ==========================
config folder  ``RUNDCTL_CONFIG_DIR``      ``XDG_CONFIG_HOME``  ``~/.config/rundctl``
data folder    --                          ``XDG_DATA_HOME``    ``~/.local/share/rundctl``
cache folder   --                          ``XDG_CACHE_HOME``   ``~/.cache/rundctl``
sandbox db     ``RUNDCTL_SANDBOX_DB``      (data folder)        ``sandbox.db`` in it
=============  ==========================  ===================  ==========================
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

CONFIG_DIR_ENV = "RUNDCTL_CONFIG_DIR"
SANDBOX_DB_ENV = "RUNDCTL_SANDBOX_DB"
APP = "rundctl"


def home(env: Mapping[str, str]) -> Path:
    """``HOME`` (or ``USERPROFILE``) from *env*; the account's home when neither is set."""
    found = env.get("HOME") or env.get("USERPROFILE")
    return Path(found) if found else Path.home()


def expand_user(text: str, env: Mapping[str, str]) -> Path:
    """``~`` and ``~/x`` against :func:`home` of *env*; anything else as given."""
    if text == "~":
        return home(env)
    if text.startswith(("~/", "~\\")):
        return home(env) / text[2:]
    return Path(text)


def _xdg(env: Mapping[str, str], variable: str, *fallback: str) -> Path:
    value = env.get(variable)
    if value and Path(value).is_absolute():
        return Path(value) / APP
    return home(env).joinpath(*fallback, APP)


def config_dir(env: Mapping[str, str]) -> Path:
    """Where config.toml and the login record live."""
    override = env.get(CONFIG_DIR_ENV)
    if override:
        return expand_user(override, env)
    return _xdg(env, "XDG_CONFIG_HOME", ".config")


def data_dir(env: Mapping[str, str]) -> Path:
    return _xdg(env, "XDG_DATA_HOME", ".local", "share")


def cache_dir(env: Mapping[str, str]) -> Path:
    return _xdg(env, "XDG_CACHE_HOME", ".cache")


def sandbox_db(env: Mapping[str, str]) -> Path:
    """The embedded sandbox's store: ``RUNDCTL_SANDBOX_DB``, else ``sandbox.db`` in the data
    folder. Not created here: the sandbox creates what it opens."""
    override = env.get(SANDBOX_DB_ENV)
    if override:
        return Path(override) if override == ":memory:" else expand_user(override, env)
    return data_dir(env) / "sandbox.db"


def recent_file(env: Mapping[str, str]) -> Path:
    return cache_dir(env) / "recent.json"
