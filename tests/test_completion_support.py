"""Helpers for the completion tests: the ``rundctl`` the shells run, a zsh on a pseudo-terminal,
fish's ``complete -C``, and the in-process answers. The checks at the bottom keep them honest.

The shells run the installed ``rundctl``. While ``app.main`` does not call
``completion_shells.install()`` yet (it still registers typer's classes only), the shells run a
stand-in ``rundctl`` that makes exactly that call and then ``rundctl.__main__.main()``, and
``test_the_installed_binary_answers_the_scripts`` says (as an xfail) that the wiring is
missing. Once it is there, the stand-in is not used.
"""

from __future__ import annotations

import functools
import os
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import invoke

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SHIM = f"""#!{sys.executable}
# rundctl as app.main runs it once it calls rundctl.cli.completion_shells.install().
import typer._completion_classes

from rundctl.cli import completion_shells

typer._completion_classes.completion_init = completion_shells.install
from rundctl.__main__ import main

main()
"""
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\x1b[=>]|\r")


def shipped(name: str) -> Path:
    return ROOT / "completions" / name


@functools.cache
def binary_is_wired() -> bool:
    """Whether the installed rundctl answers the zsh script's instruction (complete_zsh2)."""
    env = dict(os.environ, _RUNDCTL_COMPLETE="complete_zsh2", _TYPER_COMPLETE_ARGS="rundctl li")
    out = subprocess.run([str(BIN / "rundctl")], capture_output=True, text=True, env=env,
                         timeout=60)
    return out.stdout.splitlines()[:1] == ["list\tList runs, newest first."]


@functools.cache
def _shim_dir() -> Path:
    import atexit
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="rundctl-shim-"))
    atexit.register(shutil.rmtree, folder, True)
    exe = folder / "rundctl"
    exe.write_text(SHIM)
    exe.chmod(0o755)
    return folder


def bin_dir() -> Path:
    """The folder whose ``rundctl`` the shells run (first on PATH)."""
    return BIN if binary_is_wired() else _shim_dir()


def shell_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PATH=f"{bin_dir()}:{BIN}:{os.environ['PATH']}", HOME=str(home),
               XDG_CACHE_HOME=str(home / "cache"), XDG_CONFIG_HOME=str(home / "config"),
               XDG_DATA_HOME=str(home / "data"), TERM="xterm", LANG="C.UTF-8")
    env.update(extra)
    return env


def need(shell: str) -> str:
    found = shutil.which(shell)
    if found is None:
        pytest.skip(f"{shell} is not installed (apt-get install -y {shell}); its completion "
                    "script is checked only where it is")
    return found


# -- zsh on a pseudo-terminal ---------------------------------------------------------------

ZSHRC = """PROMPT='> '
unsetopt beep
{setup}
_rundctl_test_show() {{ print -r -- "BUFFER:$BUFFER" >> "$RUNDCTL_TEST_OUT"; BUFFER=; }}
zle -N _rundctl_test_show
bindkey '^T' _rundctl_test_show
print -r -- READY >> "$RUNDCTL_TEST_OUT"
"""
FPATH_SETUP = """fpath=("$RUNDCTL_TEST_FPATH" $fpath)
autoload -Uz compinit && compinit -u -d "$RUNDCTL_TEST_DIR/zcompdump"
"""
SOURCE_SETUP = """autoload -Uz compinit && compinit -u -d "$RUNDCTL_TEST_DIR/zcompdump"
source <(rundctl completion zsh)
"""


