"""``rundctl help TOPIC``: plain-text pages on exit codes, environment, formatting and CI.

Plain text (no rich markup), wrapped to fit 90 columns, so the pages read the same in a
terminal, a pager, a CI log or a file. The exit-code page is generated from
:data:`rundctl.errors.EXIT_CODE_TABLE` and the TSV columns from :mod:`rundctl.render`, so
neither can drift from the code.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from rundctl.errors import EXIT_CODE_TABLE
from rundctl.render import KIND_COLUMNS, TSV_COLUMNS
from rundctl.settings import AUTH_MODES, CLOUDS, OUTPUT_FORMATS

WIDTH = 90


def _para(text: str, indent: str = "") -> str:
    """One paragraph, re-wrapped to WIDTH."""
    return textwrap.fill(" ".join(text.split()), WIDTH, initial_indent=indent,
                         subsequent_indent=indent, break_on_hyphens=False,
                         break_long_words=False)


def _entries(items: Iterable[tuple[str, str]], *, indent: int = 2, gap: int = 2,
             term_width: int | None = None) -> str:
    """A definition list: each term, then its text wrapped in a hanging column."""
    rows = list(items)
    column = term_width or max(len(term) for term, _ in rows)
    lead = " " * indent
    hang = " " * (indent + column + gap)
    lines: list[str] = []
    for term, text in rows:
        words = " ".join(text.split())
        if len(term) > column:  # a long term gets a line of its own
            lines.append(lead + term)
            lines.append(textwrap.fill(words, WIDTH, initial_indent=hang, subsequent_indent=hang,
                                       break_on_hyphens=False, break_long_words=False))
            continue
        first = lead + term.ljust(column) + " " * gap
        lines.append(textwrap.fill(words, WIDTH, initial_indent=first, subsequent_indent=hang,
                                   break_on_hyphens=False, break_long_words=False))
    return "\n".join(lines)


def _page(*blocks: str) -> str:
    return "\n\n".join(block.rstrip("\n") for block in blocks) + "\n"


# -- exit-codes -------------------------------------------------------------------------


def _exit_codes() -> str:
    safe_width = max(len("re-run safe?"), *(len(safe) for _, _, safe in EXIT_CODE_TABLE))
    meaning_width = WIDTH - 2 - 5 - 2 - safe_width  # two spaces end the meaning column
    lines = [f"  {'code':<5}  {'meaning':<{meaning_width}}re-run safe?",
             f"  {'-' * 4:<5}  {'-' * (meaning_width - 2):<{meaning_width}}{'-' * 12}"]
    for code, meaning, safe in EXIT_CODE_TABLE:
        wrapped = textwrap.wrap(meaning, meaning_width - 2, break_on_hyphens=False) or [""]
        for index, piece in enumerate(wrapped):
            tail = safe if index == 0 else ""
            lines.append(f"  {code if index == 0 else '':<5}  {piece:<{meaning_width}}{tail}"
                         .rstrip())
    return _page(
        "EXIT CODES",
        _para("rundctl's exit codes are fixed: scripts may branch on them. \"Re-run safe\" "
              "says whether running the same command again can do harm."),
        "\n".join(lines),
        _para("8 means the request was certainly NOT applied: retry it (after the time "
              "printed, if any). 9 means a create MAY have been applied: look for the run "
              "(rundctl list --flow F) before creating it again; the error shows the "
              "client-request-id and the time it was sent. 12: re-run the same bulk command "
              "with the same --journal and every record is created exactly once."),
        _para("rundctl wait (and create --wait, start --wait) exits 0 when the run completed, "
              "13 failed, 14 completedWithErrors, 15 completedWithWarnings with --fail-on "
              "warnings, 16 a status rundctl does not know, 17 still running at --timeout. "
              "--fail-on never tolerates completedWithErrors and completedWithWarnings (a failed "
              "run still exits 13)."),
    )


# -- environment ------------------------------------------------------------------------

_CLOUD_NAMES = ", ".join(CLOUDS)
_AUTH_NAMES = ", ".join(AUTH_MODES)

ENVIRONMENT: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Connection and defaults (each is the default of the flag named)", (
        ("RUNDCTL_ENDPOINT", "--endpoint: the base URL (https://, or http:// for loopback "
         "hosts only), or 'sandbox' for the embedded sandbox. Default "
         "https://graph.microsoft.com/beta (the Graph root of --cloud)."),
        ("RUNDCTL_CLOUD", f"--cloud: {_CLOUD_NAMES} or custom; picks the Graph root, the "
         "Entra authority and the token scope together."),
        ("RUNDCTL_GRAPH_ROOT", "with --cloud custom: the Graph root of a private or test "
         "cloud (e.g. https://graph.example)."),
        ("RUNDCTL_AUTHORITY_HOST", "with --cloud custom: its Entra authority (an https:// "
         "URL); instance discovery is turned off."),
        ("RUNDCTL_FLOW", "--flow: the inbound flow ID (a GUID)."),
        ("RUNDCTL_OUTPUT", f"--output: {', '.join(OUTPUT_FORMATS)}."),
        ("RUNDCTL_TIMEOUT", "--timeout: wall-clock limit of a command (90, 90s, 2m, 1h; "
         "default 120s, 30m when waiting)."),
        ("RUNDCTL_MAX_RETRY_WAIT", "--max-retry-wait: the longest Retry-After rundctl sleeps "
         "(default 60s); a longer one exits 8 with the time to retry."),
        ("RUNDCTL_CI_ANNOTATIONS", "--ci-annotations: auto (default) or off; see "
         "'rundctl help ci'."),
        ("RUNDCTL_ERROR_FORMAT", "--error-format: text (default) or json (every stderr line "
         "one JSON value)."),
        ("RUNDCTL_GITHUB_OUTPUT", "--github-output: true writes results (run-id, status, "
         "bulk counts) to $GITHUB_OUTPUT."),
        ("RUNDCTL_SETTLE_SECONDS", "bulk --journal: how long after sending a create whose "
         "answer was lost rundctl waits before a lookup that finds nothing may count as "
         "'not created' (default 60; for test rigs)."),
    )),
    ("Profiles and files", (
        ("RUNDCTL_PROFILE", "--profile: the [profiles.NAME] table of config.toml to use."),
        ("RUNDCTL_CONFIG_DIR", "the config folder (config.toml, the auth login record); "
         "default $XDG_CONFIG_HOME/rundctl."),
        ("XDG_CONFIG_HOME", "base of the config folder (default ~/.config)."),
        ("XDG_DATA_HOME", "base of the embedded sandbox's database (default ~/.local/share)."),
        ("XDG_CACHE_HOME", "base of the recently used IDs kept for TAB completion (default "
         "~/.cache)."),
        ("RUNDCTL_SANDBOX_DB", "the SQLite file of --endpoint sandbox (default "
         "$XDG_DATA_HOME/rundctl/sandbox.db)."),
        ("RUNDCTL_SANDBOX_SURFACE", "the API surfaces --endpoint sandbox serves: both "
         "(default), published (Microsoft's paths only) or draft (the Create-run paths only)."),
        ("RUNDCTL_SANDBOX_REQUIRE_TOKEN", "rundctl sandbox --require-token: the bearer token "
         "the sandbox demands of every request."),
    )),
    ("Authentication", (
        ("RUNDCTL_AUTH", f"--auth: {_AUTH_NAMES}."),
        ("RUNDCTL_TOKEN", "a bearer token for --auth token (and auto, where it wins). Never "
         "printed; there is no flag for it (use --token-file PATH|- instead)."),
        ("AZURE_TENANT_ID", "the Entra tenant (--tenant)."),
        ("AZURE_CLIENT_ID", "the app registration or user-assigned identity (--client-id)."),
        ("AZURE_CLIENT_SECRET", "--auth environment: a client secret."),
        ("AZURE_CLIENT_CERTIFICATE_PATH", "--auth environment: a PEM/PFX client certificate "
         "(instead of a secret)."),
        ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "the password of that certificate, if any."),
        ("AZURE_FEDERATED_TOKEN_FILE", "--auth workload-identity: the projected token file, "
         "re-read for every assertion (AKS)."),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", "set by GitHub Actions with 'permissions: id-token: "
         "write'; --auth github-oidc fetches a fresh ID token from it for every assertion."),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "set by GitHub Actions alongside it; never printed."),
        ("IDENTITY_ENDPOINT", "present on Azure App Service, Functions, Arc: --auth auto "
         "considers managed-identity only when it (or MSI_ENDPOINT) is set; azure-identity "
         "also reads IDENTITY_HEADER."),
        ("MSI_ENDPOINT", "the older name of IDENTITY_ENDPOINT (MSI_SECRET goes with it)."),
        ("PATH", "where --auth azure-cli (and auto) looks for 'az'."),
        ("CI", "when set to anything: rundctl never prompts and 'auth login' refuses to keep a "
         "persistent token cache."),
    )),
    ("Network", (
        ("HTTPS_PROXY", "proxy for https:// endpoints (also https_proxy; ALL_PROXY as a "
         "fallback). User-info in it is never printed."),
        ("HTTP_PROXY", "proxy for http:// (loopback) endpoints: add them to NO_PROXY."),
        ("NO_PROXY", "hosts that bypass the proxy, e.g. localhost,127.0.0.1,::1."),
        ("REQUESTS_CA_BUNDLE", "a PEM file (or c_rehash'ed folder) of CA certificates to "
         "trust, e.g. a TLS-inspecting proxy's; TLS is always verified (no --insecure). "
         "CURL_CA_BUNDLE is read the same way; SSL_CERT_FILE is not."),
    )),
    ("Output and terminal", (
        ("NO_COLOR", "set and non-empty: no colour, whatever else is set."),
        ("FORCE_COLOR", "set, non-empty and not 0: colour even when stdout is not a terminal."),
        ("TERM", "'dumb': no colour and no spinner (wait prints plain lines)."),
        ("COLUMNS", "the width of tables when it cannot be read from the terminal."),
        ("GITHUB_ACTIONS", "'true' (set by GitHub Actions): errors and failed waits are also "
         "reported as ::error:: annotations (unless --ci-annotations off)."),
        ("GITHUB_STEP_SUMMARY", "set by GitHub Actions: the same errors are appended to the "
         "job's step summary."),
        ("GITHUB_OUTPUT", "set by GitHub Actions: with --github-output, results for later "
         "steps are appended there."),
    )),
    ("Debugging and internals", (
        ("RUNDCTL_TRACEBACK", "1: after an internal error (exit 1), also print the Python "
         "traceback, secrets redacted (for bug reports)."),
        ("_RUNDCTL_COMPLETE", "set by the shell completion scripts while TAB is pressed; do "
         "not set it yourself (see 'rundctl completion')."),
    )),
)


def environment_names() -> list[str]:
    """Every variable the environment page documents, in page order."""
    return [name for _, rows in ENVIRONMENT for name, _ in rows]


def _environment() -> str:
    term = max(len(name) for name in environment_names()
               if len(name) <= len("RUNDCTL_MAX_RETRY_WAIT"))
    sections = [f"{title}:\n{_entries(rows, term_width=term)}" for title, rows in ENVIRONMENT]
    return _page(
        "ENVIRONMENT",
        _para("Every environment variable rundctl reads. Values are checked like the "
              "matching flag: a bad value is a usage error (exit 2) before anything is sent."),
        _para("Precedence, for every setting: flag > environment > profile > default. A flag "
              "on the command line beats its RUNDCTL_* variable, which beats the active "
              "profile in config.toml (--profile or RUNDCTL_PROFILE), which beats the built-in "
              "default. 'rundctl config list --show-origin' shows where each value came from."),
        *sections,
    )


# -- formatting -------------------------------------------------------------------------


def _formatting() -> str:
    formats = (
        ("table", "a table for people: status in colour, relative times (\"5m ago\") and "
         "durations; long names wrap inside their column. Below 110 columns run IDs show "
         "their first 8 characters, which get, wait, update, stats and activities accept. "
         "'get' shows one run with its blocking error and statistics. --columns a,b.c picks "
         "the columns (dotted paths). Not a stable format: do not parse it."),
        ("wide", "the table with every column (whole IDs, end time, duration, statistics, "
         "blocking error)."),
        ("json", "the service's objects exactly as returned, indented, UTF-8: a created run, "
         "one run, or for a list ONE array holding every page fetched (an empty list is []), "
         "written only once every page is in. --query EXPR (JMESPath) shapes it first."),
        ("ndjson", "one compact JSON object per line, written as results arrive (a long "
         "'list --all' starts printing at once)."),
        ("tsv", "one line per item, fields separated by a tab, no header, no colour, no "
         "truncation (details below)."),
        ("id", "the IDs only, one per line: for RUN=$(...), xargs and while-read loops."),
        ("none", "nothing on stdout; the exit code tells the outcome."),
    )
    tsv_kinds = [(kind, " ".join(columns)) for kind, columns in KIND_COLUMNS.items()
                 if kind != "run"]
    return _page(
        "FORMATTING",
        _para(f"-o/--output {'|'.join(OUTPUT_FORMATS)} (or RUNDCTL_OUTPUT). Default: table "
              "when stdout is a terminal, json otherwise (a pipe, a file, $(...))."),
        _entries(formats),
        "TSV\n" + "\n\n".join([
            _para(f"Runs have the columns {' '.join(TSV_COLUMNS)}, in that order. Other "
                  "lists:", "  "),
            _entries(tsv_kinds, indent=4),
            _para("Times are printed as the service sends them: UTC ISO 8601 (...Z). A null "
                  "or missing value is an empty field; an object or array is compact JSON. "
                  "Backslash, tab, newline and carriage return inside a value are written "
                  "\\\\, \\t, \\n and \\r, so every item is exactly one line and a tab always "
                  "separates fields: cut -f1,3 and awk -F'\\t' are safe.", "  "),
        ]),
        "Bulk create\n" + _para(
            "create -f FILE with several records prints one result per record: "
            "{\"index\":0,\"line\":1,\"status\":\"created|failed|skipped|unknown\",\"id\":...,"
            "\"error\":...} (index counts from 0, line from 1), as NDJSON by default; -o id "
            "prints the created IDs; -o json one array.", "  "),
        "Terminal safety\n" + _para(
            "Strings from the service or the input are printed as data. Control characters "
            "(ESC, BEL, CR, C1 controls, bidi overrides) are shown as \\xNN or \\uNNNN and "
            "never reach the terminal; rich markup (tags in square brackets) is printed literally. In "
            "json and ndjson output, C1 controls, U+2028/U+2029 and bidi overrides are "
            "escaped as \\uNNNN.", "  "),
        "Colour\n" + _para(
            "Colour is used only for table output on a terminal. NO_COLOR (set and "
            "non-empty) turns it off and wins over everything; TERM=dumb turns it off too; "
            "FORCE_COLOR (non-empty, not 0) turns it on even when stdout is not a terminal.",
            "  "),
        "stdout and stderr\n" + _para(
            "stdout carries data only. Messages, warnings, the progress bar or spinner, "
            "notes such as 'more results exist' and errors go to stderr, so "
            "'rundctl list -o json > runs.json' captures clean JSON. An error reads "
            "'rundctl: error: <what>', then details (HTTP status, Graph error.code, "
            "request-id, client-request-id) and a 'hint:' line; with --error-format json "
            "every stderr line is one JSON value instead. A -o json list is written only "
            "once every page is in. If stdout is closed early (rundctl list | head -1), a "
            "read exits 0 quietly; a command that changed something exits 141 and says "
            "what it did.", "  "),
    )


# -- ci ---------------------------------------------------------------------------------

_SHELL = """\
  #!/bin/sh
  # Record a run while a job works: create it 'running', finish it with the job's outcome.
  set -u
  export RUNDCTL_FLOW=1b4e28ba-2fa1-11d2-883f-0016d3cca427   # your inbound flow
  # RUNDCTL_TOKEN or AZURE_* credentials come from the CI system's secrets.

  RUN=""
  for attempt in 1 2 3; do
    rc=0
    RUN=$(rundctl create -n "nightly import $(date -u +%F)" --start now \\
          --status running --stat people=0 -o id) || rc=$?
    [ "$rc" -eq 0 ] && break
    # 8: certainly not applied, safe to retry. 9: MAY have been created: do not
    # create again; look first (rundctl list --since 1h). Anything else: give up.
    [ "$rc" -eq 8 ] || exit "$rc"
    sleep 30
  done
  [ -n "$RUN" ] || exit 8

  if ./import.sh; then STATUS=completed; else STATUS=failed; fi

  rundctl update "$RUN" --status "$STATUS" --end now --stat people="$(wc -l < people.csv)"
  [ "$STATUS" = completed ]            # the job's own exit code"""

