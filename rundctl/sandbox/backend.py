"""The sandbox's rules, apart from routes and sockets: what a create, a PATCH, a listing or a
``start`` does to the stored runs, how runs made by ``start`` settle, and the statistics a run
reports. Handlers in :mod:`.api` call :class:`RunBackend`; it calls :class:`~.store.RunStore`.

Validation is rundctl's own (:mod:`rundctl.model`), so the sandbox refuses what Graph would
(docs/sandbox.md). Failures are :class:`~.messages.GraphError` answers.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rundctl import model
from rundctl.sandbox import odata, views
from rundctl.sandbox.messages import GraphError, IfMatch
from rundctl.sandbox.store import RunStore, Scope, StoredRun

# Runs made by `start` (which names no flow) belong to this fixed flow.
START_FLOW_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://rundctl.invalid/sandbox/start-flow"))
_COUNT_KEYS = ("people", "groups", "memberships", "organizations", "errors", "warnings")


@dataclass(frozen=True)
class Page:
    """One page of a listing: its runs, ``@odata.count`` if asked, and where the next starts."""

    runs: list[StoredRun]
    count: int | None
    next_cursor: odata.Cursor | None


class RunBackend:
    """The runs and flows of one sandbox, and what requests do to them."""

    def __init__(
        self,
        store: RunStore,
        *,
        clock: Callable[[], float] = time.time,
        run_seconds: float = 5.0,
        start_outcome: str = "completed",
    ) -> None:
        self.store = store
        self.clock = clock
        self.run_seconds = run_seconds
        self.start_outcome = start_outcome
        self._settle_lock = threading.Lock()

    # -- runs ----------------------------------------------------------------------------------

    def create(self, document: object, flow: str, parent: str | None = None) -> StoredRun:
        """Validate a run as Graph would and store it with a new id (under *parent* if given)."""
        problems = model.validate_run(document)
        if problems:
            raise views.validation_error(problems)
        assert isinstance(document, dict)
        if parent is not None and self.store.get(parent, flow) is None:
            raise run_not_found(parent, flow)
        normalized = model.normalize_run(document)
        # "@odata.type" first, then the new id, then the rest as normalized.
        body = {"@odata.type": normalized.get("@odata.type"), "id": str(uuid.uuid4())}
        body.update(normalized)
        return self.store.create(body, flow_id=flow, parent_id=parent, now=self.clock())

    def get(self, run_id: str, flow: str | None = None) -> StoredRun:
        """The run (in *flow* if given), its ``start`` outcome applied if due; 404 if none."""
        self.settle()
        run = self.store.get(run_id, flow)
        if run is None:
            raise run_not_found(run_id, flow)
        return run

    def require(self, run_id: str, flow: str) -> None:
        """404 unless *flow* has the run (a parent, for its children)."""
        if self.store.get(run_id, flow) is None:
            raise run_not_found(run_id, flow)

    def patch(
        self, run_id: str, flow: str, patch: object, if_match: IfMatch | None = None
    ) -> StoredRun:
        """Merge *patch* into the run, validated against the run it would become.

        With *if_match*, only if the run is still at one of its versions (``*``: any), else
        412 and nothing changes. The check, the validation against the stored run and the
        write are one transaction.
        """
        self.settle()

        def change(run: StoredRun) -> tuple[dict[str, Any], bool]:
            if if_match is not None and not if_match.matches(views.etag(run)):
                raise precondition_failed(run, if_match)
            problems = model.validate_patch(patch, run.body)
            if problems:
                raise views.validation_error(problems)
            assert isinstance(patch, dict)
            merged = {**model.merge_patch(run.body, patch), "id": run.id}
            # An explicit status wins over the pending outcome of a `start` run.
            return merged, "status" not in patch

        updated = self.store.modify(run_id, flow, change)
        if updated is None:
            raise run_not_found(run_id, flow)
        return updated

    def page(self, scope: Scope, query: odata.ListQuery) -> Page:
        """One page of the runs in *scope* for a parsed collection query (keyset paging)."""
        self.settle()
        runs: list[StoredRun] = []
        if query.top > 0:
            runs = self.store.list_runs(
                scope,
                where=query.filter,
                descending=query.descending,
                after=query.cursor,
                offset=query.skip if query.cursor is None else 0,
                limit=query.top + 1,
            )
        count = self.store.count(scope, where=query.filter) if query.count else None
        cursor = None
        if len(runs) > query.top:
            runs = runs[: query.top]
            cursor = runs[-1].cursor(query.descending)
        return Page(runs, count, cursor)

    def commits(self) -> int:
        """Writes committed so far by this thread: a handler's mark for "was anything written"."""
        return self.store.commits()

    def count(self, scope: Scope, where: odata.Expr | None) -> int:
        self.settle()
        return self.store.count(scope, where=where)

    def start(self) -> StoredRun:
        """A new run in the start flow, ``running`` until ``run_seconds`` from now."""
        now = self.clock()
        started = odata.iso_seconds(odata.utc(now))
        body: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "displayName": f"Run {started[:10]} {started[11:16]} UTC",
            "startDateTime": odata.format_timestamp(now),
            "endDateTime": None,
            "status": "running",
            "statistics": {},
        }
        return self.store.create(
            body,
            flow_id=START_FLOW_ID,
            now=now,
            due_at=now + self.run_seconds,
            outcome=self.start_outcome,
        )

    def settle(self) -> None:
        """Give runs made by ``start`` their outcome once it is due (lazy, no timer thread)."""
        now = self.clock()
        with self._settle_lock:
            for run in self.store.due(now):
                outcome = run.outcome or "completed"
                body = dict(run.body)
                body["status"] = outcome
                body["endDateTime"] = odata.format_timestamp(run.due_at if run.due_at is not None else now)
                body["statistics"] = generated_statistics(run.id, outcome)
                if outcome == "failed":
                    body["blockingError"] = {
                        "code": "sandboxOutcome",
                        "message": "The sandbox ended this run as failed (--start-outcome).",
                    }
                self.store.settle(run.id, body)

    def statistics(self, run: StoredRun) -> dict[str, int]:
        """Counts from the run's own ``statistics`` where it has them, generated otherwise."""
        status = str(run.body.get("status"))
        counts = generated_statistics(run.id, status)
        stored = run.body.get("statistics")
        if isinstance(stored, dict):
            lowered = {str(k).lower(): v for k, v in stored.items()}
            for key in _COUNT_KEYS:
                value = lowered.get(key)
                if isinstance(value, dict):
                    value = value.get("total")
                if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    counts[key] = value
        return counts

    # -- flows ---------------------------------------------------------------------------------

    def flows(self) -> list[tuple[str, float]]:
        return self.store.flows()

    def flow(self, flow_id: str) -> tuple[str, float]:
        found = self.store.flow(flow_id)
        if found is None:
            raise GraphError(404, "itemNotFound", f"Inbound flow '{flow_id}' was not found.")
        return found


