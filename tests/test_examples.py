"""Every script in examples/ runs as written (the README's examples among them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = ["quickstart.py", "metadata.py", "reading.py", "resumable.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(script: str, tmp_path: Path) -> None:
    """The example exits 0 in an empty folder and writes trials there."""
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert list((tmp_path / "my-results").rglob("votakvot.yaml"))
