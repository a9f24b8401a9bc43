"""Keeping secrets and terminal escapes out of everything rundctl prints.

:func:`neutralise` is THE function every printer uses for strings from the server or the user
(terminal, CI log, table, TSV). It makes visible, as ``\\xNN`` / ``\\uNNNN`` / ``\\UNNNNNNNN``
escapes, every character that can steer a terminal or a log viewer instead of being read:

- C0 controls (ESC, BEL, CR, BS, ...), DEL and C1 controls (CSI ``\\x9b``, OSC ``\\x9d``, NEL):
  with the introducer escaped, no ESC/CSI/OSC/DCS sequence can reach the terminal;
- format characters (category Cf): bidi marks and controls (U+200E, U+200F, U+061C,
  U+202A-U+202E, U+2066-U+2069), zero-width characters, BOM, soft hyphen, tags;
- line and paragraph separators (U+2028, U+2029), which some viewers treat as new lines;
- lone surrogates (which cannot even be written as UTF-8) and unassigned code points.

Printable text (letters, marks, digits, symbols, spaces, private-use characters) is returned
unchanged. :func:`ci_safe_line` adds what a GitHub Actions log needs: no printed line can start
a workflow command (``::name ...::``), which the runner accepts after leading whitespace.
:func:`json_safe` does the same for JSON text, with JSON escapes, so the output stays valid.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

# Anything shaped like a JWT (three base64url segments, header starting "eyJ").
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# A credential after "Bearer": long enough to be one (12+ characters), so prose such as
# "a bearer token (...)" stays readable.
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]{12,}")
# Every character that is not printable ASCII is looked at; most of them are kept.
_CANDIDATE = re.compile(r"[^\x20-\x7e]")
# Cc controls, Cf format, Cs surrogates, Zl/Zp separators, Cn unassigned (a future format
# character would be one today).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Cn"})
# A line that would start with "::" once leading whitespace is trimmed: the colon to escape.
_COMMAND_AT_LINE_START = re.compile(r"(\A|\n)([^\S\n]*):(?=:)")
_COMMAND_AFTER_NEWLINE = re.compile(r"(\n)([^\S\n]*):(?=:)")

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


def is_unsafe(char: str) -> bool:
    """True for a character that :func:`neutralise` escapes (tab and newline included)."""
    if char.isprintable():  # fast: False for every unsafe category (and for Zs, Co)
        return False
    import unicodedata

    return unicodedata.category(char) in _UNSAFE_CATEGORIES


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON writes characters beyond the BMP
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _substitute(text: str, keep: str, escape: Callable[[str], str]) -> str:
    if text.isprintable():
        return text

    def show(match: re.Match[str]) -> str:
        char = match.group(0)
        if char in keep:
            return char
        if char == "\n":
            return "\\n"
        if char == "\t":
            return "\\t"
        return escape(char) if is_unsafe(char) else char

    return _CANDIDATE.sub(show, text)


def _unstart_commands(text: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub(lambda m: m.group(1) + m.group(2) + "\\x3a", text)


def neutralise(text: str, *, keep_newlines: bool = False) -> str:
    """Make a server- or user-supplied string safe to print on a terminal or in a CI log.

    Every unsafe character (see the module docstring) becomes a visible escape. Newline and
    tab become ``\\n`` and ``\\t`` too, unless ``keep_newlines``: then they are kept, and a
    line after a kept newline never starts a workflow command (its first ``:`` is escaped).
    The result is one line unless ``keep_newlines``; it always encodes as UTF-8.
    """
    out = _substitute(text, "\n\t" if keep_newlines else "", _escape)
    if keep_newlines and "\n" in out:
        out = _unstart_commands(out, _COMMAND_AFTER_NEWLINE)
    return out


def ci_safe_line(text: str, *, keep_newlines: bool = False) -> str:
    """:func:`neutralise`, and the result cannot start a GitHub workflow command.

    For text printed at the start of a line (``-o id``, TSV, detail lines, anything in a CI
    log): when it would start with ``::`` after leading whitespace (how the runner reads
    commands), the first colon is written ``\\x3a``. With ``keep_newlines`` every line is
    protected the same way.
    """
    return _unstart_commands(neutralise(text, keep_newlines=keep_newlines),
                             _COMMAND_AT_LINE_START)


def json_safe(json_text: str) -> str:
    """Neutralise JSON text written with ``ensure_ascii=False`` and keep it valid JSON.

    ``json.dumps`` escapes C0 controls itself but leaves DEL, C1 controls, format characters,
    U+2028/U+2029 and lone surrogates raw; they become ``\\uNNNN`` escapes (surrogate pairs
    beyond the BMP), so the text parses back to the same value. Structural newlines (from
    ``indent``) are kept.
    """
    return _substitute(json_text, "\n\t", _json_escape)


def safe_message(text: str) -> str:
    """For error messages and their detail lines: no secrets, no escapes, no line that
    could be a workflow command (newlines kept)."""
    return ci_safe_line(redact(text), keep_newlines=True)
