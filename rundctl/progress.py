"""What ``wait`` says on stderr while it waits: a spinner on a terminal, a plain line every
30 s otherwise (CI logs), and one line about the outcome."""

from __future__ import annotations

from typing import Any

from rundctl.deps import Deps
from rundctl.errors import ExitCode
from rundctl.redact import neutralise
from rundctl.render import human_duration
from rundctl.wait import WaitResult

PLAIN_EVERY = 30.0


class WaitProgress:
    def __init__(self, deps: Deps, run_id: str) -> None:
        self.deps = deps
        self.run_id = run_id
        self.last_line: float | None = None
        self.status: Any = None
        if deps.stderr_tty:
            from rundctl.render import make_console

            console = make_console(deps.stderr, tty=True, env=deps.env)
            self.status = console.status(f"waiting for run {run_id}")
            self.status.start()

    def update(self, run: dict[str, Any] | None, elapsed: float) -> None:
        state = neutralise(str(run.get("status"))) if run else "not found yet"
        text = f"waiting for run {self.run_id}: {state} ({human_duration(elapsed)} elapsed)"
        if self.status is not None:
            self.status.update(text)
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
