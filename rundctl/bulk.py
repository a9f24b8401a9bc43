"""Bulk create (docs/reliability.md): thousands of runs from NDJSON, exactly once, resumable.

Two passes over the input, never holding it in memory:
1. validate every record (nothing is sent if any is wrong) and spool the exact request bodies
   to a temporary file, hashing them so a journal can tell whether the input changed;
2. send the spooled bodies with N workers over one connection pool.

With ``--journal PATH`` each outcome is appended and fsync'd as it happens ("sending" before
the POST, then "created"/"failed"/"unknown"). Re-running with the same journal skips what was
created, looks up records whose outcome is unknown (or that were in flight when the process
died) before sending them again, and retries failed ones: every record exactly once.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, BinaryIO, NamedTuple

from rundctl import reconcile
from rundctl.errors import (
    AuthRejected,
    DraftSurfaceMissing,
    ExitCode,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    OutcomeUnknown,
    Problem,
    RundctlError,
    TemporaryFailure,
)
from rundctl.journal import SETTLE_SECONDS, Entry, Journal, JournalBroken
from rundctl.journal import VERSION as JOURNAL_FORMAT
from rundctl.model import Overrides, build_create_payload, timestamp_key
from rundctl.reconcile import Baseline, Claims
from rundctl.wire import encode_body

MAX_PROBLEMS = 100
JOURNAL_VERSION = JOURNAL_FORMAT


# -- input ------------------------------------------------------------------------------


def spool_stdin(stdin: BinaryIO, head: bytes = b"") -> str:
    """Copy stdin (after *head*, already read) to a temporary file, so it can be read twice
    (validate, then send) without holding it in memory."""
    import shutil
    import tempfile

    handle = tempfile.NamedTemporaryFile(prefix="rundctl-stdin-", delete=False)
    with handle:
        handle.write(head)
        shutil.copyfileobj(stdin, handle, 1024 * 1024)
    return handle.name


def is_bulk(source: str | bytes) -> bool:
    """An array, or more than one NDJSON record: bulk. One object: a single create.

    *source* is a path, or the bytes of a small input already in memory.
    """
    import io

    from rundctl import jsonio

    with (open(source, "rb") if isinstance(source, str) else io.BytesIO(source)) as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        if head.startswith(b"["):
            return True
        handle.seek(0)
        count = 0
        try:
            for _ in jsonio.iter_records(handle):
                count += 1
                if count > 1:
                    return True
        except InvalidInput:
            return False
    return False


class Plan(NamedTuple):
    """A validated bulk input: the spooled request bodies, their digest, and the range of
    their start times (for the baseline lookup before the first send)."""

    spool: str
    total: int
    digest: str
    first_start: str = ""
    last_start: str = ""


def validate(path: str, overrides: Overrides, *, now: datetime, source: str) -> Plan:
    """Pass 1: every record checked (all problems, each with its line); bodies spooled."""
    import hashlib
    import tempfile

    from rundctl import jsonio

    problems: list[Problem] = []
    digest = hashlib.sha256()
    spool = tempfile.NamedTemporaryFile(prefix="rundctl-bulk-", suffix=".ndjson", delete=False)
    count = 0
    starts: list[tuple[tuple[str, int], str]] = []
    try:
        with open(path, "rb") as handle, spool:
            try:
                for line, record in jsonio.iter_records(handle, source=source):
                    try:
                        payload = build_create_payload(record, overrides, now=now, line=line)
                    except InvalidInput as exc:
                        problems.extend(exc.problems)
                        if len(problems) >= MAX_PROBLEMS:
                            break
                        continue
                    body = encode_body(payload)
                    start = str(payload["startDateTime"])
                    key = (timestamp_key(start), start)
                    starts = [min([*starts, key]), max([*starts, key])]
                    digest.update(body + b"\n")
                    spool.write(f"{count}\t{line}\t".encode() + body + b"\n")
                    count += 1
            except InvalidInput as exc:
                problems.extend(exc.problems)
        if problems:
            problems.sort(key=lambda p: p.line or 0)
            raise InvalidInput(problems[:MAX_PROBLEMS],
                               hint="nothing was sent; fix the input and run again")
        if count == 0:
            raise InvalidInput([Problem("", f"no input: {source} holds no records")])
    except BaseException:
        os.unlink(spool.name)
        raise
    return Plan(spool.name, count, digest.hexdigest(), starts[0][1], starts[-1][1])


def iter_spool(plan: Plan) -> Iterator[tuple[int, int, bytes]]:
    with open(plan.spool, "rb") as handle:
        for raw in handle:
            index, line, body = raw.rstrip(b"\n").split(b"\t", 2)
            yield int(index), int(line), body


# -- journal ----------------------------------------------------------------------------


def open_journal(path: str, plan: Plan, flow: str, parent: str | None, *,
                 clock: Callable[[], float], say: Callable[[str], None] | None = None) -> Journal:
    """The locked journal for this input (created, or resumed when it matches)."""
    header = {"rundctl_journal": JOURNAL_VERSION, "digest": plan.digest, "flow": flow,
              "parent": parent, "records": plan.total}
    return Journal(path, header, clock=clock, say=say)


def iter_spool_records(plan: Plan) -> Iterator[dict[str, Any]]:
    """The validated request bodies, parsed again (for ``validate -o ndjson``)."""
    for _, _, body in iter_spool(plan):
        yield json.loads(body)


# -- sending ----------------------------------------------------------------------------


class Outcome(NamedTuple):
    position: int  # 0-based index of the record in the input
    line: int
    status: str  # created | failed | skipped | unknown
    id: str | None
    error: str | None

    def as_json(self) -> dict[str, Any]:
        return {"index": self.position, "line": self.line, "status": self.status, "id": self.id,
                "error": self.error}


class Summary:
    def __init__(self, total: int) -> None:
        self.total = total
        self.broken: JournalBroken | None = None
        # A refusal that means no record can ever be created here (exit 7 when none was).
        self.fatal: RundctlError | None = None
        self.counts = {"created": 0, "failed": 0, "skipped": 0, "unknown": 0}

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.status] += 1

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        c = self.counts
        return (f"{self.done}/{self.total}: created {c['created']}, failed {c['failed']}, "
                f"skipped {c['skipped']}, unknown {c['unknown']}")

    def exit_code(self) -> ExitCode:
        ok = self.counts["created"] + self.counts["skipped"]
        return ExitCode.OK if ok == self.total else ExitCode.BULK_PARTIAL


class Sending(NamedTuple):
    """What every worker shares while one bulk input is sent."""

    client: Any
    flow: str
    parent: str | None
    journal: Journal | None
    baseline: Baseline
    claims: Claims
    clock: Callable[[], float]
    settle: float
    stop: list[str]


INTERRUPT_GRACE = 3.0  # after Ctrl-C/SIGTERM, how long requests in flight may still finish
STALL_SECONDS = 120.0  # no request finished for this long: the service hangs; stop (exit 8)


class _Workers:
    """*size* daemon threads running *work(index, line, body)*; Ctrl-C never waits on them
    for more than :data:`INTERRUPT_GRACE` (daemon threads do not hold the process open)."""

    def __init__(self, size: int, work: Callable[[int, int, bytes], None],
                 monotonic: Callable[[], float]) -> None:
        import queue

        self.work = work
        self.monotonic = monotonic
        self.tasks: queue.Queue[tuple[int, int, bytes] | None] = queue.Queue(maxsize=size * 2)
        self.cond = threading.Condition()
        self.in_flight: set[int] = set()
        self.pending = 0
        self.last_progress = monotonic()
        self.errors: list[BaseException] = []
        self.size = size
        for n in range(size):
            threading.Thread(target=self._run, name=f"rundctl-bulk-{n}", daemon=True).start()

    def _run(self) -> None:
        while (item := self.tasks.get()) is not None:
            with self.cond:
                self.in_flight.add(item[0])
            try:
                self.work(*item)
            except BaseException as exc:  # a bug in a worker: re-raised by the main thread
                self.errors.append(exc)
            finally:
                with self.cond:
                    self.in_flight.discard(item[0])
                    self.pending -= 1
                    self.last_progress = self.monotonic()
                    self.cond.notify_all()

    def _check(self, stall: float) -> None:
        if self.errors:
            raise self.errors[0]
        if self.in_flight and self.monotonic() - self.last_progress > stall:
            raise _Stalled(stall)

    def put(self, item: tuple[int, int, bytes], stall: float) -> None:
        import queue

        with self.cond:
            self.pending += 1
        while True:
            self._check(stall)
            try:
                self.tasks.put(item, timeout=0.25)
                return
            except queue.Full:
                continue

    def join(self, stall: float) -> None:
        with self.cond:
            while self.pending:
                self._check(stall)
                self.cond.wait(0.25)
        self._check(stall)

    def close(self) -> None:
        """Let the idle workers end (each takes one stop mark); busy ones end after."""
        import queue

        for _ in range(self.size):
            try:
                self.tasks.put_nowait(None)
            except queue.Full:
                break

    def settle(self, grace: float) -> set[int]:
        """Let requests in flight finish for up to *grace* s; the ones still out."""
        import queue

        while True:  # nothing queued is sent any more
            try:
                if self.tasks.get_nowait() is not None:
                    with self.cond:
                        self.pending -= 1
            except queue.Empty:
                break
        end = self.monotonic() + grace
        with self.cond:
            while self.in_flight and self.monotonic() < end:
                self.cond.wait(min(0.1, max(end - self.monotonic(), 0.01)))
            return set(self.in_flight)


class _Stalled(Exception):
    def __init__(self, stall: float) -> None:
        super().__init__(f"no request finished in {stall:.0f} s")
        self.stall = stall


def send_all(
    client: Any,
    plan: Plan,
    *,
    flow: str,
    parent: str | None,
    parallel: int,
    journal: Journal | None,
    emit: Callable[[Outcome], None],
    clock: Callable[[], float] = time.time,
    settle: float = SETTLE_SECONDS,
    monotonic: Callable[[], float] = time.monotonic,
    stall: float = STALL_SECONDS,
) -> Summary:
    """Pass 2: send every spooled body with *parallel* workers; report each outcome.

    A journal that cannot be written stops the sending; the summary then carries the
    error in ``broken`` (the caller reports it after the summary). Ctrl-C (or SIGTERM)
    stops sending at once; requests in flight get :data:`INTERRUPT_GRACE` s to finish and
    stay "sending" (unknown) in the journal otherwise. A service that answers nothing for
    *stall* s stops the bulk with exit 8 (resumable with the journal).
    """
    shared = Sending(client, flow, parent, journal, _baseline(client, plan, flow, parent, journal),
                     Claims(journal.claimed() if journal else ()), clock, settle, [])
    summary = Summary(plan.total)
    lock = threading.Lock()

    def one(index: int, line: int, body: bytes) -> None:
        outcome = _send_one(shared, index, line, body, summary)
        with lock:
            summary.add(outcome)
            emit(outcome)

    workers = _Workers(parallel, one, monotonic)
    try:
        return _feed(workers, plan, shared, summary, stall, journal is not None)
    finally:
        workers.close()


def _feed(workers: _Workers, plan: Plan, shared: Sending, summary: Summary, stall: float,
          journaled: bool) -> Summary:
    try:
        for item in iter_spool(plan):
            if shared.stop:
                break
            workers.put(item, stall)
        workers.join(stall)
    except _Stalled as stalled:
        shared.stop.append(str(stalled))
        workers.settle(0)
        raise TemporaryFailure(
            f"the service stopped answering: {stalled} ({summary.done} of {plan.total} records "
            "done); stopped sending",
            hint="requests still out may have been applied: run the same command again with "
            "--journal to finish exactly once" if journaled else "run again later; without "
            "--journal a re-run creates the created records again") from None
    except BaseException:
        shared.stop.append("interrupted")
        workers.settle(INTERRUPT_GRACE)
        raise
    if summary.fatal is not None and not summary.counts["created"] + summary.counts["skipped"]:
        raise summary.fatal
    return summary


def _baseline(client: Any, plan: Plan, flow: str, parent: str | None,
              journal: Journal | None) -> Baseline:
    """The runs that existed before the first send: from the journal when resuming, else
    looked up now (and journaled before anything is sent)."""
    if journal is not None and journal.state:
        return Baseline(journal.baseline)  # None (unknown) for a journal without one
    if journal is not None and journal.baseline is not None:
        return Baseline(journal.baseline)
    if not plan.first_start:
        return Baseline.unknown()
    taken = reconcile.snapshot(client, flow, parent, plan.first_start, plan.last_start)
    if journal is not None:
        journal.set_baseline(taken.ids)
    return taken


def _send_one(shared: Sending, index: int, line: int, body: bytes, summary: Summary) -> Outcome:
    from rundctl import runs  # the HTTP side: not imported by validate

    journal = shared.journal
    previous = journal.state.get(index) if journal else None
    if previous is not None and previous.status == "created":
        return Outcome(index, line, "skipped", previous.run_id, None)
    if shared.stop:
        return Outcome(index, line, "failed", None, f"not sent: {shared.stop[0]}")
    payload = json.loads(body)
    sent = False
    try:
        if previous is not None and previous.status in ("sending", "unknown"):
            settled = _settle(shared, index, line, payload, previous)
            if settled is not None:
                return settled
        if journal is not None:
            journal.record(index, "sending")
        sent = True
        run = runs.create_run(shared.client, shared.flow, payload, shared.parent, encoded=body,
                              baseline=shared.baseline, claims=shared.claims)
        run_id = str(run.get("id"))
        with shared.claims.lock:
            shared.claims.ids.add(run_id)
        sent = False
        if journal is not None:
            journal.record(index, "created", run_id)
        return Outcome(index, line, "created", run_id, None)
    except JournalBroken as exc:
        shared.stop.append(exc.message)
        summary.broken = exc
        if sent:  # the POST went out: its outcome is what the service says, not the journal
            return Outcome(index, line, "unknown", None, f"sent, then {exc.message}")
        return Outcome(index, line, "failed", None, f"not sent: {exc.message}")
    except OutcomeUnknown as exc:
        return _finish(shared, Outcome(index, line, "unknown", None, exc.message))
    except (AuthRejected, Forbidden, NotAuthenticated, DraftSurfaceMissing) as exc:
        shared.stop.append(exc.message)  # no point going on
        if isinstance(exc, DraftSurfaceMissing) and summary.fatal is None:
            summary.fatal = exc
        return _finish(shared, Outcome(index, line, "failed", None, exc.message))
    except RundctlError as exc:
        return _finish(shared, Outcome(index, line, "failed", None, exc.message))


def _finish(shared: Sending, outcome: Outcome) -> Outcome:
    if shared.journal is not None:
        shared.journal.record(outcome.position, outcome.status)
    return outcome


def _settle(shared: Sending, index: int, line: int, payload: dict[str, Any],
            previous: Entry) -> Outcome | None:
    """A record an earlier run sent without an answer: found (skipped), still settling
    (unknown), or provably not created (None: send it)."""
    run, listed = reconcile.recover(shared.client, shared.flow, shared.parent, payload,
                                    shared.baseline, shared.claims)
    if run is not None:
        run_id = str(run.get("id"))
        if shared.journal is not None:
            shared.journal.record(index, "created", run_id)
        return Outcome(index, line, "skipped", run_id, "created by an earlier run (found by lookup)")
    if listed and shared.baseline.ids is None:
        return Outcome(index, line, "unknown", None, "runs with this body exist and rundctl "
                       "cannot tell whether an earlier run made one of them")
    age = shared.clock() - previous.sent_at if previous.sent_at is not None else None
    if age is not None and age < shared.settle:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                             time.gmtime(previous.sent_at + shared.settle))  # type: ignore[operator]
        return Outcome(index, line, "unknown", None,
                       f"sent {age:.0f} s ago without an answer; the service may still apply "
                       f"it: run the same command again after {when}")
    return None
