"""The strict JSON reader on its worst inputs: time at 64 KiB, 256 KiB and 1 MiB, and the ratio.

A linear reader takes about 16 times as long for 1 MiB as for 64 KiB. Each input family
below is one that once made (or could make) the reader's own scanning super-linear:

- ``escaped-quotes``: an unterminated string of escaped quotes, then brackets. The depth
  pre-scan used to re-scan from every quote to the end: 80 KB took 36 s.
- ``escaped-quotes-array``: the same inside an array (read as one document).
- ``blank-lines``: 1-byte blank lines before the first NDJSON record. The reader copied
  everything read so far on every blank line.
- ``backslashes``: an unterminated string of escaped backslashes, then brackets.
- ``short-strings``: an array of many one-letter strings (one lexeme each in the line map).
- ``deep-near-limit``: arrays nested 32 deep, repeated (the depth scan's busiest case).
- ``whitespace``: an array whose element follows a megabyte of spaces.
- ``surrogates``: lone surrogate escapes (the lone-surrogate walk).
- ``nan``: NaN repeated (one problem per element).

Each is read through ``iter_records`` (the bulk/NDJSON path) and ``read_document``
(one document); the time is the median of ``--runs`` runs (fast reads repeated to
fill about 50 ms per run).

    .venv/bin/python benchmarks/json_worst.py [--runs 5] [--only escaped-quotes,blank-lines]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rundctl import jsonio
from rundctl.errors import InvalidInput

SIZES = (64 * 1024, 256 * 1024, 1024 * 1024)


def _fill(prefix: bytes, unit: bytes, suffix: bytes, size: int) -> bytes:
    count = max(0, (size - len(prefix) - len(suffix)) // len(unit))
    return prefix + unit * count + suffix


INPUTS: dict[str, Callable[[int], bytes]] = {
    "escaped-quotes": lambda n: _fill(b'"', b'\\"', b"[" * 40, n),
    "escaped-quotes-array": lambda n: _fill(b'["', b'\\"', b"[" * 40, n),
    "blank-lines": lambda n: _fill(b"", b"\n", b'{"n": 1}\n', n),
    "backslashes": lambda n: _fill(b'"', b"\\\\", b"[" * 40, n),
    "short-strings": lambda n: _fill(b"[", b'"a",', b'"a"]', n),
    "deep-near-limit": lambda n: _fill(b"[", b"[" * 31 + b"]" * 31 + b",", b"[]]", n),
    "whitespace": lambda n: _fill(b"[", b" ", b"1]", n),
    "surrogates": lambda n: _fill(b'["', b"\\ud800", b'"]', n),
    "nan": lambda n: _fill(b"[", b"NaN,", b"1]", n),
}


def _read_records(data: bytes) -> None:
    try:
        for _ in jsonio.iter_records(io.BytesIO(data)):
            pass
    except InvalidInput:
        pass


def _read_document(data: bytes) -> None:
    try:
        jsonio.read_document(io.BytesIO(data))
    except InvalidInput:
        pass


def median_seconds(read: Callable[[bytes], None], data: bytes, runs: int) -> float:
    """Median over ``runs`` of the time per read; a fast read is repeated to fill ~50 ms, so
    timer and scheduler noise does not dominate the 64 KiB figures."""
    started = time.perf_counter()
    read(data)
    once = time.perf_counter() - started
    repeat = max(1, int(0.05 / once)) if once > 0 else 1000
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(repeat):
            read(data)
        times.append((time.perf_counter() - started) / repeat)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated input names")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(INPUTS)
    readers = {"iter_records": _read_records, "read_document": _read_document}
    print(f"{'input':22} {'reader':14} {'64 KiB':>9} {'256 KiB':>9} {'1 MiB':>9} {'1M/64K':>7}")
    worst = 0.0
    for name in names:
        for reader_name, read in readers.items():
            if name == "blank-lines" and reader_name == "read_document":
                continue  # one document cannot start with NDJSON's blank lines
            seconds = [median_seconds(read, INPUTS[name](size), args.runs) for size in SIZES]
            ratio = seconds[2] / seconds[0] if seconds[0] > 0 else float("inf")
            worst = max(worst, ratio)
            cells = " ".join(f"{s * 1000:8.1f}ms" for s in seconds)
            print(f"{name:22} {reader_name:14} {cells} {ratio:7.1f}", flush=True)
    print(f"worst ratio 1 MiB / 64 KiB: {worst:.1f} (linear ~16, quadratic ~256)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
