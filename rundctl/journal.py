"""The bulk journal: one process at a time, every outcome on disk before it counts.

Format (NDJSON, one object per line, the last entry of a record wins)::

    {"rundctl_journal": 2, "digest": …, "flow": …, "parent": …, "records": N}
    {"b": ["<run id>", …]}            the baseline: runs that existed before the first send
    {"i": 7, "s": "sending", "t": 1764582000.5}
    {"i": 7, "s": "created", "id": "…"}

Rules that keep "nothing lost, nothing doubled":

- **One owner.** The file is locked (``flock``) for the life of the command; a second
  command on the same journal fails at once with exit 8 (temporary: nothing was sent).
- **Durable before it counts.** Each entry is written and fsync'd; "sending" is on disk
  before the request leaves. A failed write (a full disk) raises :class:`JournalBroken`
  and the caller sends nothing more.
- **Torn tails.** A crash can leave a last line without its newline. It is ignored (and
  reported), and the next entry starts on a fresh line, so it never swallows a record.
- **Settle window.** A create sent less than :data:`SETTLE_SECONDS` ago may still be applied
  by the service: a lookup that finds nothing is not yet proof that it was not created.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from rundctl.errors import ExitCode, RundctlError, TemporaryFailure, UsageError

VERSION = 2
SETTLE_SECONDS = 60.0
SETTLE_ENV = "RUNDCTL_SETTLE_SECONDS"  # for test rigs that cannot wait a minute
_BASELINE_CHUNK = 500


class JournalBroken(RundctlError):
    """The journal could not be written: stop sending; the journal on disk stays resumable."""

    exit_code = ExitCode.BULK_PARTIAL  # some records not created; re-run with the journal


class Entry(NamedTuple):
    status: str  # sending | created | failed | unknown
    run_id: str | None
    sent_at: float | None  # when "sending" was written (epoch seconds)


def settle_seconds(env: dict[str, str] | Any) -> float:
    text = env.get(SETTLE_ENV) if env is not None else None
    try:
        return max(0.0, float(text)) if text else SETTLE_SECONDS
    except ValueError:
        return SETTLE_SECONDS


def _lock(fd: int, path: str) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            raise _in_use(path) from None
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise _in_use(path) from None
        raise


def _in_use(path: str) -> TemporaryFailure:
    return TemporaryFailure(
        f"--journal: '{path}' is in use by another rundctl command",
        hint="nothing was sent; a journal belongs to one command at a time: wait for the "
        "other one to finish (then run this again), or give a different journal",
    )


def _open_error(path: str, exc: OSError) -> UsageError:
    if isinstance(exc, IsADirectoryError):
        why = "it is a directory"
    elif isinstance(exc, FileNotFoundError):
        why = "its folder does not exist"
    elif isinstance(exc, PermissionError):
        why = "permission denied"
    else:
        why = exc.strerror or str(exc)
    return UsageError(f"--journal: cannot open '{path}': {why}",
                      hint="give a file path in an existing, writable folder")


class Journal:
    """An open, locked journal; ``state`` maps record index to its last :class:`Entry`."""

    def __init__(self, path: str, header: dict[str, Any], *,
                 clock: Callable[[], float], say: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.clock = clock
        self.state: dict[int, Entry] = {}
        self.baseline: frozenset[str] | None = None
        self.torn = 0
        self._lock = threading.Lock()
        self._broken: str | None = None
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError as exc:
            raise _open_error(path, exc) from None
        try:
            import stat

            if not stat.S_ISREG(os.fstat(self._fd).st_mode):
                raise UsageError(f"--journal: '{path}' is not a regular file",
                                 hint="give a file path in an existing, writable folder")
            _lock(self._fd, path)
            raw = self._read_all()
            fresh_line = not raw or raw.endswith(b"\n")
            if raw.strip():
                self._load(raw, header)
            else:
                self._write([header], fresh_line=True)
            if not fresh_line and raw.strip():
                self._write([], fresh_line=False)  # end the torn line: it stays ignored
        except BaseException:
            os.close(self._fd)
            raise
        if self.torn and say is not None:
            say(f"journal: ignored {self.torn} torn line(s) left by an interrupted run; "
                "those records are checked before anything is sent again")

    # -- reading ------------------------------------------------------------------------

    def _read_all(self) -> bytes:
        chunks: list[bytes] = []
        os.lseek(self._fd, 0, os.SEEK_SET)
        while True:
            chunk = os.read(self._fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    def _load(self, raw: bytes, header: dict[str, Any]) -> None:
        lines = raw.split(b"\n")
        complete, tail = lines[:-1], lines[-1]
        if tail.strip():
            self.torn += 1  # the last line never got its newline
        try:
            seen = json.loads(complete[0].decode("utf-8")) if complete else None
        except (ValueError, UnicodeDecodeError):
            seen = None
        if not isinstance(seen, dict) or seen.get("rundctl_journal") not in (1, VERSION):
            raise UsageError(f"--journal: '{self.path}' is not a rundctl journal",
                             hint="give a new path, or the journal of an earlier run")
        if any(seen.get(k) != header.get(k) for k in ("digest", "flow", "parent")):
            raise UsageError(
                f"--journal: '{self.path}' was written for different input (the file, the "
                "flags or the flow changed since)",
                hint="re-run with the same input, or start a new journal")
        baseline: set[str] | None = set() if seen.get("rundctl_journal") == VERSION else None
        has_baseline = False
        for line in complete[1:]:
            entry = self._parse(line)
            if entry is None:
                continue
            if "b" in entry and baseline is not None:
                has_baseline = True
                baseline.update(str(i) for i in entry["b"] if isinstance(i, str))
                continue
            try:
                index, status = int(entry["i"]), str(entry["s"])
            except (KeyError, TypeError, ValueError):
                self.torn += 1
                continue
            before = self.state.get(index)
            sent_at = entry.get("t") if isinstance(entry.get("t"), int | float) else None
            if sent_at is None and before is not None:
                sent_at = before.sent_at
            self.state[index] = Entry(status, entry.get("id"), sent_at)
        self.baseline = frozenset(baseline) if baseline is not None and has_baseline else None

    def _parse(self, line: bytes) -> dict[str, Any] | None:
        if not line.strip():
            return None
        try:
            entry = json.loads(line.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            self.torn += 1
            return None
        if not isinstance(entry, dict):
            self.torn += 1
            return None
        return entry

    # -- writing ------------------------------------------------------------------------

    def _write(self, entries: Iterable[dict[str, Any]], *, fresh_line: bool) -> None:
        data = b"" if fresh_line else b"\n"
        data += b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in entries)
        if not data:
            return
        try:
            os.lseek(self._fd, 0, os.SEEK_END)
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            os.fsync(self._fd)
        except OSError as exc:
            self._broken = exc.strerror or str(exc)
            raise JournalBroken(
                f"--journal: cannot write '{self.path}': {self._broken}",
                hint="nothing more was sent; free space (or fix the file), then run the same "
                "command again: the journal resumes where it stopped") from None

    def set_baseline(self, ids: frozenset[str] | None) -> None:
        """Record the runs that existed before the first send (None: could not tell)."""
        self.baseline = ids
        if ids is None:
            return
        listed = sorted(ids)
        chunks = [listed[i:i + _BASELINE_CHUNK] for i in range(0, len(listed), _BASELINE_CHUNK)]
        with self._lock:
            self._write([{"b": chunk} for chunk in chunks or [[]]], fresh_line=True)

    def record(self, index: int, status: str, run_id: str | None = None) -> None:
        """Append one outcome (durably); "sending" also notes when it was sent."""
        with self._lock:
            if self._broken is not None:
                raise JournalBroken(f"--journal: cannot write '{self.path}': {self._broken}")
            entry: dict[str, Any] = {"i": index, "s": status}
            if run_id:
                entry["id"] = run_id
            before = self.state.get(index)
            sent_at = before.sent_at if before is not None else None
            if status == "sending":
                sent_at = round(self.clock(), 3)
                entry["t"] = sent_at
            self._write([entry], fresh_line=True)
            self.state[index] = Entry(status, run_id, sent_at)

    def claimed(self) -> set[str]:
        """The run IDs already recorded as created by this journal."""
        return {e.run_id for e in self.state.values() if e.status == "created" and e.run_id}

    def close(self) -> None:
        try:
            os.close(self._fd)  # also releases the lock
        except OSError:
            pass
