"""The tool commands in-process: version, help, schema, doctor, ``rundctl sandbox`` itself,
the root command's own flags, and the ``python -m rundctl`` entry point."""

from __future__ import annotations

import io
import json
import threading
from typing import Any

import pytest
import requests

from rundctl import __version__
from rundctl.deps import Deps
from tests.conftest import FLOW, invoke
from tests.test_inproc_support import RUNNING, local_sandbox


def test_version_lists_rundctl_python_and_the_libraries() -> None:
    from rundctl.about import PACKAGES

    data = json.loads(invoke(["version", "-o", "json"]).stdout)
    assert data["rundctl"] == __version__
    assert list(data) == ["rundctl", "python", "platform", *PACKAGES]
    assert data["typer"].startswith("0.28.")
    table = invoke(["version"], tty=True, env={"NO_COLOR": "1"})
    rows = dict(line.split(None, 1) for line in table.stdout.splitlines())
    assert rows["rundctl"] == __version__ and rows["requests"] == data["requests"]
    tsv = invoke(["version", "-o", "tsv"]).stdout
    assert tsv.splitlines()[0].split() == ["rundctl", __version__]


def test_a_package_that_is_not_installed_shows_as_such(monkeypatch) -> None:
    from rundctl import about

    monkeypatch.setattr(about, "PACKAGES", ("no-such-distribution-rundctl",))
    res = invoke(["version", "-o", "table"])
    assert "no-such-distribution-rundctl  not installed" in res.stdout
    assert json.loads(invoke(["version", "-o", "json"]).stdout)["no-such-distribution-rundctl"] is None


def test_root_version_flag_and_no_arguments() -> None:
    assert invoke(["--version"]).stdout == f"rundctl {__version__}\n"
    from typer.testing import CliRunner

    from rundctl.app import app

    deps = Deps(env={}, stdin=io.BytesIO(), stdout=io.StringIO(), stderr=io.StringIO())
    bare = CliRunner().invoke(app, [], obj=deps)
    assert bare.exit_code == 2
    assert bare.output.startswith("Usage: rundctl [OPTIONS] COMMAND [ARGS]...")
    assert "  create " in bare.output and "Exit codes:" in bare.output


def test_help_lists_topics_and_prints_each_one() -> None:
    from rundctl.helptext import TOPICS

    listing = invoke(["help"])
    assert listing.exit_code == 0
    assert listing.stdout == ("Topics: exit-codes, environment, formatting, ci\n"
                              "Read one with: rundctl help TOPIC; commands: rundctl --help\n")
    for topic, text in TOPICS.items():
        res = invoke(["help", topic.upper()])
        assert res.exit_code == 0 and res.stdout == text.rstrip("\n") + "\n"
    bad = invoke(["help", "exits"])
    assert bad.exit_code == 2
    assert "TOPIC: 'exits' is not one of exit-codes, environment, formatting, ci" in bad.stderr


