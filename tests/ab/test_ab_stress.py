"""Heavy variants, run by ``make stress`` only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.stress
def test_ten_million_calls_keep_memory_flat(workdir: Path) -> None:
    """10,000,000 calls of a no-op stay under 100 MB of peak RSS: the histogram has a
    fixed size and batches are folded as they come."""
    code = (
        "import json, resource, subprocess, sys\n"
        "out = subprocess.run([sys.executable, '-m', 'votakvot.ab', '-n', '10000000', '--json',"
        " '-p', 'res', 'mods.noop'], capture_output=True, text=True, check=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps({'peak_mb': peak, 'count': json.loads(out.stdout)['count']}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["count"] == 10_000_000
    assert result["peak_mb"] < 100
