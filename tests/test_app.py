"""The app: one error path in-process and from the binary; only the invoked command is built."""

from __future__ import annotations

import io
import os

import pytest

from rundctl import model, settings, vocab
from rundctl.app import app, only_invoked
from rundctl.cli import complete as options
from rundctl.deps import Deps
from tests.conftest import FLOW, invoke, run_exe

MISTAKES = [
    (["create", "--nme", "x"], 2),
    (["list", "--limit", "zero"], 2),
    (["create", "--parallel", "0", "--flow", FLOW], 2),
    (["get"], 2),
    (["lits"], 2),
    (["flows", "nope"], 2),
    (["get", "not-a-guid", "--endpoint", "sandbox"], 2),
    (["validate", "-f", "-", "-o", "xml"], 2),
    (["list", "--ci-annotations", "loud"], 2),
    (["wait", FLOW, "--fail-on", "sometimes", "--endpoint", "sandbox"], 2),
]


@pytest.mark.parametrize(("args", "code"), MISTAKES)
def test_a_mistake_reads_the_same_in_process_and_from_the_binary(args: list[str], code: int,
                                                                 tmp_path: object) -> None:
    env = {"RUNDCTL_SANDBOX_DB": os.path.join(str(tmp_path), "s.db")}
    inside = invoke(args, env=env)
    binary = run_exe(args, input=b"", env=env)
    assert inside.exit_code == binary.returncode == code
    assert inside.stderr == binary.stderr
    assert inside.stderr.startswith("rundctl: error: ")
    assert inside.stdout == binary.stdout == ""


def test_only_the_invoked_command_is_built() -> None:
    narrow = only_invoked(app, ["list", "--flow", FLOW])
    assert [c.name for c in narrow.registered_commands] == ["list"]
    assert narrow.registered_groups == []
    group = only_invoked(app, ["--debug", "auth", "status"])
    assert [g.name for g in group.registered_groups] == ["auth"]
    assert group.registered_commands == []
    # the command list and "did you mean" need the whole app
    for argv in ([], ["--help"], ["--help", "list"], ["lits"]):
        assert only_invoked(app, argv) is app


def _deps(**kw: object) -> tuple[Deps, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    base: dict[str, object] = {"env": dict(os.environ), "stdin": io.BytesIO(), "stdout": out,
                               "stderr": err, "stdin_tty": False, "stdout_tty": False,
                               "stderr_tty": False}
    base.update(kw)
    return Deps(**base), out, err  # type: ignore[arg-type]


def _run(deps: Deps, args: list[str]) -> int:
    with pytest.raises(SystemExit) as stopped:
        app(args=args, prog_name="rundctl", obj=deps)
    return int(stopped.value.code or 0)


def test_ctrl_c_is_exit_130_with_the_in_flight_note() -> None:
    def interrupt() -> object:
        raise KeyboardInterrupt

    deps, _, err = _deps(session_factory=interrupt)
    assert _run(deps, ["list", "--endpoint", "http://127.0.0.1:9/"]) == 130
    assert err.getvalue() == ("rundctl: interrupted\n"
                              "no create was in flight: nothing was half-sent\n")


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_stdout_ends_a_read_with_0_and_a_change_with_141(tmp_path: object) -> None:
    deps, _, err = _deps(stdout=_ClosedPipe())
    assert _run(deps, ["schema"]) == 0  # the reader chose to stop; nothing was lost
    assert err.getvalue() == ""
    env = {**os.environ, "RUNDCTL_SANDBOX_DB": os.path.join(str(tmp_path), "s.db")}
    deps, _, err = _deps(stdout=_ClosedPipe(), env=env)
    code = _run(deps, ["create", "--endpoint", "sandbox", "--flow", FLOW, "-n", "x", "--start",
                       "now", "--status", "running", "--statistics", "{}"])
    assert code == 141
    assert "created run " in err.getvalue() and "could not be written" in err.getvalue()


def test_a_bug_is_exit_1_and_never_prints_the_secret() -> None:
    def broken(_deps: Deps, _conn: object) -> object:
        raise RuntimeError("boom Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln")

    deps, out, err = _deps(credential_factory=broken)
    assert _run(deps, ["auth", "status", "--endpoint", "http://127.0.0.1:9/"]) == 1
    assert "internal error (a bug): RuntimeError" in err.getvalue()
    assert "eyJhbGciOiJSUzI1NiJ9" not in err.getvalue()
    assert out.getvalue() == ""


def test_choices_and_help_come_from_the_domain_constants() -> None:
    assert model.RUN_STATUSES is vocab.RUN_STATUSES
    assert settings.OUTPUT_FORMATS is vocab.OUTPUT_FORMATS
    assert settings.AUTH_MODES is vocab.AUTH_MODES
    assert tuple(settings.CLOUDS) == vocab.CLOUD_NAMES
    from rundctl import config, helptext, wait

    assert config.PROFILE_KEYS is vocab.PROFILE_KEYS
    assert wait.FAIL_ON is vocab.FAIL_ON
    assert tuple(helptext.topic_names()) == vocab.HELP_TOPICS
    assert options.complete_status("") == list(model.RUN_STATUSES)
    assert options.complete_status("COMPLETEDW") == ["completedWithErrors", "completedWithWarnings"]
    assert options.complete_output("") == list(settings.OUTPUT_FORMATS)
    assert options.complete_auth("") == list(settings.AUTH_MODES)
    assert options.complete_cloud("") == [*settings.CLOUDS, "custom"]
    assert options.complete_profile_key("") == list(config.PROFILE_KEYS)
    assert options.complete_topic("") == helptext.topic_names()
    for mode in settings.AUTH_MODES:
        assert settings.parse_auth_mode(mode) == mode
    text = " ".join(invoke(["create", "--help"]).stdout.split())
    assert ", ".join(model.RUN_STATUSES) in text
    assert ", ".join(vocab.AUTH_MODES) in text
    assert "|".join(vocab.FAIL_ON) in text
