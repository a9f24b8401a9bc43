"""SQLite storage for the sandbox: runs, the flows they were created in, and a little state.

One connection shared by the server's threads behind a lock (SQLite serialises writers anyway,
and ``:memory:`` databases exist per connection). File databases use WAL and survive restarts.
Bodies are stored as the JSON the service returns; ``status`` and ``start_key`` are copied into
columns for the decisions made in SQL (the latest run, the ``start`` limit); query options are
evaluated over the bodies (:mod:`.odata`). ``version`` counts the changes of a run (its ETag):
every write of a run increments it, in the same statement that checks it. ``origin`` says who
made a run: a client (NULL), ``start``, or the ``schedule``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rundctl.sandbox.odata import start_key

if TYPE_CHECKING:
    import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    flow_id TEXT NOT NULL,
    parent_id TEXT NULL,
    seq INTEGER NOT NULL UNIQUE,
    start_key TEXT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    due_at REAL NULL,
    outcome TEXT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    origin TEXT NULL
);
CREATE INDEX IF NOT EXISTS runs_flow_order ON runs (flow_id, start_key, seq);
CREATE INDEX IF NOT EXISTS runs_order ON runs (start_key, seq);
CREATE INDEX IF NOT EXISTS runs_parent ON runs (parent_id);
CREATE INDEX IF NOT EXISTS runs_due ON runs (due_at) WHERE due_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS flows (
    id TEXT PRIMARY KEY,
    first_seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
# Columns added since the first sandboxes, with how to add them to an older database.
_ADDED_COLUMNS = {
    "version": "ALTER TABLE runs ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
    "origin": "ALTER TABLE runs ADD COLUMN origin TEXT NULL",
}


class StoreUnavailable(Exception):
    """SQLite could not do it now (busy, locked, full, I/O error) and nothing was committed:
    the transaction, if one was open, has been rolled back."""


class LimitReached(Exception):
    """``start`` refused: the window already holds as many on-demand runs as allowed."""

    def __init__(self, free_at: float) -> None:
        super().__init__(free_at)
        self.free_at = free_at  # when the oldest of them leaves the window


@dataclass(frozen=True)
class StoredRun:
    id: str
    flow_id: str
    parent_id: str | None
    seq: int
    start_key: str
    body: dict[str, Any]
    due_at: float | None = None
    outcome: str | None = None
    version: int = 1
    origin: str | None = None


@dataclass(frozen=True)
class Scope:
    """Which runs a listing covers: all, one flow's, or one run's children."""

    flow_id: str | None = None
    parent_id: str | None = None


@dataclass(frozen=True)
class StoredFlow:
    id: str
    first_seen: float


class RunStore:
    """Runs and flows in one SQLite database (a file path or ``:memory:``)."""

    def __init__(self, path: str, *, busy_timeout: float = 10.0) -> None:
        import sqlite3

        self.path = path
        self._lock = threading.RLock()
        self._local = threading.local()  # commits made by the current thread
        self._db: sqlite3.Connection = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=busy_timeout
        )
        self._db.row_factory = sqlite3.Row
        if path != ":memory:" and not path.startswith("file::memory:"):
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._migrate()
        self._repair_keys()

    def _migrate(self) -> None:
        """Columns added since a database was made by an older sandbox."""
        with self._reading() as db:
            columns = {str(row["name"]) for row in db.execute("PRAGMA table_info(runs)")}
        if set(_ADDED_COLUMNS) - columns:
            with self._transaction() as db:
                columns = {str(row["name"]) for row in db.execute("PRAGMA table_info(runs)")}
                for name, statement in _ADDED_COLUMNS.items():
                    if name not in columns:
                        db.execute(statement)

    def _repair_keys(self) -> None:
        """Recompute sort keys written without a four-digit year (earlier sandboxes used
        strftime("%Y"), which writes year 999 as "999"), so old databases sort right too."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id, body FROM runs WHERE start_key <> ''"
                " AND start_key NOT GLOB '[0-9][0-9][0-9][0-9]-*'"
            ).fetchall()
            for row in rows:
                key = _key_of(json.loads(row["body"]))
                db.execute("UPDATE runs SET start_key = ? WHERE id = ?", (key, row["id"]))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def commits(self) -> int:
        """How many transactions this thread has committed (to tell "nothing was written")."""
        return int(getattr(self._local, "commits", 0))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; a failure anywhere in it, COMMIT included, rolls it back
        (the connection is never left inside a transaction) and SQLite's operational errors
        become :class:`StoreUnavailable`."""
        import sqlite3

        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                if isinstance(exc, sqlite3.OperationalError):
                    raise StoreUnavailable(str(exc)) from exc
                raise
            self._local.commits = self.commits() + 1

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        import sqlite3

        with self._lock:
            try:
                yield self._db
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(str(exc)) from exc

    # -- writes --------------------------------------------------------------------------------

    def create(
        self,
        body: dict[str, Any],
        *,
        flow_id: str,
        parent_id: str | None = None,
        now: float,
        due_at: float | None = None,
        outcome: str | None = None,
        origin: str | None = None,
        limit: tuple[int, float] | None = None,
    ) -> StoredRun:
        """Insert a run (``body["id"]`` is its key) and remember its flow.

        With *limit* ``(N, window)``: only if fewer than N runs made by ``start`` in the last
        *window* seconds have not failed (counted and inserted in one transaction, so two
        sandboxes on one file cannot both take the last slot); else :class:`LimitReached`.
        """
        run_id = str(body["id"])
        key = _key_of(body)
        with self._transaction() as db:
            if limit is not None:
                self._check_limit(db, limit, now)
            (seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM runs").fetchone()
            db.execute(
                "INSERT INTO runs (id, flow_id, parent_id, seq, start_key, status, body,"
                " created_at, due_at, outcome, version, origin)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                (
                    run_id,
                    flow_id,
                    parent_id,
                    seq,
                    key,
                    str(body.get("status", "")),
                    _dumps(body),
                    now,
                    due_at,
                    outcome,
                    origin,
                ),
            )
            db.execute("INSERT OR IGNORE INTO flows (id, first_seen) VALUES (?, ?)", (flow_id, now))
        return StoredRun(run_id, flow_id, parent_id, int(seq), key, body, due_at, outcome, 1, origin)

    @staticmethod
    def _check_limit(db: sqlite3.Connection, limit: tuple[int, float], now: float) -> None:
        allowed, window = limit
        rows = db.execute(
            "SELECT created_at FROM runs WHERE origin = 'start' AND status <> 'failed'"
            " AND created_at > ? AND created_at <= ? ORDER BY created_at",
            (now - window, now),
        ).fetchall()
        if len(rows) >= allowed:
            # The slot frees when enough of the oldest have left the window.
            raise LimitReached(float(rows[len(rows) - allowed]["created_at"]) + window)

    def update(self, run_id: str, body: dict[str, Any], *, keep_schedule: bool = True) -> StoredRun | None:
        """Replace a run's body (a new version); ``keep_schedule=False`` cancels a pending
        ``start`` outcome.

        Returns the run as stored (read in the same transaction), None if there is none.
        """
        with self._transaction() as db:
            self._write(db, run_id, body, keep_schedule=keep_schedule, version=None)
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else _run(row)

    def modify(
        self,
        run_id: str,
        flow_id: str | None,
        change: Callable[[StoredRun], tuple[dict[str, Any], bool]],
    ) -> StoredRun | None:
        """Read, change and write one run in ONE write transaction: a read-modify-write that no
        other writer (thread or process) can interleave with.

        *change* gets the run as stored and returns its new body and whether to keep a pending
        ``start`` outcome; an exception from it (a 400, a 412) rolls back and changes nothing.
        The write is ``UPDATE ... WHERE version = <the version read>``, so even a writer that
        bypassed the lock could not be overwritten unseen. None if there is no such run.
        """
        with self._transaction() as db:
            sql, params = "SELECT * FROM runs WHERE id = ?", [run_id]
            if flow_id is not None:
                sql += " AND flow_id = ?"
                params.append(flow_id)
            row = db.execute(sql, params).fetchone()
            if row is None:
                return None
            current = _run(row)
            body, keep_schedule = change(current)
            if not self._write(db, run_id, body, keep_schedule=keep_schedule, version=current.version):
                raise StoreUnavailable("the run changed during its own transaction")  # pragma: no cover
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _run(row)

    @staticmethod
    def _write(
        db: sqlite3.Connection,
        run_id: str,
        body: dict[str, Any],
        *,
        keep_schedule: bool,
        version: int | None,
    ) -> bool:
        """One UPDATE of a run, its version incremented; only if still at *version* when given."""
        sql = (
            "UPDATE runs SET body = ?, status = ?, start_key = ?, version = version + 1,"
            " due_at = CASE WHEN ? THEN due_at END WHERE id = ?"
        )
        params: list[object] = [_dumps(body), str(body.get("status", "")), _key_of(body)]
        params += [keep_schedule, run_id]
        if version is not None:
            sql += " AND version = ?"
            params.append(version)
        return db.execute(sql, params).rowcount == 1

    def due(self, now: float) -> list[StoredRun]:
        """Runs made by ``start`` whose outcome is due (read lazily, no timer thread)."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT * FROM runs WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY seq", (now,)
            ).fetchall()
        return [_run(row) for row in rows]

    def settle(self, run_id: str, body: dict[str, Any]) -> None:
        """Store the final body of a due run and clear its schedule."""
        self.update(run_id, body, keep_schedule=False)

    # -- reads ---------------------------------------------------------------------------------

    def get(self, run_id: str, flow_id: str | None = None) -> StoredRun | None:
        sql, params = "SELECT * FROM runs WHERE id = ?", [run_id]
        if flow_id is not None:
            sql += " AND flow_id = ?"
            params.append(flow_id)
        with self._reading() as db:
            row = db.execute(sql, params).fetchone()
        return None if row is None else _run(row)

    def runs(self, scope: Scope) -> list[StoredRun]:
        """Every run in *scope*, in insertion order (the query options are applied by
        :mod:`.odata`, over the bodies)."""
        clauses, params = self._where(scope)
        sql = "SELECT * FROM runs"
        if clauses:  # fixed SQL fragments; every value is a bound parameter
            sql += " WHERE " + " AND ".join(clauses)
        with self._reading() as db:
            rows = db.execute(sql + " ORDER BY seq", params).fetchall()
        return [_run(row) for row in rows]

    def latest(self) -> StoredRun | None:
        """The run that started last (ties: the one stored last)."""
        with self._reading() as db:
            row = db.execute("SELECT * FROM runs ORDER BY start_key DESC, seq DESC LIMIT 1").fetchone()
        return None if row is None else _run(row)

    def flows(self) -> list[StoredFlow]:
        """Every flow a run was created in, oldest first."""
        with self._reading() as db:
            rows = db.execute("SELECT id, first_seen FROM flows ORDER BY first_seen, id")
            return [StoredFlow(str(r["id"]), float(r["first_seen"])) for r in rows.fetchall()]

    def flow(self, flow_id: str) -> StoredFlow | None:
        with self._reading() as db:
            row = db.execute("SELECT id, first_seen FROM flows WHERE id = ?", (flow_id,)).fetchone()
        return None if row is None else StoredFlow(str(row["id"]), float(row["first_seen"]))

    # -- the schedule --------------------------------------------------------------------------

    def schedule(
        self,
        *,
        every: float,
        now: float,
        make: Callable[[float], tuple[dict[str, Any], float | None, str | None] | None],
        flow_id: str,
        catch_up: int = 10,
    ) -> int:
        """Store the runs the service's schedule owes up to *now* (ticks every *every* seconds
        from the first time it was asked, at most *catch_up* missed ones), each from
        ``make(tick)`` → (body, due_at, outcome), or None for a tick that is skipped. One
        transaction: two sandboxes on one file make each tick once. Returns how many.

        Nothing due (the usual case of a read) takes no write lock."""
        with self._reading() as db:
            if self._schedule_state(db, every, now) is None:
                return 0
        with self._transaction() as db:
            state = self._schedule_state(db, every, now)
            if state is None:
                return 0
            anchor, done, due = state
            if done < 0:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('schedule.anchor', ?)", (repr(anchor),))
                db.execute("INSERT OR REPLACE INTO meta VALUES ('schedule.every', ?)", (repr(every),))
            made = 0
            for tick in range(max(done + 1, due - catch_up + 1), due + 1):
                at = anchor + tick * every
                planned = make(at)
                if planned is None:
                    continue
                body, due_at, outcome = planned
                (seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM runs").fetchone()
                db.execute(
                    "INSERT INTO runs (id, flow_id, parent_id, seq, start_key, status, body,"
                    " created_at, due_at, outcome, version, origin)"
                    " VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, 1, 'schedule')",
                    (str(body["id"]), flow_id, seq, _key_of(body), str(body.get("status", "")),
                     _dumps(body), at, due_at, outcome),
                )
                db.execute("INSERT OR IGNORE INTO flows (id, first_seen) VALUES (?, ?)", (flow_id, at))
                made += 1
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schedule.done', ?)", (str(due),))
        return made

    @staticmethod
    def _schedule_state(db: sqlite3.Connection, every: float, now: float) -> tuple[float, int, int] | None:
        """(anchor, last tick made or -1 for a new schedule, tick due now), or None when no
        tick is due."""
        state = {str(r["key"]): str(r["value"]) for r in db.execute("SELECT key, value FROM meta")}
        anchor = _float(state.get("schedule.anchor"))
        if anchor is None or _float(state.get("schedule.every")) != every or anchor > now:
            return now, -1, 0  # a new schedule (or a changed period): its first tick is now
        done = int(_float(state.get("schedule.done")) or 0)
        due = int((now - anchor) // every)
        return None if due <= done else (anchor, done, due)

    def started_since(self, since: float) -> list[float]:
        """When the runs made by ``start`` after *since* were made (for the schedule's skip rule)."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT created_at FROM runs WHERE origin = 'start' AND created_at > ? ORDER BY created_at",
                (since,),
            ).fetchall()
        return [float(r["created_at"]) for r in rows]

    @staticmethod
    def _where(scope: Scope) -> tuple[list[str], list[object]]:
        where: list[str] = []
        params: list[object] = []
        if scope.flow_id is not None:
            where.append("flow_id = ?")
            params.append(scope.flow_id)
        if scope.parent_id is not None:
            where.append("parent_id = ?")
            params.append(scope.parent_id)
        return where, params


def _float(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _key_of(body: dict[str, Any]) -> str:
    value = body.get("startDateTime")
    key = start_key(value) if isinstance(value, str) else None
    return key or ""


def _run(row: sqlite3.Row) -> StoredRun:
    return StoredRun(
        id=row["id"],
        flow_id=row["flow_id"],
        parent_id=row["parent_id"],
        seq=int(row["seq"]),
        start_key=row["start_key"],
        body=json.loads(row["body"]),
        due_at=row["due_at"],
        outcome=row["outcome"],
        version=int(row["version"]),
        origin=row["origin"],
    )
