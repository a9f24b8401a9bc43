"""Recently used flow and run IDs, for TAB completion (a local file; never the network).

Stored in ``$XDG_CACHE_HOME/rundctl/recent.json`` (``~/.cache/rundctl``), newest first, at most
20 of each. IDs are not secrets; writing is best effort and never fails a command.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from rundctl import paths

KEEP = 20


def _path() -> Path:
    return paths.recent_file(os.environ)


def _load() -> dict[str, list[str]]:
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: [str(i) for i in v if isinstance(i, str)] for k, v in data.items()
            if isinstance(v, list)}


def recent(kind: str) -> list[str]:
    return _load().get(kind, [])


def remember(kind: str, *ids: str | None) -> None:
    given = [i for i in ids if i]
    if not given:
        return
    try:
        data = _load()
        merged = list(dict.fromkeys([*given, *data.get(kind, [])]))[:KEEP]
        data[kind] = merged
        path = _path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass
