"""``import votakvot`` stays light: the heavy libraries load only where they are used."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ["textual", "rich", "pandas", "gevent", "fsspec", "numpy", "dask", "plotext", "watchdog"]


def test_import_votakvot_loads_no_heavy_library() -> None:
    """Neither the TUI stack nor pandas, gevent or fsspec is imported by ``import votakvot``."""
    code = (
        "import sys, votakvot\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_tracking_a_local_call_needs_no_heavy_library(tmp_path) -> None:
    """A tracked call on a local root runs without importing pandas or fsspec either."""
    code = (
        "import sys, votakvot\n"
        f"votakvot.init(path={str(tmp_path)!r})\n"
        "@votakvot.track()\n"
        "def f(x):\n"
        "    votakvot.meter(x=x)\n"
        "    return x\n"
        "f(1)\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
