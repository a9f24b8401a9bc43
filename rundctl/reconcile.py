"""Settling "outcome unknown": did this command create the run, or not?

A create whose answer was lost may or may not have been applied. The only evidence is what
the service now lists, and it must never be read generously: a run is claimed as ours only
when it could not have been there before and is not already claimed by another record.

- **Whole body.** A candidate must match every field that was sent (displayName, the
  timestamps as instants, status, statistics, blockingError), not just name and start.
- **Before.** A :class:`Baseline` is taken before the first send: the IDs of the runs that
  already existed where ours would appear. A run in the baseline is never ours. Without a
  baseline (``Baseline.unknown()``) nothing can be proven and nothing is claimed.
- **Multiplicity.** Records with identical bodies are interchangeable, so each one claims a
  *different* fresh run; an ID is claimed at most once (the caller passes the claimed set).

When none of this can prove a create, the answer is "unknown" (exit 9 / status unknown),
never "created" and never "not created" on a lookup that failed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from rundctl import routes
from rundctl.errors import OutcomeUnknown, RundctlError

if TYPE_CHECKING:
    from rundctl.client import GraphClient

SCAN_LIMIT = 1000  # runs looked at in one lookup before giving up (inconclusive)
BASELINE_LIMIT = 100_000  # more pre-existing runs than this: no baseline (claim nothing)
_COMPARED = ("displayName", "startDateTime", "endDateTime", "status", "statistics",
             "blockingError")
_TIMES = ("startDateTime", "endDateTime")


class LookupInconclusive(OutcomeUnknown):
    """The check for an earlier create could not tell: never a reason to send again."""


class Baseline(NamedTuple):
    """The runs that existed before the first send (None: not known, so claim nothing)."""

    ids: frozenset[str] | None

    @classmethod
    def unknown(cls) -> Baseline:
        return cls(None)

    def excludes(self, run_id: str) -> bool:
        return self.ids is None or run_id in self.ids


def _instant(value: object) -> object:
    from rundctl.model import parse_timestamp, timestamp_key

    if not isinstance(value, str):
        return value
    try:
        return timestamp_key(parse_timestamp(value))
    except ValueError:
        return value


def _plain(value: object) -> object:
    """A JSON value without OData annotations (the service may add ``@odata.type``)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not str(k).startswith("@odata.")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def same_run(sent: Mapping[str, Any], stored: Mapping[str, Any]) -> bool:
    """True when *stored* carries every field of the body *sent*, with equal values."""
    for key in _COMPARED:
        if key not in sent and key != "endDateTime":
            continue
        mine, theirs = sent.get(key), stored.get(key)
        if key in _TIMES:
            mine, theirs = _instant(mine), _instant(theirs)
        if _plain(mine) != _plain(theirs):
            return False
    return True


def collection(flow: str, parent: str | None) -> str:
    """Where a created run is listed: the flow's runs, or the parent's process runs."""
    if parent:
        return routes.path("process_runs", flow=flow, run=parent)
    return routes.path("flow_runs", flow=flow)


def _scan(client: GraphClient, path: str, params: dict[str, str],
          limit: int) -> Iterable[dict[str, Any]]:
    try:
        for scanned, run in enumerate(client.iter_collection(path, params)):
            if scanned >= limit:
                raise LookupInconclusive(f"looked at {limit} runs without an answer")
            yield run
    except LookupInconclusive:
        raise
    except RundctlError as exc:
        raise LookupInconclusive(f"the lookup failed: {exc.message}") from None


def _starts_filter(first: str, last: str) -> dict[str, str]:
    if first == last:
        return {"$filter": f"startDateTime eq {first}", "$top": "999"}
    return {"$filter": f"startDateTime ge {first} and startDateTime le {last}", "$top": "999"}


def snapshot(client: GraphClient, flow: str, parent: str | None, first: str,
             last: str) -> Baseline:
    """The IDs of the runs with a start in [first, last] that exist now (before sending).

    A lookup that fails, or more runs than :data:`BASELINE_LIMIT`, gives an unknown
    baseline: then later lookups prove nothing, which is safe (unknown, not duplicated).
    """
    first_key, last_key = _instant(first), _instant(last)
    ids: set[str] = set()
    params = {**_starts_filter(first, last), "$select": "id,startDateTime"}
    try:
        for run in _scan(client, collection(flow, parent), params, BASELINE_LIMIT):
            start = _instant(run.get("startDateTime"))
            if isinstance(start, tuple) and first_key <= start <= last_key:  # type: ignore[operator]
                ids.add(str(run.get("id")))
    except LookupInconclusive:
        return Baseline.unknown()
    return Baseline(frozenset(ids))


def matching(client: GraphClient, flow: str, parent: str | None,
             payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The runs the service lists now with exactly this body (LookupInconclusive if it
    cannot say)."""
    start = payload.get("startDateTime")
    if not isinstance(start, str):
        raise LookupInconclusive("the run has no startDateTime to look it up by")
    found = _scan(client, collection(flow, parent), _starts_filter(start, start), SCAN_LIMIT)
    return [run for run in found if same_run(payload, run)]


class Claims:
    """The run IDs already taken by records of this command (shared by bulk workers)."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self.ids = {i for i in ids if i}
        self.lock = threading.Lock()


def recover(client: GraphClient, flow: str, parent: str | None, payload: Mapping[str, Any],
            baseline: Baseline, claims: Claims) -> tuple[dict[str, Any] | None, int]:
    """After an unknown outcome: the run this create provably made, or None; and how many
    runs with this body the service lists (so the caller can say why it cannot tell).

    Lookup and claim happen under one lock, so two records with identical bodies never
    claim the same run. Raises LookupInconclusive when the lookup itself failed.
    """
    with claims.lock:
        found = matching(client, flow, parent, payload)
        run_id = claim(found, baseline, claims.ids)
    run = next((r for r in found if r.get("id") == run_id), None) if run_id else None
    return run, len(found)


def claim(candidates: Iterable[Mapping[str, Any]], baseline: Baseline,
          claimed: set[str]) -> str | None:
    """The first candidate that is provably ours: not in the baseline, not claimed yet.

    The ID is added to *claimed*.
    """
    for run in candidates:
        run_id = run.get("id")
        if not isinstance(run_id, str) or not run_id:
            continue
        if baseline.excludes(run_id) or run_id in claimed:
            continue
        claimed.add(run_id)
        return run_id
    return None
