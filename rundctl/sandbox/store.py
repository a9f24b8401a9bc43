"""SQLite storage for the sandbox: runs and the flows they were created in.

One connection shared by the server's threads behind a lock (SQLite serialises writers anyway,
and ``:memory:`` databases exist per connection). File databases use WAL and survive restarts.
Bodies are stored as the JSON the service returns; ``status`` and ``start_key`` are copied into
columns so filters, ordering and keyset paging run in SQL. ``version`` counts the changes of a
run (its ETag): every write of a run increments it, in the same statement that checks it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rundctl.sandbox.odata import Compare, Cursor, Expr, Logical, start_key

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
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS runs_flow_order ON runs (flow_id, start_key, seq);
CREATE INDEX IF NOT EXISTS runs_order ON runs (start_key, seq);
CREATE INDEX IF NOT EXISTS runs_parent ON runs (parent_id);
CREATE INDEX IF NOT EXISTS runs_due ON runs (due_at) WHERE due_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS flows (
    id TEXT PRIMARY KEY,
    first_seen REAL NOT NULL
);
"""

_SQL_OPS = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_COLUMNS = {"status": "status", "startDateTime": "start_key"}


class StoreUnavailable(Exception):
    """SQLite could not do it now (busy, locked, full, I/O error) and nothing was committed:
    the transaction, if one was open, has been rolled back."""


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

    def cursor(self, descending: bool) -> Cursor:
        return Cursor(descending, self.start_key, self.seq)


@dataclass(frozen=True)
class Scope:
    """Which runs a listing covers: all, one flow's, or one run's children."""

    flow_id: str | None = None
    parent_id: str | None = None


def compile_filter(expr: Expr, params: list[object]) -> str:
    """SQL for a parsed ``$filter``; values go to *params*."""
    if isinstance(expr, Compare):
        params.append(expr.value)
        return f"{_COLUMNS[expr.field]} {_SQL_OPS[expr.op]} ?"
    if isinstance(expr, Logical):
        left = compile_filter(expr.left, params)
        right = compile_filter(expr.right, params)
        return f"({left} {expr.op.upper()} {right})"
    return f"(NOT {compile_filter(expr.operand, params)})"


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
        if "version" not in columns:
            with self._transaction() as db:
                columns = {str(row["name"]) for row in db.execute("PRAGMA table_info(runs)")}
                if "version" not in columns:
                    db.execute("ALTER TABLE runs ADD COLUMN version INTEGER NOT NULL DEFAULT 1")

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
    ) -> StoredRun:
        """Insert a run (``body["id"]`` is its key) and remember its flow."""
        run_id = str(body["id"])
        key = _key_of(body)
        with self._transaction() as db:
            (seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM runs").fetchone()
            db.execute(
                "INSERT INTO runs (id, flow_id, parent_id, seq, start_key, status, body,"
                " created_at, due_at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                ),
            )
            db.execute("INSERT OR IGNORE INTO flows (id, first_seen) VALUES (?, ?)", (flow_id, now))
        return StoredRun(run_id, flow_id, parent_id, int(seq), key, body, due_at, outcome)

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

    def list_runs(
        self,
        scope: Scope,
        *,
        where: Expr | None = None,
        descending: bool = True,
        after: Cursor | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[StoredRun]:
        """One page of runs, ordered by startDateTime then insertion order (keyset paging)."""
        clauses, params = self._where(scope, where)
        if after is not None:
            op = "<" if descending else ">"
            clauses.append(f"(start_key {op} ? OR (start_key = ? AND seq {op} ?))")
            params += [after.start_key, after.start_key, after.seq]
        direction = "DESC" if descending else "ASC"
        sql = "SELECT * FROM runs"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY start_key {direction}, seq {direction} LIMIT ? OFFSET ?"
        params += [limit, offset]
        with self._reading() as db:
            rows = db.execute(sql, params).fetchall()
        return [_run(row) for row in rows]

    def count(self, scope: Scope, *, where: Expr | None = None) -> int:
        clauses, params = self._where(scope, where)
        sql = "SELECT COUNT(*) FROM runs"
        if clauses:  # fixed SQL fragments; every value is a bound parameter
            sql += " WHERE " + " AND ".join(clauses)
        with self._reading() as db:
            (total,) = db.execute(sql, params).fetchone()
        return int(total)

    def flows(self) -> list[tuple[str, float]]:
        """Every flow a run was created in, oldest first."""
        with self._reading() as db:
            rows = db.execute("SELECT id, first_seen FROM flows ORDER BY first_seen, id")
            return [(str(r["id"]), float(r["first_seen"])) for r in rows.fetchall()]

    def flow(self, flow_id: str) -> tuple[str, float] | None:
        with self._reading() as db:
            row = db.execute("SELECT id, first_seen FROM flows WHERE id = ?", (flow_id,)).fetchone()
        return None if row is None else (str(row["id"]), float(row["first_seen"]))

    @staticmethod
    def _where(scope: Scope, expr: Expr | None) -> tuple[list[str], list[object]]:
        where: list[str] = []
        params: list[object] = []
        if scope.flow_id is not None:
            where.append("flow_id = ?")
            params.append(scope.flow_id)
        if scope.parent_id is not None:
            where.append("parent_id = ?")
            params.append(scope.parent_id)
        if expr is not None:
            where.append(compile_filter(expr, params))
        return where, params


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
    )
