"""What rundctl says on stderr: error reports, GitHub Actions annotations, the in-flight note.

stdout carries data only; everything here goes to ``deps.stderr``. Every text that came
from a user or a service passes through :func:`rundctl.redact.safe_message` first.
"""

from __future__ import annotations

import time
from typing import Any

from rundctl.deps import Deps, write_command
from rundctl.errors import RundctlError
from rundctl.redact import safe_message

INTERRUPTED = "rundctl: interrupted\n"


def error_value(exit_code: int, message: str, hint: str | None,
                info: Any = None, details: list[str] | None = None) -> dict[str, Any]:
    """An error as ``--error-format json`` writes it (one object per line on stderr)."""
    body: dict[str, Any] = {"exit": exit_code, "message": safe_message(message),
                            "hint": safe_message(hint) if hint else None}
    if details:
        body["details"] = [safe_message(d.strip()) for d in details]
    if info is not None:
        for key, value in (("code", info.code), ("status", info.status),
                           ("requestId", info.request_id),
                           ("clientRequestId", info.client_request_id)):
            if value is not None:
                body[key] = value
    return {"error": body}


def _json(deps: Deps) -> Any:
    """The JSON writer of stderr when --error-format json is on, else None."""
    return getattr(deps.stderr, "value", None) if deps.error_format == "json" else None


def report(deps: Deps, exc: RundctlError) -> None:
    """``rundctl: error: …``, the service details, ``hint: …``; then the CI annotation."""
    value = _json(deps)
    if value is not None:
        info = getattr(exc, "info", None)
        extra = [] if info is not None else exc.detail_lines()
        value(error_value(int(exc.exit_code), exc.message, exc.hint, info, extra))
        deps.stderr.flush()
        return
    details = [safe_message(line) for line in exc.detail_lines()]
    lines = [f"rundctl: error: {safe_message(exc.message)}", *details]
    if exc.hint:
        lines.append(f"hint: {safe_message(exc.hint)}")
    deps.stderr.write("\n".join(lines) + "\n")
    deps.stderr.flush()
    annotate(deps, safe_message(exc.message), [d.strip() for d in details],
             safe_message(exc.hint) if exc.hint else None)


def usage(deps: Deps, message: str, command_path: str, exit_code: int = 2) -> None:
    """A command-line mistake found while parsing (exit 2)."""
    value = _json(deps)
    if value is not None:
        value(error_value(exit_code, message, f"see '{command_path} --help'"))
        deps.stderr.flush()
        return
    deps.stderr.write(f"rundctl: error: {safe_message(message)}\n"
                      f"hint: see '{command_path} --help'\n")
    deps.stderr.flush()


def annotate(deps: Deps, message: str, details: list[str], hint: str | None) -> None:
    """In GitHub Actions: an ``::error::`` annotation and a step-summary entry.

    Written to stderr (GitHub reads workflow commands from both streams), so stdout stays
    data only. ``--ci-annotations off`` or ``RUNDCTL_CI_ANNOTATIONS=off`` turns it off.
    """
    env = deps.env
    mode = deps.ci_annotations or env.get("RUNDCTL_CI_ANNOTATIONS", "auto").lower()
    if env.get("GITHUB_ACTIONS") != "true" or mode == "off" or deps.error_format == "json":
        return

    def escape(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    body = "\n".join([message, *details] + ([f"hint: {hint}"] if hint else []))
    write_command(deps.stderr, f"::error title=rundctl::{escape(body)}")
    summary = env.get("GITHUB_STEP_SUMMARY")
    if summary:
        md = [f"### :x: rundctl: {message}", ""]
        md += [f"- `{d}`" for d in details]
        if hint:
            md.append(f"- hint: {hint}")
        try:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write("\n".join(md) + "\n\n")
        except OSError:
            pass


def interrupted(deps: Deps, signum: int | None = None) -> None:
    """Ctrl-C (or SIGTERM/SIGHUP): say so, and whether a create was in flight."""
    value = _json(deps)
    if value is not None:
        import signal as signals

        name = f" ({signals.Signals(signum).name})" if signum else ""
        note = in_flight_note(deps).strip().replace("\nhint: ", "; ")
        value(error_value(128 + signum if signum else 130, f"interrupted{name}", note))
        deps.stderr.flush()
        return
    head = INTERRUPTED
    if signum:
        import signal

        head = f"rundctl: interrupted ({signal.Signals(signum).name})\n"
    try:
        deps.stderr.write(head + in_flight_note(deps))
        deps.stderr.flush()
    except (OSError, ValueError):
        pass


def done_before_output_lost(deps: Deps) -> None:
    """What the command changed before its output was lost, so nobody repeats it blindly."""
    for item in deps.done:
        text = item() if callable(item) else item
        try:
            deps.stderr.write(f"rundctl: {safe_message(text)} (its output could not be written)\n")
        except (OSError, ValueError):
            return
    deps.stderr.flush()


def output_lost(deps: Deps, reason: str) -> None:
    """stdout failed (a full disk, an I/O error): exit 18, with what was done."""
    value = _json(deps)
    if value is not None:
        done = [item() if callable(item) else item for item in deps.done]
        value(error_value(18, f"could not write the output: {reason}",
                          "it was done: check before running again" if done else None,
                          details=done))
        return
    deps.stderr.write(f"rundctl: error: could not write the output: {safe_message(reason)}\n")
    done_before_output_lost(deps)
    if deps.done:
        deps.stderr.write("hint: it was done: do not run the command again blindly; check "
                          "with 'rundctl list' or 'rundctl get'\n")
    deps.stderr.flush()


def in_flight_note(deps: Deps) -> str:
    pending = deps.in_flight() if deps.in_flight is not None else None
    if pending is None:
        return "no create was in flight: nothing was half-sent\n"
    crid, url, sent_at = pending
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sent_at))
    return (
        f"a create was in flight (POST {safe_message(url)}, client-request-id {crid}, sent at "
        f"{stamp}): it may have been applied\n"
        "hint: list the flow's runs to check before running again\n"
    )


def bug(deps: Deps, exc: BaseException, *, traceback_text: str | None = None) -> None:
    """An unexpected error: said plainly, never with locals, tokens or headers."""
    value = _json(deps)
    if value is not None:
        value(error_value(1, f"internal error (a bug): {type(exc).__name__}: {exc}",
                          "please report it with the command you ran"))
        return
    deps.stderr.write(
        f"rundctl: error: internal error (a bug): {type(exc).__name__}: "
        f"{safe_message(str(exc))}\n"
        "hint: please report it with the command you ran (run with --debug for details)\n"
    )
    if traceback_text:
        deps.stderr.write(safe_message(traceback_text))
    deps.stderr.flush()
