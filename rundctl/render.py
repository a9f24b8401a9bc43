"""Showing results: table / json / ndjson / tsv / id / none.

Machine formats are written with plain writes (never through rich, which would turn tabs
into spaces and wrap). rich is imported only for ``table``. Every string from the server or
the user is printed as data: control characters are neutralised and rich markup is never
interpreted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from rundctl.redact import json_safe, neutralise

if TYPE_CHECKING:
    from rich.console import Console

TSV_COLUMNS = ("id", "displayName", "status", "startDateTime", "endDateTime")
WIDE_COLUMNS = ("id", "displayName", "status", "startDateTime", "endDateTime", "duration",
                "statistics", "blockingError.code", "blockingError.message")
SHORT_ID = 8  # characters of an ID in a narrow table; get/wait/... accept that prefix
NARROW = 110  # terminal columns below which the run table shows short IDs
KIND_COLUMNS: dict[str, tuple[str, ...]] = {
    "run": TSV_COLUMNS,
    "activity": ("id", "displayName", "status"),
    "flow": ("id", "displayName", "readinessStatus", "dataDomain", "@odata.type"),
    "stats": ("runId", "status"),
    "auth": ("mode", "source", "tenant", "identity", "expires"),
}

STATUS_STYLE = {
    "running": "bold cyan",
    "completed": "bold green",
    "completedWithWarnings": "bold yellow",
    "completedWithErrors": "bold dark_orange",
    "failed": "bold red",
}

def to_json(obj: Any, *, indent: int | None = 2) -> str:
    """JSON text that is valid (never NaN/Infinity) and safe on a terminal: every character
    :func:`~rundctl.redact.neutralise` would escape is written as a JSON escape instead."""
    seps = (",", ": ") if indent is not None else (",", ":")
    text = json.dumps(obj, ensure_ascii=False, indent=indent, separators=seps, allow_nan=False)
    return json_safe(text)


def tsv_field(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else to_json(value, indent=None)
    text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return neutralise(text.replace("\r", "\\r"))


TIME_COLUMNS = frozenset({"startDateTime", "endDateTime"})


def utc_text(value: Any) -> Any:
    """A timestamp in UTC ``...Z`` form (fraction kept); anything else unchanged."""
    if not isinstance(value, str) or value.endswith("Z"):
        return value
    from rundctl.model import parse_timestamp

    try:
        return parse_timestamp(value)
    except ValueError:
        return value


def tsv_line(run: Mapping[str, Any], kind: str = "run") -> str:
    return "\t".join(
        tsv_field(utc_text(run.get(col)) if col in TIME_COLUMNS else run.get(col))
        for col in KIND_COLUMNS[kind]
    )


def item_id(item: Mapping[str, Any]) -> Any:
    return item.get("id", item.get("runId", item.get("identity")))


# -- human-friendly times ---------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """Lenient ISO 8601 for display: Z or offset, 0-7+ fractional digits, naive means UTC."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def relative_time(when: datetime, now: datetime) -> str:
    delta = (now - when).total_seconds()
    if abs(delta) < 5:
        return "just now"
    text = human_duration(abs(delta))
    return f"{text} ago" if delta > 0 else f"in {text}"


def run_duration(run: Mapping[str, Any], now: datetime) -> str:
    start = parse_time(run.get("startDateTime"))
    if start is None:
        return ""
    end = parse_time(run.get("endDateTime"))
    if end is None:
        return human_duration((now - start).total_seconds()) + " so far" if run.get(
            "status"
        ) == "running" else ""
    return human_duration((end - start).total_seconds())


# -- the renderer ------------------------------------------------------------------------


