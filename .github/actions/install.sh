#!/usr/bin/env bash
# The install step of action.yml: rundctl from the action's checkout ($GITHUB_ACTION_PATH,
# the ref the workflow pinned) into its own venv under $RUNNER_TEMP; then PATH and defaults
# for later steps through $GITHUB_PATH and $GITHUB_ENV, and the version as a step output.
set -euo pipefail

source_dir="${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}"
venv="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/rundctl-venv"
python="python3"
bin="bin"
if [ "${RUNNER_OS:-}" = "Windows" ]; then
  python="python"
  bin="Scripts"
fi
if ! command -v "$python" >/dev/null 2>&1; then
  echo "::error title=rundctl::no $python on PATH; set the action's python-version input" >&2
  exit 1
fi

"$python" -m venv "$venv"
"$venv/$bin/python" -m pip install --quiet --disable-pip-version-check "$source_dir"
echo "$venv/$bin" >> "${GITHUB_PATH:?GITHUB_PATH is not set}"

defaults() {
  local name="$1" value="$2"
  if [ -n "$value" ]; then
    printf '%s=%s\n' "$name" "$value" >> "${GITHUB_ENV:?GITHUB_ENV is not set}"
  fi
}
defaults RUNDCTL_ENDPOINT "${INPUT_ENDPOINT:-}"
defaults RUNDCTL_AUTH "${INPUT_AUTH:-}"
defaults RUNDCTL_FLOW "${INPUT_FLOW:-}"
defaults RUNDCTL_PROFILE "${INPUT_PROFILE:-}"
while IFS= read -r line; do
  case "$line" in
    "" | \#*) ;;
    [A-Za-z_]*=*) printf '%s\n' "$line" >> "${GITHUB_ENV:?}" ;;
    *) echo "::warning title=rundctl::ignored env line (not NAME=value)" >&2 ;;
  esac
done <<< "${INPUT_ENV:-}"

version="$("$venv/$bin/rundctl" --version)"
echo "$version"
echo "version=${version#rundctl }" >> "${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set}"
