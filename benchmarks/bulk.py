"""Bulk create throughput against a plain threaded requests loop, and rundctl's peak memory.

Both sides create N runs against the same `rundctl sandbox` (SQLite, loopback) in the same
run, with the same number of threads; the script prints both rates and their ratio (target:
rundctl >= 2/3 of the plain loop), then rundctl's peak RSS for `validate` and `create` over
10k and 200k records (target: validate 200k < 120 MiB).

    .venv/bin/python benchmarks/bulk.py [--records 3000] [--parallel 4] [--big 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PY = sys.executable
RUNDCTL = str(Path(PY).with_name("rundctl"))
FLOW_A = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
FLOW_B = "2c5f39cb-3fb2-42e3-994f-1127e4ddb538"


def write_ndjson(path: Path, count: int) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(count):
            handle.write(json.dumps({
                "displayName": f"backfill {i}",
                "startDateTime": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
                "endDateTime": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:30:00Z",
                "status": "completed",
                "statistics": {"people": i, "groups": i % 7},
            }) + "\n")


def plain_threaded(url: str, path: Path, parallel: int) -> float:
    """The baseline: a threaded requests.Session loop posting the same records."""
    import requests

    lines = path.read_text(encoding="utf-8").splitlines()
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=parallel)
    session.mount("http://", adapter)
    target = f"{url}/industryData/incomingFlows/{FLOW_B}/runs"
    it = iter(lines)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                line = next(it, None)
            if line is None:
                return
            body = json.loads(line)
            body["@odata.type"] = "#microsoft.industryData.run"
            r = session.post(target, json=body, timeout=30)
            r.raise_for_status()

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(lines) / (time.perf_counter() - start)


def rundctl_bulk(url: str, path: Path, parallel: int, count: int) -> float:
    start = time.perf_counter()
    proc = subprocess.run([RUNDCTL, "create", "--flow", FLOW_A, "-f", str(path), "--endpoint",
                           url, "--parallel", str(parallel), "-o", "none"],
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"rundctl failed: {proc.stderr[-800:]}")
    return count / elapsed


def peak_rss_mib(args: list[str]) -> float:
    """Peak RSS of one child process, measured by a fresh intermediate interpreter."""
    probe = ("import resource, subprocess, sys\n"
             "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
             "assert p.returncode == 0, p.stderr[-500:]\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([PY, "-c", probe, *args], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--big", type=int, default=200_000)
    parser.add_argument("--skip-big-create", action="store_true",
                        help="measure create RSS on 10k only (200k creates take minutes)")
    args = parser.parse_args()
    print(f"rundctl bulk benchmark (python {sys.version.split()[0]}, {os.cpu_count()} cores)")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp, "runs.ndjson")
        write_ndjson(data, args.records)
        server = subprocess.Popen([RUNDCTL, "sandbox", "--port", "0", "--quiet", "--db",
                                   str(Path(tmp, "bench.db"))], stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            plain_threaded(url, Path(data), args.parallel)  # warm the sandbox and page cache
            base = plain_threaded(url, data, args.parallel)
            ours = rundctl_bulk(url, data, args.parallel, args.records)
            ratio = ours / base
            ok &= ratio >= 2 / 3
            print(f"create {args.records} runs, {args.parallel} threads: rundctl {ours:7.0f}/s "
                  f"(whole command, incl. start-up and validation)   plain requests {base:7.0f}/s"
                  f"   ratio {ratio:4.2f} (target >= 0.67)")
            for n in (10_000, args.big):
                big = Path(tmp, f"{n}.ndjson")
                write_ndjson(big, n)
                rss = peak_rss_mib([RUNDCTL, "validate", "-f", str(big), "-o", "none"])
                target = " (target < 120 MiB)" if n >= 200_000 else ""
                ok &= n < 200_000 or rss < 120
                print(f"validate {n:>7} records: peak RSS {rss:6.1f} MiB{target}")
                if n > 10_000 and args.skip_big_create:
                    continue
                rss = peak_rss_mib([RUNDCTL, "create", "--flow", FLOW_A, "-f", str(big),
                                    "--endpoint", url, "--parallel", str(args.parallel),
                                    "-o", "none"])
                print(f"create   {n:>7} records: peak RSS {rss:6.1f} MiB")
        finally:
            server.terminate()
            server.wait()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