class Renderer:
    """Writes results in one format to one stream."""

    def __init__(
        self,
        fmt: str,
        out: TextIO,
        *,
        now: datetime,
        tty: bool,
        env: Mapping[str, str],
        columns: tuple[str, ...] | None = None,
    ) -> None:
        self.fmt = fmt
        self.out = out
        self.now = now
        self.tty = tty
        self.env = env
        # --columns: dotted paths into each item, for table (and wide) and tsv
        self.columns = columns

    # A single object (a created run, one run, a dry-run request...).
    def one(self, run: Mapping[str, Any], kind: str = "run") -> None:
        if self.fmt == "none":
            return
        if self.fmt == "json":
            self.out.write(to_json(run) + "\n")
        elif self.fmt == "ndjson":
            self.out.write(to_json(run, indent=None) + "\n")
        elif self.fmt == "tsv":
            self.out.write(self._tsv(run, kind) + "\n")
        elif self.fmt == "id":
            self.out.write(tsv_field(item_id(run)) + "\n")
        elif self.columns or (self.fmt == "wide" and kind == "run"):
            self._columns_table([run], self._table_columns(kind))
        elif kind == "run":
            self._run_table(run)
        elif kind == "stats":
            self._stats_table(run)
        else:
            self._items_table([run], kind)
        self.out.flush()

    # A collection: ndjson/tsv/id stream whole lines as items arrive; json is ONE array,
    # written whole once the last page is in (never half a document).
    def many(self, runs: Iterable[Mapping[str, Any]], kind: str = "run") -> int:
        count = 0
        if self.fmt in ("table", "wide"):
            items = list(runs)
            if self.columns or (self.fmt == "wide" and kind == "run"):
                self._columns_table(items, self._table_columns(kind))
            elif kind == "run":
                self._runs_table(items)
            else:
                self._items_table(items, kind)
            return len(items)
        if self.fmt == "json":
            # ONE document, written only once every page is in: a failure (or Ctrl-C) on a
            # later page leaves stdout empty instead of a torn '[' for jq to choke on.
            items = list(runs)
            self.out.write(to_json(items) + "\n" if items else "[]\n")
            self.out.flush()
            return len(items)
        for run in runs:
            count += 1
            if self.fmt == "ndjson":
                self.out.write(to_json(run, indent=None) + "\n")
            elif self.fmt == "tsv":
                self.out.write(self._tsv(run, kind) + "\n")
            elif self.fmt == "id":
                self.out.write(tsv_field(item_id(run)) + "\n")
            self.out.flush()
        return count

    # The result of --query: any JSON value.
    def queried(self, value: Any, kind: str = "run") -> int:
        """JSON formats print the value as it is; line formats a list one element per line
        (strings as they are, objects as their TSV row or a table), a scalar on one line."""
        count = len(value) if isinstance(value, list) else int(value is not None)
        if self.fmt == "none":
            return count
        if self.fmt in ("json", "ndjson") and not (self.fmt == "ndjson" and isinstance(value, list)):
            self.out.write(to_json(value, indent=2 if self.fmt == "json" else None) + "\n")
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            return self.many(value, kind=kind)
        else:
            for item in value if isinstance(value, list) else [value]:
                if self.fmt == "ndjson":
                    self.out.write(to_json(item, indent=None) + "\n")
                elif item is not None:
                    self.out.write(tsv_field(item) + "\n")
        self.out.flush()
        return count

    # Settings-like data (auth status, version, config list): "key  value" lines.
    def pairs(self, data: Mapping[str, Any], *, kind: str = "auth", missing: str = "-",
              sep: str | None = None, notes: Mapping[str, str] | None = None,
              lines_for_all: bool = False) -> None:
        """JSON formats get the mapping as it is; ``table`` (or every other format with
        *lines_for_all*) one line per key, aligned (``key<sep>value`` with *sep*), values
        neutralised, lists comma-joined, None as *missing*, an optional ``# note`` per key;
        tsv and id otherwise as :meth:`one` writes them."""
        if self.fmt in ("json", "ndjson") or (self.fmt != "table" and not lines_for_all):
            self.one(data, kind=kind)
            return
        width = max((len(k) for k in data), default=0)
        for key, value in data.items():
            shown = (", ".join(str(v) for v in value) if isinstance(value, list)
                     else "" if value is None else str(value))
            text = neutralise(shown) if shown else missing
            note = f"\t# {notes[key]}" if notes and key in notes else ""
            line = f"{key}{sep}{text}" if sep is not None else f"{key:<{width}}  {text}"
            self.out.write(line + note + "\n")
        self.out.flush()

    # An HTTP request (create --dry-run): method, URL, headers and body.
    def request(self, request: Mapping[str, Any]) -> None:
        if self.fmt == "none":
            return
        if self.fmt in ("json", "ndjson"):
            self.out.write(to_json(request, indent=2 if self.fmt == "json" else None) + "\n")
        elif self.fmt == "id":
            self.out.write(neutralise(str(request["url"])) + "\n")
        else:
            lines = [f"{request['method']} {request['url']}"]
            lines += [f"{k}: {v}" for k, v in request["headers"].items()]
            self.out.write(neutralise("\n".join(lines), keep_newlines=True) + "\n\n"
                           + to_json(request["body"]) + "\n")
        self.out.flush()

    # A whole document written at once (schema, bulk validate summary).
    def document(self, data: Any) -> None:
        if self.fmt != "none":
            self.out.write(to_json(data, indent=None if self.fmt == "ndjson" else 2) + "\n")
            self.out.flush()

    # Plain text (help topics, completion scripts, paths): as it is, one trailing newline.
    def text(self, text: str) -> None:
        self.out.write(text.rstrip("\n") + "\n")
        self.out.flush()

    # -- columns ------------------------------------------------------------------------

    def _table_columns(self, kind: str) -> tuple[str, ...]:
        if self.columns:
            return self.columns
        return WIDE_COLUMNS if kind == "run" else KIND_COLUMNS.get(kind, ("id",))

    def _tsv(self, item: Mapping[str, Any], kind: str) -> str:
        if not self.columns:
            return tsv_line(item, kind)
        return "\t".join(tsv_field(utc_text(value_at(item, path))) for path in self.columns)

    def _columns_table(self, items: list[Mapping[str, Any]], columns: tuple[str, ...]) -> None:
        """A table of the chosen dotted paths (``--columns``, ``-o wide``): whole IDs, names
        that wrap instead of being cut, statuses in colour."""
        from rich.table import Table
        from rich.text import Text

        if not items:
            return
        table = Table(box=None, header_style="bold", pad_edge=False)
        for path in columns:
            table.add_column(path.upper() if path in ("id", "status") else path,
                             no_wrap=path not in ("displayName", "blockingError.message"),
                             overflow="fold")
        for item in items:
            cells = []
            for path in columns:
                value = value_at(item, path)
                if path == "status":
                    cells.append(self._status(value))
                elif path == "duration":
                    cells.append(Text(run_duration(item, self.now)))
                elif path in ("startDateTime", "endDateTime"):
                    cells.append(Text(self._when(value, short=True)))
                else:
                    cells.append(Text(_cell(value)))
            table.add_row(*cells)
        self.console().print(table)

    # -- rich -------------------------------------------------------------------------

    def console(self) -> Console:
        return make_console(self.out, tty=self.tty, env=self.env)

    def _status(self, status: Any) -> Any:
        from rich.text import Text

        text = neutralise(str(status)) if status is not None else ""
        return Text(text, style=STATUS_STYLE.get(text, "bold magenta"))

    def _when(self, value: Any, *, short: bool = False) -> str:
        when = parse_time(value)
        if when is None:
            return neutralise(str(value)) if value else ""
        if self.tty and short:
            return relative_time(when, self.now)
        if self.tty:
            stamp = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
            return f"{relative_time(when, self.now)} ({stamp})"
        return when.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def _run_table(self, run: Mapping[str, Any]) -> None:
        from rich.table import Table
        from rich.text import Text

        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        table.add_row("ID", Text(neutralise(str(run.get("id", "")))))
        table.add_row("Name", Text(neutralise(str(run.get("displayName", "")))))
        table.add_row("Status", self._status(run.get("status")))
        table.add_row("Started", Text(self._when(run.get("startDateTime"))))
        if run.get("endDateTime") or "endDateTime" in run:
            table.add_row("Ended", Text(self._when(run.get("endDateTime")) or "-"))
        duration = run_duration(run, self.now)
        if duration:
            table.add_row("Duration", Text(duration))
        error = run.get("blockingError")
        if isinstance(error, Mapping):
            parts = [str(error.get(k)) for k in ("code", "message") if error.get(k)]
            if error.get("target"):
                parts.append(f"(target: {error.get('target')})")
            table.add_row("Blocking error", Text(neutralise(": ".join(parts[:2]) + (
                " " + parts[2] if len(parts) > 2 else "")), style="red"))
        stats = run.get("statistics")
        if isinstance(stats, Mapping):
            table.add_row("Statistics", Text(neutralise(to_json(stats, indent=None))))
        self.console().print(table)

    def _items_table(self, items: list[Mapping[str, Any]], kind: str) -> None:
        from rich.table import Table
        from rich.text import Text

        if not items:
            return
        table = Table(box=None, header_style="bold", pad_edge=False)
        headers = _ITEM_HEADERS[kind]
        for title, _ in headers:
            if title == "NAME":
                table.add_column(title, overflow="ellipsis", no_wrap=True, ratio=1)
            else:
                table.add_column(title, no_wrap=True, min_width=36 if title == "ID" else None)
        for item in items:
            cells = [
                self._status(item.get(key)) if key == "status" else Text(_cell(item.get(key)))
                for _, key in headers
            ]
            table.add_row(*cells)
        self.console().print(table)

    def _stats_table(self, stats: Mapping[str, Any]) -> None:
        from rich.table import Table
        from rich.text import Text

        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        table.add_row("Run", Text(_cell(stats.get("runId"))))
        table.add_row("Status", self._status(stats.get("status")))
        totals = stats.get("inboundTotals")
        if isinstance(totals, Mapping):
            for key, value in totals.items():
                if not str(key).startswith("@"):
                    table.add_row(Text(f"  {neutralise(str(key))}"),
                                  Text(_roles(value) or _cell(value)))
        activities = stats.get("activityStatistics")
        if isinstance(activities, list):
            for activity in activities:
                if isinstance(activity, Mapping):
                    name = _cell(activity.get("displayName") or activity.get("activityId") or "")
                    parts = [f"{k}={_cell(v)}" for k, v in activity.items()
                             if k in ("status", "errors", "warnings")]
                    table.add_row("Activity", Text(f"{name} " + " ".join(parts)))
        self.console().print(table)

    def _runs_table(self, runs: list[Mapping[str, Any]]) -> None:
        if runs:
            console = self.console()
            console.print(self.runs_table(runs, console.width))

    def runs_table(self, runs: Sequence[Mapping[str, Any]], width: int) -> Any:
        """The run table as a rich renderable (``list --watch`` redraws it in place)."""
        from rich.table import Table
        from rich.text import Text

        narrow = width < NARROW
        table = Table(box=None, header_style="bold", pad_edge=False)
        table.add_column("ID", no_wrap=True, min_width=SHORT_ID if narrow else 36)
        table.add_column("NAME", overflow="fold", ratio=1, min_width=12)
        table.add_column("STATUS", no_wrap=True)
        table.add_column("STARTED", no_wrap=True)
        table.add_column("DURATION", no_wrap=True)
        for run in runs:
            shown_id = neutralise(str(run.get("id", "")))
            table.add_row(
                Text(shown_id[:SHORT_ID] if narrow else shown_id),
                Text(neutralise(str(run.get("displayName", "")))),
                self._status(run.get("status")),
                Text(self._when(run.get("startDateTime"), short=True)),
                Text(run_duration(run, self.now)),
            )
        return table


