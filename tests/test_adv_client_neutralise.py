"""One neutraliser for every printer (adversarial #13, neutraliser part).

``rundctl.redact.neutralise`` makes every character that can steer a terminal or a CI log
visible as an escape: C0 and C1 controls (ESC, CSI, OSC, BEL, CR, ...), DEL, every format
character (bidi marks, embeddings, overrides and isolates, zero-width characters, tags), line
and paragraph separators, and lone surrogates. Property: its output has no character in the
Unicode categories Cc, Cf, Cs, Zl, Zp (tab and newline only where kept), and printable text
comes back unchanged. ``ci_safe_line`` also makes sure no printed line can be a GitHub
workflow command (``::name::``, which the runner accepts after leading whitespace).
"""

from __future__ import annotations

import json
import sys
import unicodedata

import pytest
import requests

from rundctl import errors
from rundctl.client import Deadline, GraphClient, NoAuth
from rundctl.redact import ci_safe_line, json_safe, neutralise, safe_message
from tests.scripted_server import ScriptedServer, Step

UNSAFE = {"Cc", "Cf", "Cs", "Zl", "Zp"}

HOSTILE = [
    "\x1b[2J\x1b[H",  # CSI: clear screen
    "\x1b]8;;http://evil.example\x07click\x1b]8;;\x07",  # OSC 8 hyperlink, BEL-terminated
    "\x1b]0;title\x1b\\",  # OSC with ST terminator
    "\x9b31m red \x9d0;x\x9c",  # C1 CSI / OSC / ST
    "\x1bP+q\x1b\\",  # DCS
    "a\rb", "a\x08b", "\x00\x01\x7f", "\x0b\x0c", "\x1c\x1d\x1e\x1f",
    "abc\u200fdef", "\u200e", "\u061c", "\u202a\u202b\u202c\u202d\u202e",
    "\u2066\u2067\u2068\u2069", "line\u2028sep\u2029para", "\x85next line",
    "zero\u200bwidth\u200c\u200d\u2060\ufeff", "\u00ad", "\u180e", "\ufff9\ufffa\ufffb",
    "\U000e0001\U000e0041\U000e007f",  # tag characters
    "\U0001d173\U0001d17a", "\u0600\u06dd\u070f\u08e2", "\U00013430",
    "\ud800", "\udfff", "x\udc00y",  # lone surrogates (from JSON escapes)
    "evil\u202e\u2066txt.exe", "::error::owned", "\n::add-mask::x",
]


def _assert_inert(text: str, *, allowed: str = "") -> None:
    for ch in text:
        if ch in allowed:
            continue
        assert unicodedata.category(ch) not in UNSAFE, (text, hex(ord(ch)))


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("keep_newlines", [False, True])
def test_hostile_strings_come_out_inert(hostile: str, keep_newlines: bool) -> None:
    out = neutralise(hostile, keep_newlines=keep_newlines)
    _assert_inert(out, allowed="\n\t" if keep_newlines else "")
    out.encode("utf-8")  # always printable as UTF-8, even from a lone surrogate
    if not keep_newlines:
        assert "\n" not in out and "\t" not in out


def _all_code_points(unsafe: bool) -> str:
    return "".join(chr(c) for c in range(sys.maxunicode + 1)
                   if (unicodedata.category(chr(c)) in UNSAFE) is unsafe)


def test_every_unsafe_code_point_is_escaped() -> None:
    text = _all_code_points(unsafe=True)
    out = neutralise(text)
    _assert_inert(out)
    _assert_inert(neutralise(text, keep_newlines=True), allowed="\n\t")


