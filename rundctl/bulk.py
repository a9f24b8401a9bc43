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
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, NamedTuple

from rundctl.errors import (
    AuthRejected,
    ExitCode,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    OutcomeUnknown,
    Problem,
    RundctlError,
    UsageError,
)
from rundctl.model import Overrides, build_create_payload
from rundctl.wire import encode_body

if TYPE_CHECKING:
    from concurrent.futures import Future

MAX_PROBLEMS = 100
JOURNAL_VERSION = 1


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
    """A validated bulk input: the spooled request bodies and their digest."""

    spool: str
    total: int
    digest: str


def validate(path: str, overrides: Overrides, *, now: datetime, source: str) -> Plan:
    """Pass 1: every record checked (all problems, each with its line); bodies spooled."""
    import hashlib
    import tempfile

    from rundctl import jsonio

    problems: list[Problem] = []
    digest = hashlib.sha256()
    spool = tempfile.NamedTemporaryFile(prefix="rundctl-bulk-", suffix=".ndjson", delete=False)
    count = 0
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
    return Plan(spool.name, count, digest.hexdigest())


def iter_spool(plan: Plan) -> Iterator[tuple[int, int, bytes]]:
    with open(plan.spool, "rb") as handle:
        for raw in handle:
            index, line, body = raw.rstrip(b"\n").split(b"\t", 2)
            yield int(index), int(line), body


# -- journal ----------------------------------------------------------------------------


class Journal:
    """Append-only, fsync'd record of outcomes; the last entry per record wins."""

    def __init__(self, path: str, plan: Plan, flow: str, parent: str | None) -> None:
        self.path = path
        self.state: dict[int, tuple[str, str | None]] = {}
        header = {"rundctl_journal": JOURNAL_VERSION, "digest": plan.digest, "flow": flow,
                  "parent": parent, "records": plan.total}
        existing = Path(path)
        if existing.exists() and existing.stat().st_size > 0:
            self._load(existing, header)
        self._lock = threading.Lock()
        self._handle: IO[str] = open(path, "a", encoding="utf-8")
        if not self.state and existing.stat().st_size == 0:
            self._append(header)

    def _load(self, path: Path, header: dict[str, Any]) -> None:
        with open(path, encoding="utf-8") as handle:
            first = handle.readline()
            try:
                seen = json.loads(first)
            except ValueError:
                seen = None
            if not isinstance(seen, dict) or seen.get("rundctl_journal") != JOURNAL_VERSION:
                raise UsageError(f"--journal: '{path}' is not a rundctl journal",
                                 hint="give a new path, or the journal of an earlier run")
            if (seen.get("digest"), seen.get("flow"), seen.get("parent")) != (
                    header["digest"], header["flow"], header["parent"]):
                raise UsageError(
                    f"--journal: '{path}' was written for different input (the file, the flags "
                    "or the flow changed since)",
                    hint="re-run with the same input, or start a new journal",
                )
            for raw in handle:
                try:
                    entry = json.loads(raw)
                    self.state[int(entry["i"])] = (str(entry["s"]), entry.get("id"))
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a crash: that record is reconciled or re-sent

    def _append(self, entry: dict[str, Any]) -> None:
        self._handle.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def record(self, index: int, status: str, run_id: str | None = None) -> None:
        with self._lock:
            entry: dict[str, Any] = {"i": index, "s": status}
            if run_id:
                entry["id"] = run_id
            self._append(entry)
            self.state[index] = (status, run_id)

    def close(self) -> None:
        self._handle.close()


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


def send_all(
    client: Any,
    plan: Plan,
    *,
    flow: str,
    parent: str | None,
    parallel: int,
    journal: Journal | None,
    emit: Callable[[Outcome], None],
) -> Summary:
    """Pass 2: send every spooled body with *parallel* workers; report each outcome."""
    from concurrent.futures import ThreadPoolExecutor

    from rundctl import runs

    summary = Summary(plan.total)
    lock = threading.Lock()
    stop: list[str] = []
    window = threading.BoundedSemaphore(parallel * 2)

    def report(outcome: Outcome) -> None:
        with lock:
            summary.add(outcome)
            emit(outcome)

    def one(index: int, line: int, body: bytes) -> None:
        try:
            report(_send_one(client, runs, journal, flow, parent, index, line, body, stop))
        finally:
            window.release()

    futures: list[Future[None]] = []
    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="rundctl-bulk")
    try:
        for index, line, body in iter_spool(plan):
            window.acquire()
            futures.append(pool.submit(one, index, line, body))
            futures = [f for f in futures if not f.done()]
        for future in futures:
            future.result()
    except BaseException:
        # Ctrl-C (or a bug): send nothing more; requests already in flight finish and are
        # journaled, so a re-run with the journal knows exactly where things stand.
        stop.append("interrupted")
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return summary


def _send_one(
    client: Any, runs: Any, journal: Journal | None, flow: str, parent: str | None,
    index: int, line: int, body: bytes, stop: list[str],
) -> Outcome:
    previous = journal.state.get(index) if journal else None
    if previous is not None and previous[0] == "created":
        return Outcome(index, line, "skipped", previous[1], None)
    if stop:
        return Outcome(index, line, "failed", None, f"not sent: {stop[0]}")
    payload = json.loads(body)
    try:
        if previous is not None and previous[0] in ("sending", "unknown"):
            found = runs.find_existing(client, flow, payload)  # inconclusive: stays unknown
            if found is not None:
                journal.record(index, "created", str(found.get("id")))  # type: ignore[union-attr]
                return Outcome(index, line, "skipped", str(found.get("id")),
                               "created by an earlier run (found by lookup)")
        if journal is not None:
            journal.record(index, "sending")
        run = runs.create_run(client, flow, payload, parent, encoded=body)
        run_id = str(run.get("id"))
        if journal is not None:
            journal.record(index, "created", run_id)
        return Outcome(index, line, "created", run_id, None)
    except OutcomeUnknown as exc:
        if journal is not None:
            journal.record(index, "unknown")
        return Outcome(index, line, "unknown", None, exc.message)
    except (AuthRejected, Forbidden, NotAuthenticated) as exc:  # no point going on
        stop.append(exc.message)
        if journal is not None:
            journal.record(index, "failed")
        return Outcome(index, line, "failed", None, exc.message)
    except RundctlError as exc:
        if journal is not None:
            journal.record(index, "failed")
        return Outcome(index, line, "failed", None, exc.message)