_ITEM_HEADERS: dict[str, tuple[tuple[str, str], ...]] = {
    "activity": (("ID", "id"), ("NAME", "displayName"), ("STATUS", "status")),
    "flow": (("ID", "id"), ("NAME", "displayName"), ("READINESS", "readinessStatus"),
             ("DOMAIN", "dataDomain"), ("TYPE", "@odata.type")),
}


def value_at(item: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``statistics.people``); None when it is not there."""
    current: Any = item
    if path in item:
        return item[path]
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else to_json(value, indent=None)
    if text.startswith("#microsoft.graph.industryData."):
        text = text.removeprefix("#microsoft.graph.industryData.")
    return neutralise(text)


def _roles(value: Any) -> str | None:
    """[{"role": "student", "count": 3}, ...] -> "student 3, ..." (None if not that shape)."""
    if not isinstance(value, list) or not all(
        isinstance(v, Mapping) and "role" in v for v in value
    ):
        return None
    return ", ".join(f"{_cell(v.get('role'))} {_cell(v.get('count'))}" for v in value) or "-"


def make_console(out: TextIO, *, tty: bool, env: Mapping[str, str]) -> Console:
    from rich.console import Console

    no_color = "NO_COLOR" in env and env.get("NO_COLOR", "") != ""
    force = env.get("FORCE_COLOR", "") not in ("", "0")
    dumb = env.get("TERM", "") == "dumb"
    return Console(
        file=out,
        force_terminal=True if (force and not no_color) else tty,
        no_color=no_color or dumb,
        color_system=None if (no_color or dumb) else "auto",
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=False,
        _environ=dict(env),
    )
