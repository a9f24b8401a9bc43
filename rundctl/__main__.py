"""Entry point: ``rundctl`` and ``python -m rundctl``: UTF-8 streams, then the app.

Everything else (errors, Ctrl-C, a closed pipe, bugs) is handled in :mod:`rundctl.app`.
"""

from __future__ import annotations

import sys


def _utf8_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and (stream.encoding or "").lower() not in ("utf-8", "utf8"):
            try:
                reconfigure(encoding="utf-8", errors="replace")
            except (ValueError, OSError):
                pass


def main(argv: list[str] | None = None) -> None:
    _utf8_streams()
    try:
        from rundctl import app
    except KeyboardInterrupt:  # Ctrl-C while still importing
        sys.stderr.write("rundctl: interrupted\n")
        raise SystemExit(130) from None
    app.main(argv)


if __name__ == "__main__":
    main()