def precondition_failed(run: StoredRun, if_match: IfMatch) -> GraphError:
    current = views.etag(run)
    return GraphError(
        412,
        "preconditionFailed",
        f"The run has changed since it was read: If-Match {if_match.sent[:200]} does not match its current "
        f"ETag {current}. Read the run again and reapply the change.",
        headers=[("ETag", current)],
    )


def run_not_found(run_id: str, flow: str | None = None) -> GraphError:
    if flow is None:
        return GraphError(404, "itemNotFound", f"Run '{run_id}' was not found.")
    return GraphError(404, "itemNotFound", f"Run '{run_id}' was not found in flow '{flow}'")


def generated_statistics(run_id: str, status: str) -> dict[str, int]:
    """Deterministic, plausible counts for a run (the same id always gives the same numbers)."""
    digest = hashlib.sha256(run_id.encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    people = 200 + number % 4800
    counts = {
        "people": people,
        "groups": people // 12 + 3,
        "memberships": people * 4 + number % 97,
        "organizations": 1 + number % 9,
        "errors": 0,
        "warnings": 0,
    }
    if status == "completedWithErrors":
        counts["errors"] = 1 + number % 23
    if status in ("completedWithErrors", "completedWithWarnings"):
        counts["warnings"] = 1 + (number >> 8) % 41
    return counts