def test_schema_is_json_schema_that_knows_the_run_fields() -> None:
    res = invoke(["schema"])
    assert res.exit_code == 0
    schema = json.loads(res.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/draft/2020-12")
    assert {"displayName", "startDateTime", "status", "statistics"} <= set(schema["properties"])


def test_doctor_against_the_sandbox_as_text_and_json() -> None:
    from datetime import UTC, datetime

    from tests.conftest import FakeClock

    real = FakeClock(datetime.now(UTC))  # the clock check compares with the server's Date
    data = json.loads(invoke(["doctor", "--endpoint", "sandbox", "-o", "json"], clock=real).stdout)
    text = invoke(["doctor", "--endpoint", "sandbox", "-o", "table"], clock=real)
    rows = [line.split()[:2] for line in text.stdout.splitlines()
            if not line.lstrip().startswith("fix:")]
    assert rows == [[c["status"], c["name"]] for c in data]
    assert dict((c["name"], c["status"]) for c in data)["reachability"] == "pass"
    assert (text.exit_code == 0) == all(c["status"] != "fail" for c in data), text.stdout


# -- `rundctl sandbox`, in this process -------------------------------------------------


class Watched(io.StringIO):
    """A stdout that remembers when its first line arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.line = threading.Event()

    def write(self, text: str) -> int:
        n = super().write(text)
        if "\n" in self.getvalue():
            self.line.set()
        return n


def serve_then_interrupt(args: list[str], use: Any) -> tuple[int, str, str, Any]:
    """Run ``rundctl sandbox ARGS`` in this thread; once it prints its URL, call *use(url)*
    from another thread and then press Ctrl-C (a real SIGINT to this thread)."""
    import signal

    from typer.testing import CliRunner

    from rundctl.app import app

    out, err = Watched(), io.StringIO()
    deps = Deps(env={}, stdin=io.BytesIO(), stdout=out, stderr=err, stdin_tty=False,
                stdout_tty=False, stderr_tty=False)
    seen: dict[str, Any] = {}
    main = threading.main_thread().ident
    assert main == threading.get_ident() and main is not None

    def driver() -> None:
        if out.line.wait(20):
            try:
                seen["result"] = use(out.getvalue().splitlines()[0])
            except Exception as exc:  # reported by the test below
                seen["error"] = exc
        signal.pthread_kill(main, signal.SIGINT)

    helper = threading.Thread(target=driver, daemon=True)
    helper.start()
    result = CliRunner().invoke(app, ["sandbox", *args], obj=deps, catch_exceptions=False)
    helper.join(5)
    assert "error" not in seen, seen.get("error")
    return result.exit_code, out.getvalue(), err.getvalue(), seen.get("result")


def test_sandbox_command_serves_until_ctrl_c_and_logs_requests(tmp_path) -> None:
    db = tmp_path / "served.db"

    def use(url: str) -> int:
        made = invoke(["create", "--flow", FLOW, "--endpoint", url, *RUNNING, "-o", "id"])
        assert made.exit_code == 0, made.stderr
        return requests.get(f"{url}/industryData/incomingFlows/{FLOW}/runs", timeout=10).status_code

    code, out, err, status = serve_then_interrupt(["--port", "0", "--db", str(db)], use)
    assert code == 0  # Ctrl-C is how a server is stopped
    assert status == 200
    assert out.startswith("http://127.0.0.1:") and out.count("\n") == 1
    assert "POST /industryData/incomingFlows/" in err  # one log line per request
    assert err.endswith("rundctl: sandbox stopped\n")
    # What it stored is still there for the next sandbox on the same file.
    with local_sandbox(db=str(db)) as url:
        listed = invoke(["list", "--flow", FLOW, "--endpoint", url, "-o", "json"])
    assert [r["displayName"] for r in json.loads(listed.stdout)] == ["ci job"]


def test_sandbox_command_quiet_with_faults_and_a_token() -> None:
    def use(url: str) -> tuple[int, int]:
        anon = requests.get(f"{url}/external/industryData/runs", timeout=10).status_code
        ok = requests.get(f"{url}/external/industryData/runs", timeout=10,
                          headers={"Authorization": "Bearer sandbox-token-1"}).status_code
        return anon, ok

    code, _, err, (anon, ok) = serve_then_interrupt(
        ["--port", "0", "--quiet", "--require-token", "sandbox-token-1", "--latency", "0",
         "--run-seconds", "0", "--start-outcome", "FAILED"], use)
    assert code == 0 and (anon, ok) == (401, 200)
    assert err == "rundctl: sandbox stopped\n"


@pytest.mark.parametrize(("args", "text"), [
    (["--start-outcome", "running"], "--start-outcome: 'running' is not a final run status"),
    (["--start-outcome", "done"], "--start-outcome: 'done' is not a final run status"),
    (["--fail-rate", "0.5", "--fail-codes", "200"], "200 is not an HTTP error status (400-599)"),
    (["--port", "70000"], "--port"),
])
def test_sandbox_command_refuses_bad_settings(args, text) -> None:
    res = invoke(["sandbox", "--port", "0", *args] if "--port" not in args else ["sandbox", *args])
    assert res.exit_code == 2, res.stderr
    assert text in res.stderr


def test_sandbox_command_on_a_port_in_use_is_a_usage_error() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        res = invoke(["sandbox", "--port", str(port)])
    assert res.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in res.stderr


def test_sandbox_beyond_loopback_warns_first() -> None:
    res = invoke(["sandbox", "--host", "256.0.0.1", "--port", "0"])
    assert "warning: the sandbox listens on 256.0.0.1, beyond loopback" in res.stderr
    assert res.exit_code == 2 and "cannot listen on 256.0.0.1" in res.stderr


# -- the entry point ----------------------------------------------------------------------


@pytest.fixture
def own_signal_handlers() -> Any:
    """main() installs the binary's SIGTERM/SIGHUP handlers; put pytest's back afterwards."""
    import signal

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_python_m_rundctl_main_runs_the_app_and_exits_with_its_status(
    capsys, own_signal_handlers
) -> None:
    import signal

    from rundctl.__main__ import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"rundctl {__version__}\n"
    with pytest.raises(SystemExit) as failed:
        main(["list", "--flow", "nope", "--endpoint", "sandbox"])
    assert failed.value.code == 2
    assert "--flow: 'nope' is not a GUID" in capsys.readouterr().err
    from rundctl.app import _on_signal

    assert signal.getsignal(signal.SIGTERM) is _on_signal  # SIGTERM ends it like Ctrl-C


def test_main_makes_non_utf8_streams_utf8(monkeypatch) -> None:
    import sys

    from rundctl.__main__ import _utf8_streams

    raw_out, raw_err = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(raw_out, encoding="latin-1")
    err = io.TextIOWrapper(raw_err, encoding="ascii")
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    _utf8_streams()
    assert out.encoding == "utf-8" and err.encoding == "utf-8"
    out.write("Zürich ✓")
    out.flush()
    assert raw_out.getvalue() == "Zürich ✓".encode()
