"""What is installed: rundctl, Python, the platform and the runtime packages (``rundctl version``).

Versions come from package metadata (``importlib.metadata``), so nothing here imports typer,
rich, requests or azure-identity: ``rundctl version`` stays as fast as ``--help``.
"""

from __future__ import annotations

import platform

from rundctl import __version__

# Distribution names as pip knows them, in the order they are shown.
PACKAGES: tuple[str, ...] = ("typer", "rich", "requests", "azure-identity", "msal", "urllib3",
                             "jmespath")


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    from importlib import metadata  # ~10 ms: only when versions are asked for

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """``{"rundctl": ..., "python": ..., "platform": ..., "<package>": version or None}``."""
    info: dict[str, str | None] = {
        "rundctl": __version__,
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "platform": " ".join(
            part for part in (platform.system(), platform.release(), platform.machine()) if part
        )
        or None,
    }
    for name in PACKAGES:
        info[name] = package_version(name)
    return info
