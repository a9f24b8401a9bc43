"""The sandbox's rules, apart from routes and sockets: what a create, a PATCH or a ``start``
does to the stored runs, the limit on ``start``, the runs the service's schedule makes, how
runs made by the service settle, and the statistics a run reports. Handlers in :mod:`.api`
call :class:`RunBackend`; it calls :class:`~.store.RunStore`.

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
from rundctl.sandbox import faults, odata, views
from rundctl.sandbox.messages import GraphError, IfMatch
from rundctl.sandbox.store import LimitReached, RunStore, Scope, StoredFlow, StoredRun

# Runs made by `start` and by the schedule (which name no flow) belong to this fixed flow.
START_FLOW_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://rundctl.invalid/sandbox/start-flow"))
_COUNT_KEYS = ("people", "groups", "memberships", "organizations", "errors", "warnings")
# Microsoft: "If the next scheduled run falls within 10 hours after an on-demand run, that
# scheduled run is skipped" (runs every 12 hours). The sandbox scales it to its own period.
SKIP_SHARE = 10 / 12


@dataclass(frozen=True)
class Year:
    """A yearTimePeriodDefinition: the calendar year a flow was first seen in."""

    year: int


class RunBackend:
    """The runs and flows of one sandbox, and what requests do to them."""

    def __init__(
        self,
        store: RunStore,
        *,
        clock: Callable[[], float] = time.time,
        run_seconds: float = 5.0,
        start_outcome: str = "completed",
        start_limit: tuple[int, float] | None = None,
        schedule_every: float | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.run_seconds = run_seconds
        self.start_outcome = start_outcome
        self.start_limit = start_limit  # (N, window seconds): at most N on-demand runs per window
        self.schedule_every = schedule_every  # seconds between the service's own runs
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

    def runs(self, scope: Scope) -> list[StoredRun]:
        """Every run in *scope* (insertion order), outcomes applied if due."""
        self.settle()
        return self.store.runs(scope)

    def latest(self) -> StoredRun:
        """The run that started last: what ``runs/getStatistics`` reports on (its choice is
        undocumented by Microsoft); 404 when there is none."""
        self.settle()
        run = self.store.latest()
        if run is None:
            raise GraphError(404, "itemNotFound", "There are no runs yet, so there are no statistics.")
        return run

    def commits(self) -> int:
        """Writes committed so far by this thread: a handler's mark for "was anything written"."""
        return self.store.commits()

    def start(self) -> StoredRun:
        """A new run in the start flow, ``running`` until ``run_seconds`` from now; 429 when
        the on-demand limit is reached (checked and stored in one transaction)."""
        self.settle()  # a run that has failed by now no longer counts
        now = self.clock()
        try:
            return self.store.create(
                self._service_run(now),
                flow_id=START_FLOW_ID,
                now=now,
                due_at=now + self.run_seconds,
                outcome=self.start_outcome,
                origin="start",
                limit=self.start_limit,
            )
        except LimitReached as refused:
            assert self.start_limit is not None
            raise start_limit_reached(self.start_limit, now, refused.free_at) from None

    def _service_run(self, at: float) -> dict[str, Any]:
        started = odata.iso_seconds(odata.utc(at))
        return {
            "id": str(uuid.uuid4()),
            "displayName": f"Run {started[:10]} {started[11:16]} UTC",
            "startDateTime": odata.format_timestamp(at),
            "endDateTime": None,
            "status": "running",
            "statistics": {},
        }

    def _run_schedule(self, now: float) -> None:
        """The runs the service makes by itself every ``schedule_every`` seconds (lazily, when
        the sandbox is next asked; a tick within SKIP_SHARE of a period after an on-demand
        run is skipped, as Microsoft skips a scheduled run 10 hours after an on-demand one)."""
        every = self.schedule_every
        if every is None:
            return
        skip = every * SKIP_SHARE
        on_demand = self.store.started_since(now - (11 * every) - skip)

        def make(at: float) -> tuple[dict[str, Any], float | None, str | None] | None:
            if any(at - skip < started <= at for started in on_demand):
                return None
            return self._service_run(at), at + self.run_seconds, self.start_outcome

        self.store.schedule(every=every, now=now, make=make, flow_id=START_FLOW_ID)

    def settle(self) -> None:
        """Make the scheduled runs that are due, and give runs made by the service their
        outcome once it is due (lazy, no timer thread)."""
        now = self.clock()
        with self._settle_lock:
            self._run_schedule(now)
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

    def flows(self) -> list[StoredFlow]:
        return self.store.flows()

    def flow(self, flow_id: str) -> StoredFlow:
        found = self.store.flow(flow_id)
        if found is None:
            raise GraphError(404, "itemNotFound", f"Inbound flow '{flow_id}' was not found.")
        return found

    def flow_of(self, run: StoredRun) -> StoredFlow:
        """The flow a run ran in (every run has one: its flow is stored with it)."""
        return self.store.flow(run.flow_id) or StoredFlow(run.flow_id, 0.0)

    def connector(self, connector_id: str) -> StoredFlow:
        """The flow whose data connector has this id; 404 if none."""
        for flow in self.store.flows():
            if views.connector_id(flow) == connector_id:
                return flow
        raise GraphError(404, "itemNotFound", f"Data connector '{connector_id}' was not found.")

    def years(self) -> list[Year]:
        """The years of every flow, oldest first."""
        seen = sorted({views.year_of(flow) for flow in self.store.flows()})
        return [Year(year) for year in seen]

    def year(self, year_id: str) -> Year:
        for year in self.years():
            if views.year_id(year.year) == year_id:
                return year
        raise GraphError(404, "itemNotFound", f"Year '{year_id}' was not found.")


def precondition_failed(run: StoredRun, if_match: IfMatch) -> GraphError:
    current = views.etag(run)
    return GraphError(
        412,
        "preconditionFailed",
        f"The run has changed since it was read: If-Match {if_match.sent[:200]} does not match its current "
        f"ETag {current}. Read the run again and reapply the change.",
        headers=[("ETag", current)],
    )


def start_limit_reached(limit: tuple[int, float], now: float, free_at: float) -> GraphError:
    """429 when ``start`` is over its limit: Microsoft documents the limit (five successful
    runs per 12 hours) but not the answer; the sandbox's choice is marked UNCONFIRMED."""
    allowed, window = limit
    wait = max(0.0, free_at - now)
    return GraphError(
        429,
        "activityLimitReached",
        f"At most {allowed} on-demand run{'s' if allowed != 1 else ''} may start per "
        f"{views.duration_text(window)}; the next can start at {odata.iso_seconds(odata.utc(free_at))}Z.",
        headers=faults.retry_headers(wait),
        inner={"code": "startLimitReached"},
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
