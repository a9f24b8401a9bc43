"""What ``wait`` says on stderr while it waits: a spinner on a terminal, a plain line every
30 s otherwise (CI logs), and one line about the outcome."""

from __future__ import annotations

from typing import Any

from rundctl.deps import Deps
from rundctl.errors import ExitCode
from rundctl.redact import ci_safe_line, neutralise
from rundctl.render import human_duration
from rundctl.wait import WaitResult

PLAIN_EVERY = 30.0


class WaitProgress:
    def __init__(self, deps: Deps, run_id: str) -> None:
        self.deps = deps
        self.run_id = neutralise(run_id)
        self.last_line: float | None = None
        self.status: Any = None
        if deps.stderr_tty:
            from rundctl.render import make_console

            console = make_console(deps.stderr, tty=True, env=deps.env)
            from rich.text import Text

            self.status = console.status(Text(f"waiting for run {self.run_id}"))
            self.status.start()

    def update(self, run: dict[str, Any] | None, elapsed: float) -> None:
        state = neutralise(str(run.get("status"))) if run else "not found yet"
        text = f"waiting for run {self.run_id}: {state} ({human_duration(elapsed)} elapsed)"
        if self.status is not None:
            from rich.text import Text

            self.status.update(Text(text))
            return
        now = self.deps.monotonic()
        if self.last_line is None or now - self.last_line >= PLAIN_EVERY:
            self.last_line = now
            self.deps.stderr.write(f"rundctl: {text}\n")
            self.deps.stderr.flush()

    def close(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None

    def report(self, result: WaitResult) -> None:
        run = result.run or {}
        status = neutralise(str(run.get("status")))
        took = human_duration(result.elapsed)
        code = result.exit_code
        if code == ExitCode.WAIT_TIMEOUT:
            line = (
                f"rundctl: error: timed out after {took}; run {self.run_id} is still "
                f"{status if result.run else 'not found'}\n"
                "hint: wait again with a longer --timeout\n"
            )
        elif code == ExitCode.WAIT_UNKNOWN_STATUS:
            line = f"rundctl: run {self.run_id} ended in status '{status}', which rundctl " \
                   "does not know\n"
        else:
            line = f"rundctl: run {self.run_id} ended {status}\n"
            error = run.get("blockingError")
            if isinstance(error, dict) and (error.get("code") or error.get("message")):
                detail = ": ".join(str(error[k]) for k in ("code", "message") if error.get(k))
                line += f"  blocking error: {neutralise(detail)}\n"
        self.deps.stderr.write(line)
        self.deps.stderr.flush()


class BulkProgress:
    """Bulk create's voice: per-record results on stdout, progress and summary on stderr."""

    def __init__(self, deps: Deps, fmt: str, total: int) -> None:
        self.deps = deps
        self.fmt = fmt
        self.total = total
        self.count = 0
        self.created = 0
        self.started = deps.monotonic()
        self.last_line = self.started
        self.bar: Any = None
        self.task: Any = None
        if deps.stderr_tty:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            from rundctl.render import make_console

            self.bar = Progress(
                TextColumn("creating"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                console=make_console(deps.stderr, tty=True, env=deps.env), transient=True,
            )
            self.task = self.bar.add_task("bulk", total=total, rate="")
            self.bar.start()

    def emit(self, outcome: Any) -> None:
        from rundctl.render import to_json

        if outcome.status == "created":
            self.created += 1
        out = self.deps.stdout
        if self.fmt in ("ndjson", "table", "tsv"):
            out.write(to_json(outcome.as_json(), indent=None) + "\n")
        elif self.fmt == "json":
            out.write(("[\n  " if self.count == 0 else ",\n  ")
                      + to_json(outcome.as_json(), indent=None))
        elif self.fmt == "id" and outcome.id:
            out.write(ci_safe_line(str(outcome.id)) + "\n")
        out.flush()
        self.count += 1
        now = self.deps.monotonic()
        rate = self.count / max(now - self.started, 1e-6)
        if self.bar is not None:
            self.bar.update(self.task, completed=self.count, rate=f"{rate:.0f}/s")
        elif now - self.last_line >= PLAIN_EVERY / 3:
            self.last_line = now
            self.deps.stderr.write(f"rundctl: {self.count}/{self.total} records ({rate:.0f}/s)\n")
            self.deps.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        if self.fmt == "json":
            self.deps.stdout.write("[]\n" if self.count == 0 else "\n]\n")
            self.deps.stdout.flush()

    def summary(self, summary: Any) -> None:
        took = max(self.deps.monotonic() - self.started, 1e-6)
        self.deps.stderr.write(
            f"rundctl: {summary.line()} in {human_duration(took)} ({self.count / took:.0f}/s)\n")
        self.deps.stderr.flush()
