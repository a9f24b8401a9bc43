# TAB completion for rundctl in fish.
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
