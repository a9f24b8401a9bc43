"""The tool commands: completion, version, help, schema, doctor."""

from __future__ import annotations

from typing import Annotated

import typer

from rundctl import vocab
from rundctl.cli.complete import complete_help, complete_shell
from rundctl.cli.context import current_deps, output_format, renderer
from rundctl.cli.options import ConnArgs, OutputOpt, with_connection
from rundctl.errors import UsageError

COMPLETION_FILES = {"bash": "rundctl.bash", "zsh": "_rundctl", "fish": "rundctl.fish",
                    "powershell": "rundctl.ps1"}


def completion_script(shell: str) -> str:
    """The TAB-completion script of *shell* (:mod:`rundctl.cli.completion_shells`)."""
    from rundctl.cli.completion_shells import script

    return script(shell)


ShellArg = Annotated[str, typer.Argument(metavar="SHELL", help=f"{vocab.words(vocab.SHELLS)}.",
                                         autocompletion=complete_shell)]


def completion(shell: ShellArg) -> int:
    """Print the TAB-completion script for a shell (nothing is installed or edited).

    Completes commands, flags, status values, output formats, and recently used flow and
    run IDs from a local cache; TAB never touches the network. The same scripts ship in
    completions/.

    \b
    Examples:
      source <(rundctl completion bash)                       # bash, this session
      rundctl completion bash > ~/.local/share/bash-completion/completions/rundctl
      rundctl completion zsh > "${fpath[1]}/_rundctl"         # zsh
      rundctl completion fish > ~/.config/fish/completions/rundctl.fish
      rundctl completion powershell >> $PROFILE               # PowerShell
    """
    name = shell.strip().lower()
    if name == "pwsh":
        name = "powershell"
    if name not in vocab.SHELLS:
        raise UsageError(f"SHELL: '{shell}' is not one of {', '.join(vocab.SHELLS)}")
    current_deps().stdout.write(completion_script(name))
    return 0


def version(output: OutputOpt = None) -> int:
    """Show the versions of rundctl, Python and the libraries it uses.

    rundctl, Python, the platform, typer, rich, requests, azure-identity, msal and urllib3:
    what a bug report needs.

    \b
    Examples:
      rundctl version
      rundctl version -o json | jq -r '."azure-identity"'
    """
    from rundctl.about import versions

    deps = current_deps()
    renderer(deps, output_format(deps, output)).pairs(versions(), missing="not installed",
                                                      lines_for_all=True)
    return 0


TopicArg = Annotated[list[str] | None, typer.Argument(
    metavar="TOPIC", help=f"{vocab.words(vocab.HELP_TOPICS)}, or a command (help list).",
    show_default=False,
    autocompletion=complete_help)]


def help_(words: TopicArg = None) -> int:
    """Read a help topic: exit-codes, environment, formatting, ci.

    Longer pages than --help: every exit code and whether a re-run is safe, every
    environment variable, the exact output shapes, and recipes for CI systems.

    \b
    Examples:
      rundctl help exit-codes
      rundctl help ci | less
      rundctl help flows list
    """
    deps = current_deps()
    out = renderer(deps, "table")
    topic = " ".join(words) if words else None
    if topic is None:
        out.text("Topics: " + ", ".join(vocab.HELP_TOPICS) + "\n"
                 "Read one with: rundctl help TOPIC; commands: rundctl --help")
        return 0
    from rundctl.helptext import TOPICS

    text = TOPICS.get(topic.strip().lower())
    if text is None:
        from rundctl.cli.helpcmd import command_help

        text = command_help(topic)
    if text is None:
        raise UsageError(f"TOPIC: '{topic}' is not one of {', '.join(vocab.HELP_TOPICS)}, "
                         "nor a command", hint="rundctl --help lists the commands")
    out.text(text)
    return 0


def schema() -> int:
    """Print the JSON Schema of the run payload (for editors and CI linting).

    The same rules validate applies, as far as JSON Schema can say them (draft 2020-12).

    \b
    Examples:
      rundctl schema > run.schema.json
    """
    from rundctl.schema import run_schema

    renderer(current_deps(), "json").document(run_schema())
    return 0


@with_connection
def doctor(output: OutputOpt = None, *, conn_args: ConnArgs) -> int:
    """Check the installation, settings, network, clock, keyring and credential.

    Each check says pass, warn or fail, with the fix. Exit 0 when nothing failed; 8 when
    the endpoint or authority is unreachable, 2 for bad settings, 4 for no credential.
    Never prints a token.

    \b
    Examples:
      rundctl doctor
      rundctl doctor --endpoint sandbox -o json
    """
    from rundctl import doctor as checks_mod

    deps = current_deps()
    fmt = output_format(deps, output)
    args = conn_args
    checks = checks_mod.run_checks(
        deps, endpoint_text=args.endpoint, cloud_text=args.cloud, auth_mode=args.auth,
        tenant=args.tenant, client_id=args.client_id, token_file=args.token_file)
    if fmt in ("json", "ndjson"):
        renderer(deps, fmt).document(checks_mod.as_json(checks))
    else:
        deps.stdout.write(checks_mod.as_text(checks))
    return checks_mod.exit_code(checks)
