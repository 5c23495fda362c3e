"""The benchmark's short mode runs end to end (it is a script, not a test of speed: no timing is
asserted here; benchmarks/README.md says how to read its numbers)."""

import importlib.util
import os
import subprocess
import sys

import pytest
from conftest import require_real_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.slow  # a benchmark run, ~30 s


def test_quick_benchmark_runs_every_workload_against_the_installed_peers():
    require_real_data()
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "run.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ, PYTHONPATH=""),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    peers = [
        p
        for p in ("torch", "keras")
        if importlib.util.find_spec(p) and importlib.util.find_spec("torch")
    ]
    header = next(line for line in lines if line.startswith("| workload"))
    for peer in peers:
        assert f"striate/{peer}" in header and f"{peer} MB" in header
    rows = {
        line.split("|")[1].strip(): line
        for line in lines
        if line.startswith("| ") and not line.startswith("| workload")
    }
    assert set(rows) == {"article", "convnet", "predict", "resnet"}
    for row in rows.values():
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert len(cells) == len(header.strip("|").split("|"))
        assert all(float(cell) > 0 for cell in cells[1:])
    if not peers:
        assert "missing peers: torch" in result.stdout