class Zsh:
    """An interactive zsh on a pty, completion set up as README says.

    :meth:`tab` types a line (with its TABs) and returns the line as it then stands: a key
    bound to a widget writes ``$BUFFER`` to a file and empties the line. :meth:`listing`
    types a line and returns what the terminal shows once *expect* appears.
    """

    def __init__(self, home: Path, *, setup: str = FPATH_SETUP,
                 script: Path | None = None) -> None:
        import fcntl
        import pty
        import struct
        import termios

        need("zsh")
        self.dir = home / "zsh"
        fpath = self.dir / "functions"
        fpath.mkdir(parents=True)
        shutil.copy(script or shipped("_rundctl"), fpath / "_rundctl")
        (self.dir / ".zshrc").write_text(ZSHRC.format(setup=setup))
        self.out = self.dir / "buffers"
        env = shell_env(home, ZDOTDIR=str(self.dir), RUNDCTL_TEST_FPATH=str(fpath),
                        RUNDCTL_TEST_DIR=str(self.dir), RUNDCTL_TEST_OUT=str(self.out))
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 60, 220, 0, 0))
        self.proc = subprocess.Popen(["zsh", "-d", "-i"], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, cwd=self.dir, start_new_session=True)
        os.close(slave)
        self.screen = bytearray()
        self._wait(lambda: "READY" in self._lines(), "zsh did not start")

    def _lines(self) -> list[str]:
        return self.out.read_text().splitlines() if self.out.exists() else []

    def _pump(self, seconds: float) -> None:
        ready, _, _ = select.select([self.master], [], [], seconds)
        if ready:
            try:
                self.screen.extend(os.read(self.master, 65536))
            except OSError:
                pass

    def _wait(self, done: object, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not done():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}; the terminal shows:\n{self.text()[-3000:]}")
            self._pump(0.05)

    def text(self) -> str:
        return ANSI.sub("", self.screen.decode("utf-8", "replace"))

    def tab(self, keys: str) -> str:
        """Type *keys* (``\\t`` is TAB); the line as it then stands."""
        seen = len(self._lines())
        os.write(self.master, keys.encode() + b"\x14")
        self._wait(lambda: len(self._lines()) > seen, f"no line recorded after {keys!r}")
        return self._lines()[-1].removeprefix("BUFFER:")

    def listing(self, keys: str, expect: str) -> str:
        """Type *keys*; what the terminal shows after them, once it shows *expect*."""
        start = len(self.screen)
        os.write(self.master, keys.encode())
        shown = lambda: ANSI.sub("", self.screen[start:].decode("utf-8", "replace"))  # noqa: E731
        self._wait(lambda: expect in shown(), f"{expect!r} not listed after {keys!r}")
        self.tab("")  # empty the line for the next one
        return shown()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self.master)


# -- fish -----------------------------------------------------------------------------------


def fish_complete(line: str, home: Path, cwd: Path | None = None) -> list[str]:
    """What fish offers for *line* (``complete -C``), with rundctl.fish installed as README
    says (``~/.config/fish/completions/rundctl.fish``)."""
    need("fish")
    folder = home / "config" / "fish" / "completions"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(shipped("rundctl.fish"), folder / "rundctl.fish")
    quoted = line.replace("\\", "\\\\").replace("'", "\\'")
    out = subprocess.run(["fish", "-c", f"complete -C '{quoted}'"], capture_output=True,
                         text=True, env=shell_env(home), cwd=cwd or home, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


# -- in-process -----------------------------------------------------------------------------


def answers(words: str, shell: str = "bash", cache: Path | None = None) -> list[str]:
    """What ``rundctl`` answers a TAB on *words* in *shell*'s protocol, run in-process
    (zsh: the ``complete_zsh2`` instruction of rundctl's script)."""
    from rundctl.cli.completion_shells import install

    install()  # what app.main does when _RUNDCTL_COMPLETE is set
    if shell == "bash":
        parts = words.split(" ")
        env = {"_RUNDCTL_COMPLETE": "complete_bash", "COMP_WORDS": words,
               "COMP_CWORD": str(len(parts) - 1)}
    else:
        env = {"_RUNDCTL_COMPLETE": f"complete_{'zsh2' if shell == 'zsh' else shell}",
               "_TYPER_COMPLETE_ARGS": words, "_TYPER_COMPLETE_FISH_ACTION": "get-args",
               "_TYPER_COMPLETE_WORD_TO_COMPLETE": words.rpartition(" ")[2]}
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    res = invoke([], env=env)
    assert res.exit_code == 0, res.stderr
    return [line for line in res.stdout.splitlines() if line]


# -- the helpers' own checks -----------------------------------------------------------------


def test_the_shim_makes_the_call_app_main_is_to_make() -> None:
    assert "typer._completion_classes.completion_init = completion_shells.install" in SHIM
    assert bin_dir() in (BIN, _shim_dir())


def test_answers_speaks_each_protocol() -> None:
    assert answers("rundctl li") == ["list"]
    assert answers("rundctl li", "zsh") == ["list\tList runs, newest first."]
    assert answers("rundctl li", "fish") == ["list\tList runs, newest first."]
    assert answers("rundctl li", "powershell") == ["list:::List runs, newest first."]
