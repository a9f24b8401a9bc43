"""-f PATH, -f -, /dev/stdin and <(…) give one verdict for the same bytes (adversarial #22, #23)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import invoke, rundctl_exe

BOM = b"\xef\xbb\xbf"
MIB = 1024 * 1024


def document(size: int) -> bytes:
    """A pretty-printed (multi-line) run of exactly *size* bytes."""
    base = {"displayName": "big", "startDateTime": "2026-11-01T10:00:00Z",
            "status": "completed", "statistics": {"note": ""}}
    empty = len(json.dumps(base, indent=2).encode())
    base["statistics"]["note"] = "x" * (size - empty)
    raw = json.dumps(base, indent=2).encode()
    assert len(raw) == size
    return raw


def verdicts(tmp_path: Path, data: bytes) -> list[tuple[int, str]]:
    path = tmp_path / "in.json"
    path.write_bytes(data)
    results = []
    for res in (invoke(["validate", "-f", str(path), "-o", "none"]),
                invoke(["validate", "-f", "-", "-o", "none"], stdin=data)):
        results.append((res.exit_code, res.stderr.replace(str(path), "INPUT")
                        .replace("stdin", "INPUT")))
    return results


@pytest.mark.parametrize("size", [MIB - 10, MIB])
def test_a_document_of_up_to_1_mib_after_a_bom_is_one_run_from_a_file_and_stdin(
        tmp_path: Path, size: int) -> None:
    (file_code, _), (stdin_code, stdin_err) = verdicts(tmp_path, BOM + document(size))
    assert file_code == stdin_code == 0, stdin_err


@pytest.mark.parametrize("data", [BOM + document(MIB + 1), document(MIB + 1),
                                  BOM + document(MIB + 200)])
def test_a_larger_document_is_too_large_the_same_way_from_a_file_and_stdin(
        tmp_path: Path, data: bytes) -> None:
    first, second = verdicts(tmp_path, data)
    assert first == second
    assert first[0] == 3 and "1 MiB" in first[1] and "line 2" not in first[1]


def test_large_ndjson_is_bulk_from_both(tmp_path: Path) -> None:
    line = json.dumps({"displayName": "r", "startDateTime": "2026-11-01T10:00:00Z",
                       "status": "completed", "statistics": {"pad": "y" * 1000}}).encode()
    data = BOM + b"\n".join([line] * 1200) + b"\n"
    assert len(data) > MIB
    assert [code for code, _ in verdicts(tmp_path, data)] == [0, 0]


def _bash(command: str, data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["bash", "-c", command], input=data, capture_output=True, timeout=60,
                          env={**os.environ, "EXE": rundctl_exe()})


@pytest.mark.parametrize("command", [
    '"$EXE" validate -f /dev/stdin -o json',
    'cat > "$TMPFILE"; "$EXE" validate -f <(cat "$TMPFILE") -o json',
])
def test_dev_stdin_and_process_substitution_are_accepted(tmp_path: Path, command: str) -> None:
    run = {"displayName": "p", "startDateTime": "2026-11-01T10:00:00Z", "status": "completed",
           "statistics": {}}
    proc = _bash(f'TMPFILE={tmp_path / "x.json"}; {command}', json.dumps(run).encode())
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["displayName"] == "p"
    bulk = _bash(f'TMPFILE={tmp_path / "y.json"}; {command}',
                 (json.dumps(run) + "\n" + json.dumps(run) + "\n").encode())
    assert bulk.returncode == 0 and b"2 records" in bulk.stderr


def test_a_directory_or_missing_file_is_named(tmp_path: Path) -> None:
    for target, why in ((tmp_path, "directory"), (tmp_path / "none", "no such file")):
        res = invoke(["validate", "-f", str(target)])
        assert res.exit_code == 3 and why in res.stderr
