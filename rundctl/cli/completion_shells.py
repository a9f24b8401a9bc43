"""The shells' side of TAB completion: the scripts ``rundctl completion SHELL`` prints, and the
classes that answer them while TAB is pressed (:func:`install`, called by ``app.main`` when
``_RUNDCTL_COMPLETE`` is set). Imported only then and by ``rundctl completion``.

A script runs ``rundctl`` with ``_RUNDCTL_COMPLETE=complete_SHELL`` and the words typed so far;
click finds the completer and the class of that shell formats its answers. Typer 0.28 ships one
class per shell (``typer._completion_classes``); rundctl changes these things:

- **zsh**: typer's script, installed into ``$fpath`` as ``_rundctl``, only defined its
  function on the first TAB and completed from the second on, and its answers were
  ``_arguments`` code, eval'd with quoting that broke on quotes and parentheses. rundctl's
  script is a function named like its file that completes on the first TAB (and also works
  when sourced); it asks with the instruction ``complete_zsh2`` and gets data, one
  ``value<TAB>description`` line per answer, which it hands to ``_describe`` (nothing is
  eval'd). Matching is the completers' (any case), not zsh's. An old ``_rundctl`` made by an
  earlier rundctl still asks ``complete_zsh`` and gets typer's answer, as before.
- **fish**: one ``rundctl`` call per TAB, not two (typer's script asks whether there are
  answers, then asks again for them).
- **descriptions** (zsh, fish, PowerShell): typer rendered help texts as rich markup, so
  ``[profiles.NAME]`` vanished from "Settings from [profiles.NAME] in config.toml", and rich
  wrapped them at 80 columns, which in fish made the rest of a long help a candidate of its
  own. Here a description is the plain text on one line, terminal controls made visible.
- **bash**: ``--output=js`` completes (bash splits the word at ``=``).
"""

from __future__ import annotations

from typing import Any

from typer._click.shell_completion import CompletionItem, add_completion_class
from typer._completion_classes import (
    BashComplete as TyperBash,
)
from typer._completion_classes import (
    FishComplete as TyperFish,
)
from typer._completion_classes import (
    PowerShellComplete as TyperPowerShell,
)
from typer._completion_classes import (
    ZshComplete as TyperZsh,
)
from typer._completion_classes import (
    completion_init,
)

PROG = "rundctl"
COMPLETE_VAR = "_RUNDCTL_COMPLETE"
ZSH_INSTRUCTION = "zsh2"
DESCRIPTION_LIMIT = 300

ZSH_SCRIPT = r"""#compdef rundctl
# TAB completion for rundctl in zsh. Install: rundctl completion zsh > "${fpath[1]}/_rundctl"
# (then compinit; a new shell does it), or load it now: source <(rundctl completion zsh)

_rundctl() {
  local -a answers described
  local line value desc
  # --opt=VAL: complete VAL only, keep "--opt=" on the line
  [[ $PREFIX == -*=* ]] && compset -P '*='
  answers=("${(@f)$(_TYPER_COMPLETE_ARGS="${words[1,CURRENT]}" _RUNDCTL_COMPLETE=complete_zsh2 \
                     rundctl 2>/dev/null)}")
  for line in "${answers[@]}"; do
    [[ -n $line ]] || continue
    # _describe reads "value:description", backslash escaping; the value's colons too
    value=${${${line%%$'\t'*}//\\/\\\\}//:/\\:}
    if [[ $line == *$'\t'?* ]]; then
      desc=${line#*$'\t'}
      described+=("$value:${desc//\\/\\\\}")
    else
      described+=("$value")
    fi
  done
  if (( ! ${#described} )); then
    _files
    return
  fi
  # -U: rundctl matched already (in any case), zsh must not filter again; -i keeps "--opt="
  _describe -V -t rundctl-values rundctl described -U -i "$IPREFIX"
}

if [[ ${funcstack[1]} == _rundctl ]]; then
  # autoloaded from $fpath on the first TAB: the function above replaced this file; complete now
  _rundctl "$@"
elif (( ${+functions[compdef]} )); then
  compdef _rundctl rundctl
else
  print -u2 "rundctl: zsh completion needs compinit first: autoload -Uz compinit && compinit"
fi
"""

