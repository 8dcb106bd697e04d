"""Run notebook cells in a real ipykernel kernel of this very interpreter.

The kernel is started through a kernel spec in a temp ``JUPYTER_PATH`` (nothing of
the developer's Jupyter set-up is used), in ``cwd``, with ``extra_path`` on its
``PYTHONPATH`` so it imports the user's modules as a notebook next to them would.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest


def run_cells(cells: list[str], cwd: Path, jupyter: Path) -> list[list[dict[str, Any]]]:
    """Execute ``cells`` in order in one kernel; return each cell's outputs.

    Errors do not stop the run (a notebook user goes on after a failed cell).
    """
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    spec = jupyter / "kernels" / "votakvot-session"
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "votakvot session", "language": "python"})
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    env = {
        **os.environ,
        "JUPYTER_PATH": str(jupyter),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(cwd), os.environ.get("PYTHONPATH")])),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(jupyter)  # the client looks the spec up here
    try:
        client = nbclient.NotebookClient(
            nb,
            kernel_name="votakvot-session",
            timeout=120,
            startup_timeout=60,
            allow_errors=True,
            resources={"metadata": {"path": str(cwd)}},
        )
        client.execute(env=env)
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old
    return [list(cell.outputs) for cell in nb.cells]


def errors(outputs: list[list[dict[str, Any]]]) -> list[tuple[int, str]]:
    """``(cell index, exception name)`` of every cell that raised."""
    return [
        (i, o["ename"])
        for i, cell in enumerate(outputs)
        for o in cell
        if o["output_type"] == "error"
    ]


def shown(outputs: list[dict[str, Any]]) -> str:
    """What a cell printed and the text of its value."""
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
