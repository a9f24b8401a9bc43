"""Keeping secrets and terminal escapes out of everything rundctl prints."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Anything shaped like a JWT (three base64url segments, header starting "eyJ").
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")
# C0 controls (but not tab/newline handled by callers), DEL, C1 controls, bidi overrides.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

REDACTED = "***"

_known_secrets: set[str] = set()


def register_secret(secret: str) -> None:
    """Remember a secret (a token) so that it is redacted wherever it would be printed."""
    if len(secret) >= 8:
        _known_secrets.add(secret)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in (*_known_secrets, *secrets):
        if secret:
            text = text.replace(secret, REDACTED)
    text = _JWT.sub(REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


def neutralise(text: str, *, keep_newlines: bool = False) -> str:
    """Make a server- or user-supplied string safe to print on a terminal.

    Control characters (ESC, BEL, CR, C1 such as CSI, bidi overrides) become visible
    ``\\xNN`` / ``\\uNNNN`` escapes, so no escape sequence reaches the terminal.
    """

    def show(match: re.Match[str]) -> str:
        code = ord(match.group(0))
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    if not keep_newlines:
        text = text.replace("\n", "\\n").replace("\t", "\\t")
    return _CONTROL.sub(show, text)


def safe_message(text: str) -> str:
    """For error messages: no secrets, no escapes."""
    return neutralise(redact(text), keep_newlines=True)
