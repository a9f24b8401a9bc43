"""Soak: bulk creates under kill -9 and injected faults, across seeds; lost and duplicated.

For each seed a sandbox (loopback only) answers a share of requests with 429/500/503, half
of the failures AFTER storing the run (so answers are lost), with random latency. A bulk
input of unique records plus identical twins (same name, start and body: two schools'
"Nightly sync" at 02:00) is created with ``--journal``; the first attempts are killed with
SIGKILL at a random moment, later ones run to the end, and the command is re-run with the
same journal until it exits 0. Then every stored run is counted per body:

    lost        records of the input with no run
    duplicated  runs beyond what the input asked for

Both must be 0. Bounded: --seeds, --records, --max-attempts.

    .venv/bin/python benchmarks/soak.py [--seeds 4] [--records 120] [--twins 3]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNDCTL = str(Path(sys.executable).with_name("rundctl"))
FLOW = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
SETTLE = "1"  # seconds; the default (60) is for real services


def records(count: int, twins: int) -> list[dict[str, object]]:
    unique = [{"displayName": f"run {i}", "startDateTime": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
               "status": "completed", "statistics": {"people": i}} for i in range(count)]
    twin = {"displayName": "Nightly sync", "startDateTime": "2026-11-30T02:00:00Z",
            "status": "completed", "statistics": {"people": 7}}
    return unique + [twin] * (2 * twins)


def key(run: dict[str, object]) -> str:
    return json.dumps({k: run.get(k) for k in ("displayName", "status", "statistics")},
                      sort_keys=True) + str(run.get("startDateTime"))[:19]


def serve(db: Path, seed: int | None) -> tuple[subprocess.Popen[str], str]:
    faults = [] if seed is None else [
        "--seed", str(seed), "--fail-rate", "0.3", "--fail-codes", "429,500,503",
        "--retry-after", "0", "--fault-after-commit", "--latency", "0-15"]
    proc = subprocess.Popen([RUNDCTL, "sandbox", "--port", "0", "--db", str(db), "--quiet",
                             *faults], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def stored(db: Path) -> list[dict[str, object]]:
    proc, url = serve(db, None)
    try:
        out = subprocess.run([RUNDCTL, "list", "--flow", FLOW, "--all", "-o", "ndjson",
                              "--endpoint", url], capture_output=True, text=True, check=True)
        return [json.loads(line) for line in out.stdout.splitlines()]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def one_seed(seed: int, data: list[dict[str, object]], kills: int, max_attempts: int,
             work: Path) -> tuple[int, int, int, list[int]]:
    rng = random.Random(seed)
    source = work / f"in{seed}.ndjson"
    source.write_text("".join(json.dumps(r) + "\n" for r in data))
    db, journal = work / f"sb{seed}.db", work / f"j{seed}"
    server, url = serve(db, seed)
    codes: list[int] = []
    env = {**os.environ, "RUNDCTL_SETTLE_SECONDS": SETTLE}
    try:
        for attempt in range(max_attempts):
            proc = subprocess.Popen(
                [RUNDCTL, "create", "--flow", FLOW, "-f", str(source), "--journal", str(journal),
                 "--parallel", "4", "--endpoint", url, "-o", "none"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            if attempt < kills:
                time.sleep(rng.uniform(0.1, 1.2))
                proc.send_signal(signal.SIGKILL)
            codes.append(proc.wait(timeout=300))
            if codes[-1] == 0:
                break
            if codes[-1] == 12:
                time.sleep(float(SETTLE))  # unknown records: let the settle window pass
    finally:
        server.terminate()
        server.wait(timeout=10)
    want = collections.Counter(key(r) for r in data)
    have = collections.Counter(key(r) for r in stored(db))
    lost = sum(max(0, n - have[k]) for k, n in want.items())
    duplicated = sum(max(0, n - want[k]) for k, n in have.items())
    return lost, duplicated, len(codes), codes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--records", type=int, default=120)
    parser.add_argument("--twins", type=int, default=3, help="pairs of identical records")
    parser.add_argument("--kills", type=int, default=2, help="attempts killed with SIGKILL")
    parser.add_argument("--max-attempts", type=int, default=30)
    args = parser.parse_args()
    data = records(args.records, args.twins)
    total_lost = total_dup = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rundctl-soak-") as tmp:
        for seed in range(args.seeds):
            lost, dup, attempts, codes = one_seed(seed, data, args.kills, args.max_attempts,
                                                  Path(tmp))
            total_lost += lost
            total_dup += dup
            print(f"seed {seed}: {len(data)} records ({args.twins} twin pairs), {attempts} "
                  f"attempts (exit codes {codes}), lost {lost}, duplicated {dup}")
    print(f"total: {args.seeds} seeds x {len(data)} records, lost {total_lost}, duplicated "
          f"{total_dup} ({time.monotonic() - started:.0f} s)")
    return 0 if total_lost == total_dup == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