FISH_SCRIPT = r"""# TAB completion for rundctl in fish.
# Install: rundctl completion fish > ~/.config/fish/completions/rundctl.fish

function __rundctl_complete
    # One call per TAB: the answers (value<TAB>description lines) are kept for --arguments.
    set -lx _RUNDCTL_COMPLETE complete_fish
    set -lx _TYPER_COMPLETE_FISH_ACTION get-args
    set -lx _TYPER_COMPLETE_ARGS (commandline -cp | string collect)
    set -g __rundctl_answers (rundctl 2>/dev/null | string match -v -- '')
    # No answer: the condition fails and fish completes file names.
    set -q __rundctl_answers[1]
end

complete --command rundctl --no-files --keep-order --condition __rundctl_complete \
    --arguments '$__rundctl_answers'
"""


def description(text: str | None) -> str:
    """A help text as a shell shows it next to a value: plain, one line, no controls."""
    if not text:
        return ""
    from rundctl.redact import neutralise

    one = neutralise(" ".join(text.split()))
    return one if len(one) <= DESCRIPTION_LIMIT else one[: DESCRIPTION_LIMIT - 1] + "…"


def _shown(item: CompletionItem) -> str | None:
    """The value as a line of the answer; None for one no shell could take (a control)."""
    value = str(item.value)
    return value if value and value.isprintable() else None


def _lines(items: list[CompletionItem], fmt: Any) -> str:
    return "\n".join(fmt(item) for item in items if _shown(item) is not None)


class BashComplete(TyperBash):
    """Typer's bash answer, and ``--opt=VAL`` (bash gives ``--opt``, ``=`` and ``VAL``)."""

    def get_completion_args(self) -> tuple[list[str], str]:
        args, incomplete = super().get_completion_args()
        if len(args) >= 2 and args[-1] == "=" and args[-2].startswith("-"):
            return args[:-2], f"{args[-2]}={incomplete}"
        return args, incomplete

    def complete(self) -> str:
        args, incomplete = self.get_completion_args()
        return _lines(self.get_completions(args, incomplete), self.format_completion)


class ZshComplete(TyperZsh):
    """``value<TAB>description`` lines for rundctl's zsh script (instruction ``complete_zsh2``)."""

    name = ZSH_INSTRUCTION

    def source(self) -> str:
        return ZSH_SCRIPT

    def format_completion(self, item: CompletionItem) -> str:
        help_text = description(item.help)
        return f"{item.value}\t{help_text}" if help_text else f"{item.value}"

    def complete(self) -> str:
        args, incomplete = self.get_completion_args()
        return _lines(self.get_completions(args, incomplete), self.format_completion)


class FishComplete(TyperFish):
    """Typer's fish answer with plain one-line descriptions."""

    def source(self) -> str:
        return FISH_SCRIPT

    def format_completion(self, item: CompletionItem) -> str:
        help_text = description(item.help)
        return f"{item.value}\t{help_text}" if help_text else f"{item.value}"

    def get_completions(self, args: list[str], incomplete: str) -> list[CompletionItem]:
        items = [i for i in super().get_completions(args, incomplete) if _shown(i) is not None]
        if incomplete.startswith("-") and "=" in incomplete:
            # --opt=VAL: fish matches answers against the whole word, so give it whole
            option = incomplete.partition("=")[0]
            items = [CompletionItem(f"{option}={i.value}", help=i.help) for i in items]
        return items


class PowerShellComplete(TyperPowerShell):
    """Typer's PowerShell answer with plain one-line descriptions."""

    def format_completion(self, item: CompletionItem) -> str:
        return f"{item.value}:::{description(item.help) or ' '}"

    def get_completions(self, args: list[str], incomplete: str) -> list[CompletionItem]:
        return [i for i in super().get_completions(args, incomplete) if _shown(i) is not None]


def install() -> None:
    """Register the classes that answer TAB (typer's, then rundctl's in their place)."""
    completion_init()
    add_completion_class(BashComplete, "bash")
    add_completion_class(ZshComplete, ZSH_INSTRUCTION)
    add_completion_class(FishComplete, "fish")
    add_completion_class(PowerShellComplete, "powershell")
    add_completion_class(PowerShellComplete, "pwsh")


def script(shell: str) -> str:
    """The completion script for *shell* (bash, zsh, fish, powershell), ending in a newline."""
    if shell == "zsh":
        return ZSH_SCRIPT
    if shell == "fish":
        return FISH_SCRIPT
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell) + "\n"