def test_printable_text_round_trips_unchanged() -> None:
    plain = _all_code_points(unsafe=False)
    plain = "".join(ch for ch in plain if unicodedata.category(ch) != "Cn")
    assert neutralise(plain) == plain
    for sample in ["Nightly sync", "Café crème", "日本語のテキスト", "שלום עולם", "مرحبا",
                   "emoji 🎉 ✓", "tab-free, newline-free: {\"a\": [1, 2]}", "a\\x1bb",
                   "non\u00a0breaking\u3000space", "combining e\u0301", "Ωμέγα"]:
        assert neutralise(sample) == sample
        assert neutralise(sample, keep_newlines=True) == sample


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [("\x1b", "\\x1b"), ("\x9b", "\\x9b"), ("\u200f", "\\u200f"), ("\u2028", "\\u2028"),
     ("\u2029", "\\u2029"), ("\u202e", "\\u202e"), ("\u2066", "\\u2066"), ("\u061c", "\\u061c"),
     ("\u200e", "\\u200e"), ("\ud800", "\\ud800"), ("\U000e0001", "\\U000e0001"),
     ("\r", "\\x0d"), ("\x00", "\\x00"), ("\x7f", "\\x7f"), ("\n", "\\n"), ("\t", "\\t")],
)
def test_each_is_made_visible(hostile: str, shown: str) -> None:
    assert neutralise(f"a{hostile}b") == f"a{shown}b"


def test_keep_newlines_keeps_newline_and_tab_only() -> None:
    assert neutralise("a\nb\tc\rd", keep_newlines=True) == "a\nb\tc\\x0dd"


COMMANDS = ["::error::owned", "  ::warning file=x::y", "\t::add-mask::s", "\u00a0::notice::n",
            "\u3000\u2003::group::g", "::stop-commands::tok", ":: ", "::"]


@pytest.mark.parametrize("line", COMMANDS)
def test_ci_safe_line_can_never_start_a_workflow_command(line: str) -> None:
    for text in (line, "x\n" + line, line + "\n" + line, "\x1b[0m" + line):
        for keep in (False, True):
            out = ci_safe_line(text, keep_newlines=keep)
            for printed in out.split("\n"):
                assert not printed.lstrip().startswith("::"), (text, out)
            _assert_inert(out, allowed="\n\t" if keep else "")
        assert "\n" not in ci_safe_line(text)


def test_ci_safe_line_leaves_other_text_alone() -> None:
    for text in ["error: x::y", "a :: b", "http://h:80/", "rundctl: error: ::x", ": :x"]:
        assert ci_safe_line(text) == text


def test_lines_after_a_kept_newline_are_never_commands() -> None:
    out = neutralise("fine\n  ::error::owned\n::set-output name=x::y", keep_newlines=True)
    assert all(not line.lstrip().startswith("::") for line in out.split("\n"))


def test_safe_message_protects_every_line_and_redacts() -> None:
    token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJjYW5hcnkifQ.canary-SIGNATURE-0123456789"
    out = safe_message(f"  ::error::{token}\nnext\u2028line\x1b[2J")
    assert token not in out
    assert all(not line.lstrip().startswith("::") for line in out.split("\n"))
    _assert_inert(out, allowed="\n\t")


@pytest.mark.parametrize("hostile", HOSTILE)
def test_json_safe_keeps_json_valid_and_inert(hostile: str) -> None:
    doc = {"displayName": hostile, hostile: [hostile, 1]}
    for indent in (None, 2):
        text = json_safe(json.dumps(doc, ensure_ascii=False, indent=indent))
        assert json.loads(text) == doc
        _assert_inert(text, allowed="\n")
        text.encode("utf-8")


def test_client_debug_lines_are_neutralised() -> None:
    lines: list[str] = []
    with ScriptedServer() as server:
        server.queue(Step(200, body=b'{"value": [], "x": "\x1b]8;;http://e\x07\xe2\x80\xae"}',
                          headers={"x-ms-ags-diagnostic": "\x1b[2Jdiag"}))
        client = GraphClient(server.url, session=requests.Session(), auth=NoAuth(),
                             deadline=Deadline(30), debug=lines.append)
        with pytest.raises(errors.BadResponse):  # raw controls in a string: not JSON
            list(client.iter_collection("/runs"))
    assert any("\\x1b]8" in line for line in lines)  # shown, escaped
    for line in lines:
        _assert_inert(line)
