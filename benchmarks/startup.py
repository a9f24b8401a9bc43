"""Start-up and single-create latency of rundctl against baselines in the same venv.

Prints medians (ms) and ratios; both sides run interleaved in the same process so machine
load affects them alike. Targets (issue 2): --help <= 1.3x a one-command Typer app's --help;
validate (one run on stdin) <= 1.6x `python -c "import typer"`; one create against the
sandbox <= 1.5x a plain requests.post script doing the same POST.

    .venv/bin/python benchmarks/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
RUNDCTL = str(Path(PY).with_name("rundctl"))
FLOW = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
RUN = json.dumps({"displayName": "bench", "startDateTime": "2026-11-01T10:00:00Z",
                  "status": "completed", "statistics": {"people": 1}}).encode()

TYPER_APP = '''
import typer
app = typer.Typer()
@app.command()
def hello(name: str = "x") -> None:
    """Say hello."""
    print(name)
app()
'''

REQUESTS_POST = f'''
import sys, json, uuid, requests
body = sys.stdin.buffer.read()
r = requests.post(sys.argv[1] + "/industryData/incomingFlows/{FLOW}/runs", data=body,
                  headers={{"Content-Type": "application/json", "client-request-id": str(uuid.uuid4())}},
                  timeout=30)
r.raise_for_status()
print(json.dumps(r.json(), indent=2))
'''


def timed(cmd: list[str], stdin: bytes | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, input=stdin, capture_output=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed ({proc.returncode}): {proc.stderr.decode()[:500]}")
    return elapsed


def compare(name: str, ours: list[str], base: list[str], runs: int, target: float,
            stdin: bytes | None = None) -> bool:
    a: list[float] = []
    b: list[float] = []
    timed(ours, stdin), timed(base, stdin)  # warm caches (pyc, page cache)
    for _ in range(runs):
        a.append(timed(ours, stdin))
        b.append(timed(base, stdin))
    ma, mb = statistics.median(a), statistics.median(b)
    ratio = ma / mb
    verdict = "ok" if ratio <= target else "OVER TARGET"
    print(f"{name:<34} rundctl {ma * 1000:7.1f} ms   baseline {mb * 1000:7.1f} ms   "
          f"ratio {ratio:4.2f} (target <= {target})  {verdict}")
    return ratio <= target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env_note = f"python {sys.version.split()[0]}, {os.cpu_count()} cores"
    print(f"rundctl start-up benchmark ({env_note}; medians of {args.runs} interleaved runs)")
    # pip compiles bytecode on a normal install; an editable install under
    # PYTHONDONTWRITEBYTECODE would otherwise recompile rundctl on every start.
    import rundctl

    subprocess.run([PY, "-m", "compileall", "-q", str(Path(rundctl.__file__).parent)], check=True,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp, "one_command_app.py")
        app.write_text(TYPER_APP)
        post = Path(tmp, "requests_post.py")
        post.write_text(REQUESTS_POST)
        ok &= compare("--help vs one-command Typer --help", [RUNDCTL, "--help"],
                      [PY, str(app), "--help"], args.runs, 1.3)
        ok &= compare("validate -f - vs import typer", [RUNDCTL, "validate", "-f", "-", "-o", "none"],
                      [PY, "-c", "import typer"], args.runs, 1.6, stdin=RUN)
        server = subprocess.Popen([RUNDCTL, "sandbox", "--port", "0", "--quiet"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            ok &= compare("create vs requests.post script",
                          [RUNDCTL, "create", "--flow", FLOW, "-f", "-", "--endpoint", url],
                          [PY, str(post), url], args.runs, 1.5, stdin=RUN)
        finally:
            server.terminate()
            server.wait()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