_GITHUB = """\
  # .github/workflows/import.yml (excerpt)
  permissions:
    id-token: write          # lets rundctl ask GitHub for an OIDC token
    contents: read
  env:
    AZURE_TENANT_ID: ${{ vars.AZURE_TENANT_ID }}
    AZURE_CLIENT_ID: ${{ vars.AZURE_CLIENT_ID }}   # app with a federated credential
    RUNDCTL_FLOW: ${{ vars.RUNDCTL_FLOW }}
    RUNDCTL_AUTH: github-oidc                      # same as --auth github-oidc
  jobs:
    import:
      runs-on: ubuntu-latest
      steps:                 # (rundctl already installed on the runner)
        - id: run
          run: |
            RUN=$(rundctl create -n "nightly ${{ github.run_id }}" --start now \\
                  --status running --stat people=0 -o id)
            echo "id=$RUN" >> "$GITHUB_OUTPUT"
        - run: ./import.sh
        - if: always() && steps.run.outputs.id != ''
          run: |
            S=completed; [ "${{ job.status }}" = success ] || S=failed
            rundctl update "${{ steps.run.outputs.id }}" --status "$S" --end now"""

_AZURE = """\
  # azure-pipelines.yml (excerpt): the service connection's identity via Azure CLI
  steps:
    - task: AzureCLI@2
      name: run
      inputs:
        azureSubscription: my-service-connection
        scriptType: bash
        scriptLocation: inlineScript
        inlineScript: |
          RUN=$(rundctl create --flow "$(FLOW)" -n "build $(Build.BuildId)" \\
                --start now --status running --stat people=0 --auth azure-cli -o id)
          echo "##vso[task.setvariable variable=id;isOutput=true]$RUN"
    - script: ./import.sh
    - task: AzureCLI@2
      condition: always()
      inputs:
        azureSubscription: my-service-connection
        scriptType: bash
        scriptLocation: inlineScript
        inlineScript: |
          S=completed; [ "$(Agent.JobStatus)" = Succeeded ] || S=failed
          rundctl update "$(run.id)" --flow "$(FLOW)" --status $S --end now \\
                --auth azure-cli

  # or a service principal's secret (secret variables must be mapped explicitly):
    - script: rundctl list --flow "$(FLOW)" --since 24h -o tsv --auth environment
      env:
        AZURE_TENANT_ID: $(tenantId)
        AZURE_CLIENT_ID: $(clientId)
        AZURE_CLIENT_SECRET: $(clientSecret)"""

