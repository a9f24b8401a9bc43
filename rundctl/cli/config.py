"""``rundctl config list | get | set | unset | path``: settings profiles in config.toml."""

from __future__ import annotations

from typing import Annotated

import typer

from rundctl import vocab
from rundctl.cli.complete import complete_config_value, complete_profile_key
from rundctl.cli.context import current_deps, output_format, renderer, say
from rundctl.cli.options import OutputOpt, ProfileOpt

KeyArg = Annotated[str, typer.Argument(
    metavar="KEY", help=f"{vocab.words(vocab.PROFILE_KEYS)}.", autocompletion=complete_profile_key)]
WriteProfileOpt = Annotated[str | None, typer.Option(
    "--profile", metavar="NAME", envvar="RUNDCTL_PROFILE",
    help="The profile to change. [default: default]", show_default=False)]
ShowOriginOpt = Annotated[bool, typer.Option("--show-origin",
                                             help="Say where each value comes from.")]


def config_list(show_origin: ShowOriginOpt = False, profile: ProfileOpt = None,
                output: OutputOpt = None) -> int:
    """Show each effective setting (flag > environment > profile > default).

    The profile is --profile, else RUNDCTL_PROFILE, else a profile named "default" when
    config.toml has one. --show-origin says which of them each value came from.

    \b
    Examples:
      rundctl config list --show-origin
      rundctl config list --profile lab -o json
    """
    from rundctl import config

    deps = current_deps()
    loaded = config.load(deps.env)
    settings = config.effective({}, deps.env, loaded, loaded.profile_name(profile, deps.env))
    fmt = output_format(deps, output)
    if fmt in ("json", "ndjson"):
        data = {k: ({"value": v.value, "origin": v.origin} if show_origin else v.value)
                for k, v in settings.items()}
        renderer(deps, fmt).pairs(data)
        return 0
    origins = {k: v.origin for k, v in settings.items()} if show_origin else None
    renderer(deps, fmt).pairs({k: v.value for k, v in settings.items()}, sep="=",
                              missing="(unset)", notes=origins, lines_for_all=True)
    return 0


def config_get(key: KeyArg, target: WriteProfileOpt = None) -> int:
    """Print one value of a profile (nothing when it is not set).

    Reads config.toml only: no flag or environment variable is taken into account.

    \b
    Examples:
      rundctl config get endpoint --profile lab
    """
    from rundctl import config

    deps = current_deps()
    value = config.get_value(deps.env, target or config.DEFAULT_PROFILE, key)
    if value is not None:
        renderer(deps, "table").text(value)
    return 0


ValueArg = Annotated[str, typer.Argument(metavar="VALUE", help="The value.",
                                          autocompletion=complete_config_value)]


def config_set(key: KeyArg, value: ValueArg, target: WriteProfileOpt = None) -> int:
    """Set a value in a profile (created if new); secrets are refused.

    Keys: endpoint, cloud, flow, auth, tenant, client_id, output, timeout. Values are
    checked as the matching flags are. The file is rewritten with mode 0600.

    \b
    Examples:
      rundctl config set endpoint sandbox --profile lab
      rundctl config set flow 1b4e28ba-2fa1-11d2-883f-0016d3cca427
    """
    from rundctl import config

    deps = current_deps()
    name = target or config.DEFAULT_PROFILE
    path = config.set_value(deps.env, name, key, value)
    say(deps, f"set {key} in profile {name} ({path})")
    return 0


def config_unset(key: KeyArg, target: WriteProfileOpt = None) -> int:
    """Remove a value from a profile.

    A profile left empty is removed from config.toml.

    \b
    Examples:
      rundctl config unset timeout --profile lab
    """
    from rundctl import config

    deps = current_deps()
    name = target or config.DEFAULT_PROFILE
    removed = config.unset_value(deps.env, name, key)
    say(deps, f"{'removed' if removed else 'no'} {key} in profile {name}")
    return 0


def config_path() -> int:
    """Print the path of config.toml (it may not exist yet).

    $XDG_CONFIG_HOME/rundctl/config.toml, or the folder named by RUNDCTL_CONFIG_DIR.

    \b
    Examples:
      ${EDITOR:-vi} "$(rundctl config path)"
    """
    from rundctl import config

    deps = current_deps()
    renderer(deps, "table").text(str(config.config_path(deps.env)))
    return 0
