"""``make demo``: quitting before its long background trial ends leaves that trial
``interrupted`` (stopped by SIGTERM), not ``running`` until it shows ``stale``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from votakvot.trial import read_trial

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo.py"
ENV = dict(os.environ, PYTHONPATH=str(ROOT))

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# The demo with a dashboard that the user quits as soon as the live trial shows up.
QUIT_AT_ONCE = """
import pathlib, runpy, sys, time, types

root = sys.argv[1]


class App:
    def run(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if list(pathlib.Path(root).glob("*/long_training/*/*/*/votakvot.yaml")):
                return  # the user quits (q) while the live trial runs
            time.sleep(0.05)


fake = types.ModuleType("votakvot_tui")
fake.make_app = lambda roots: App()
sys.modules["votakvot_tui"] = fake
sys.argv = [sys.argv[2], root]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _live_trial(root: Path) -> dict:
    found = list(root.glob("*/long_training/*/*/*/votakvot.yaml"))
    assert len(found) == 1, found
    trial = read_trial(str(found[0].parent))
    assert trial is not None
    return trial.data


@pytest.mark.parametrize("how", ["dashboard", "no-tui"])
def test_quitting_the_demo_interrupts_its_live_trial(tmp_path: Path, how: str) -> None:
    root = tmp_path / "demo"
    if how == "dashboard":
        cmd = [sys.executable, "-c", QUIT_AT_ONCE, str(root), str(DEMO)]
    else:
        cmd = [sys.executable, str(DEMO), str(root), "--no-tui"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"demo trials are in {root}" in out.stdout
    data = _live_trial(root)
    assert data["state"] == "interrupted", data
    assert data["error"]["type"] == "SIGTERM" and data["error"]["signal"] == "SIGTERM"
    assert "finished" in data["at"]
    if how == "no-tui":
        # The printed report showed it live.
        assert "long_training" in out.stdout
