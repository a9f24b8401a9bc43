"""Recently used flow and run IDs and their names, for TAB completion (a local file; never the
network).

Stored in ``$XDG_CACHE_HOME/rundctl/recent.json`` (``~/.cache/rundctl``), newest first, at most
20 of each kind. IDs and names are not secrets; writing is best effort and never fails a
command. The file::

    {"flows": ["<id>", ...], "runs": ["<newest id>", "<older id>", ...],
     "names": {"runs": {"<id>": "<displayName>"}, "flows": {"<id>": "<displayName>"}}}

The ID lists are what the first version of the file held, so a file written before names were
kept is read as it is (IDs without names), and an older rundctl still reads the IDs of a newer
file. ``names`` is left out while no name is known; a name is kept only for an ID still listed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rundctl import paths

KEEP = 20
NAME_LIMIT = 200  # characters of a name kept (displayName is free text from the service)


def _path() -> Path:
    return paths.recent_file(os.environ)


def _read() -> dict[str, Any]:
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _ids(data: dict[str, Any]) -> dict[str, list[str]]:
    return {k: [i for i in v if isinstance(i, str)] for k, v in data.items()
            if isinstance(v, list)}


def _names(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    table = data.get("names")
    if not isinstance(table, dict):
        return {}
    return {kind: {i: n for i, n in names.items() if isinstance(n, str) and n}
            for kind, names in table.items() if isinstance(names, dict)}


def recent(kind: str) -> list[str]:
    """The IDs of *kind* (``flows``, ``runs``), newest first."""
    return _ids(_read()).get(kind, [])


def recent_named(kind: str) -> list[tuple[str, str | None]]:
    """``(id, name)`` for the IDs of *kind*, newest first; the name is None when not known."""
    data = _read()
    names = _names(data).get(kind, {})
    return [(i, names.get(i)) for i in _ids(data).get(kind, [])]


def remember(kind: str, *ids: str | None, name: str | None = None) -> None:
    """Put *ids* first in the list of *kind* (empty ones are skipped).

    *name* is the name of the first ID given (a run's displayName); without one, a name
    already known for that ID is kept.
    """
    given = [i for i in ids if i]
    if not given:
        return
    try:
        data = _read()
        lists, names = _ids(data), _names(data)
        merged = list(dict.fromkeys([*given, *lists.get(kind, [])]))[:KEEP]
        known = names.get(kind, {})
        if isinstance(name, str) and name:
            known[given[0]] = name[:NAME_LIMIT]
        kept_names = {i: known[i] for i in merged if i in known}
        lists[kind] = merged
        if kept_names:
            names[kind] = kept_names
        else:
            names.pop(kind, None)
        out: dict[str, Any] = dict(lists)
        if names:
            out["names"] = names
        path = _path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(out), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass
