"""GitHub Actions: step outputs, file/line annotations and step-summary entries.

Everything here writes only when the runner asked for it (``GITHUB_ACTIONS=true`` and its
files), never to stdout, and every text from a user or a service is neutralised first.
``--ci-annotations off`` (or ``RUNDCTL_CI_ANNOTATIONS=off``) turns annotations and summary
entries off; step outputs are written only when asked (``--github-output`` or
``RUNDCTL_GITHUB_OUTPUT=true``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rundctl.deps import Deps, write_command
from rundctl.redact import neutralise

MAX_ANNOTATIONS = 10  # GitHub shows at most 10 error annotations per step anyway
MAX_SUMMARY_ROWS = 50


def _on(deps: Deps) -> bool:
    mode = deps.ci_annotations or deps.env.get("RUNDCTL_CI_ANNOTATIONS", "auto").lower()
    return (deps.env.get("GITHUB_ACTIONS") == "true" and mode != "off"
            and deps.error_format != "json")


def outputs_wanted(deps: Deps, flag: bool) -> bool:
    return flag or (deps.env.get("RUNDCTL_GITHUB_OUTPUT") or "").strip().lower() in (
        "1", "true", "yes")


def write_outputs(deps: Deps, values: Mapping[str, object]) -> None:
    """Append ``name<<DELIMITER`` blocks to ``$GITHUB_OUTPUT`` (safe for any value)."""
    target = deps.env.get("GITHUB_OUTPUT")
    if not target:
        return
    import secrets

    blocks = []
    for name, value in values.items():
        text = "" if value is None else str(value)
        delimiter = f"rundctl_{secrets.token_hex(8)}"
        while delimiter in text:
            delimiter = f"rundctl_{secrets.token_hex(8)}"
        blocks.append(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
    _append(deps, target, "".join(blocks))


def summary(deps: Deps, markdown: str) -> None:
    """One entry in the step summary (``$GITHUB_STEP_SUMMARY``)."""
    target = deps.env.get("GITHUB_STEP_SUMMARY")
    if target and _on(deps):
        _append(deps, target, markdown.rstrip("\n") + "\n\n")


def _append(deps: Deps, path: str, text: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        deps.stderr.write(f"rundctl: warning: cannot write {neutralise(path)}: "
                          f"{exc.strerror or exc}\n")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _cell(text: object) -> str:
    return neutralise(str(text or "")).replace("|", "\\|")


def bulk_report(deps: Deps, source: str, problems: Iterable[Any], counts: Mapping[str, int],
                total: int) -> None:
    """After a bulk create: an ``::error file=…,line=…::`` annotation per record that was
    not created (capped) and a step-summary table; a one-line entry when all went well."""
    if not _on(deps):
        return
    listed = list(problems)
    if not listed:
        summary(deps, f"### :white_check_mark: rundctl: {counts.get('created', 0)} runs created"
                f", {counts.get('skipped', 0)} already there ({total} records)")
        return
    where = "" if source in ("-", "stdin") else f"file={_escape_property(source)},"
    for outcome in listed[:MAX_ANNOTATIONS]:
        text = f"record {outcome.position} {outcome.status}: {neutralise(outcome.error or '')}"
        write_command(deps.stderr, f"::error {where}line={outcome.line},title=rundctl bulk"
                      f"::{_escape_data(text)}")
    if len(listed) > MAX_ANNOTATIONS:
        write_command(deps.stderr, f"::error title=rundctl bulk::{len(listed) - MAX_ANNOTATIONS} "
                      "more records were not created (see the step summary)")
    rows = [f"| {o.line} | {o.status} | {_cell(o.error)} |" for o in listed[:MAX_SUMMARY_ROWS]]
    more = len(listed) - MAX_SUMMARY_ROWS
    summary(deps, "\n".join([
        f"### :x: rundctl: {len(listed)} of {total} records not created "
        f"(created {counts.get('created', 0)}, skipped {counts.get('skipped', 0)})", "",
        "| line | status | error |", "|---|---|---|", *rows,
        *([f"| … | | {more} more |"] if more > 0 else [])]))


def created_entry(deps: Deps, run: Mapping[str, Any]) -> None:
    summary(deps, f"### :white_check_mark: rundctl: created run `{_cell(run.get('id'))}` "
            f"({_cell(run.get('displayName'))}, {_cell(run.get('status'))})")
