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
    """A spinner that ticks every second on a terminal ("… 1m 5s elapsed, next check in 12s");
    with ``TERM=dumb`` or no terminal, one plain line per poll and at least one every 30 s."""

    def __init__(self, deps: Deps, run_id: str) -> None:
        self.deps = deps
        self.run_id = neutralise(run_id)
        self.last_line: float | None = None
        self.state = "not found yet"
        self.started = deps.monotonic()
        self.status: Any = None
        if deps.stderr_tty and deps.env.get("TERM") != "dumb":
            from rich.text import Text

            from rundctl.render import make_console

            console = make_console(deps.stderr, tty=True, env=deps.env)
            self.status = console.status(Text(f"waiting for run {self.run_id}"))
            self.status.start()

    def _text(self, elapsed: float, next_in: float | None = None) -> str:
        text = f"waiting for run {self.run_id}: {self.state} ({human_duration(elapsed)} elapsed"
        if next_in is not None and next_in >= 1:
            text += f", next check in {human_duration(next_in)}"
        return text + ")"

    def _plain(self, text: str) -> None:
        self.last_line = self.deps.monotonic()
        self.deps.stderr.write(f"rundctl: {text}\n")
        self.deps.stderr.flush()

    def update(self, run: dict[str, Any] | None, elapsed: float) -> None:
        """After each poll: the run's state (a plain line per poll off a terminal)."""
        self.state = neutralise(str(run.get("status"))) if run else "not found yet"
        if self.status is not None:
            from rich.text import Text

            self.status.update(Text(self._text(elapsed)))
        else:
            self._plain(self._text(elapsed))

    def sleep(self, seconds: float) -> None:
        """The pause between polls: on a terminal in steps of 1 s so the counter ticks; off
        one, in one piece unless a plain line is due (at least one every 30 s)."""
        end = self.deps.monotonic() + seconds
        while (left := end - self.deps.monotonic()) > 0:
            if self.status is not None:
                step = min(1.0, left)
            else:
                since = self.deps.monotonic() - (self.last_line or self.started)
                step = min(left, max(PLAIN_EVERY - since, 0.0) or left)
            self.deps.sleep(step)
            elapsed = self.deps.monotonic() - self.started
            next_in = max(0.0, end - self.deps.monotonic())
            if self.status is not None:
                from rich.text import Text

                self.status.update(Text(self._text(elapsed, next_in)))
            elif next_in > 0 and self.deps.monotonic() - (self.last_line or 0.0) >= PLAIN_EVERY:
                self._plain(self._text(elapsed, next_in))

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
        self.problems: list[Any] = []
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
        elif outcome.status in ("failed", "unknown") and len(self.problems) < 1000:
            self.problems.append(outcome)
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