_WAIT = """\
  rc=0
  rundctl wait "$RUN" --timeout 1h --fail-on errors > run.json || rc=$?
  case $rc in
    0)  echo "completed" ;;
    13) echo "the run failed" ;;
    14) echo "completed with errors" ;;
    15) echo "completed with warnings (--fail-on warnings)" ;;
    16) echo "ended in a status rundctl does not know: see run.json" ;;
    17) echo "still running after 1h" ;;
    *)  echo "rundctl could not follow the run (exit $rc)" ;;
  esac
  exit "$rc\""""


def _ci() -> str:
    return _page(
        "CI RECIPES",
        _para("In CI rundctl never prompts (CI is set, or stdin/stderr are not terminals): a "
              "missing credential is exit 4 at once, naming what would fix it. Output is "
              "json unless -o says otherwise; -o id gives bare IDs for $(...). Credentials: "
              "RUNDCTL_TOKEN, or an Entra identity (--auth environment, workload-identity, "
              "github-oidc, managed-identity, azure-cli); --auth auto picks the first that is "
              "configured ('rundctl auth status' shows which; 'rundctl doctor' checks the "
              "whole setup)."),
        "Plain shell: create 'running', then finish with the job's outcome\n" + _SHELL,
        "GitHub Actions with OIDC (no secret stored)\n" + _para(
            "Give the workflow 'permissions: id-token: write', create an app registration "
            "with a federated credential for the repository, and set AZURE_TENANT_ID and "
            "AZURE_CLIENT_ID. --auth github-oidc fetches a fresh GitHub ID token for every "
            "assertion, so hour-long waits never use an expired one.", "  ") + "\n\n" + _GITHUB,
        "Azure Pipelines\n" + _para(
            "Inside an AzureCLI@2 task, --auth azure-cli uses the service connection's "
            "identity (rundctl runs 'az' for the token). Outside it, pass a service "
            "principal through AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET "
            "(--auth environment).", "  ") + "\n\n" + _AZURE,
        "Annotations in GitHub Actions\n" + _para(
            "When GITHUB_ACTIONS=true, every error and every wait that ends badly is also "
            "written to stderr as a '::error title=rundctl::...' workflow command, so it "
            "shows on the run's summary page, and appended to $GITHUB_STEP_SUMMARY when that "
            "is set. stdout stays data only. --ci-annotations off (or "
            "RUNDCTL_CI_ANNOTATIONS=off) turns this off; auto (the default) turns it on "
            "only inside GitHub Actions.", "  "),
        "Waiting for a run: exit codes 13-17\n" + _para(
            "rundctl wait stops on any final status and prints the run on stdout; the exit "
            "code says how it ended (see 'rundctl help exit-codes'). --fail-on errors (the "
            "default) fails on failed and completedWithErrors, --fail-on warnings also on "
            "completedWithWarnings, --fail-on never only on failed.", "  ") + "\n\n" + _WAIT,
    )


TOPICS: dict[str, str] = {
    "exit-codes": _exit_codes(),
    "environment": _environment(),
    "formatting": _formatting(),
    "ci": _ci(),
}


def topic_names() -> list[str]:
    """The topics of ``rundctl help TOPIC``, in display order."""
    return list(TOPICS)
