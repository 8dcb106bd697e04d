"""The dashboard's rerun of a function defined in a notebook says plainly that it cannot be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, Static
from tui_helpers import loaded, wait_for, write_trial

from votakvot import _yaml
from votakvot_tui import make_app
from votakvot_tui.core.runs import LaunchError, _import, main, not_rerunnable
from votakvot_tui.screens.rerun import RerunScreen
from votakvot_tui.widgets import TrialTable

pytestmark = pytest.mark.timeout(120)

NOTEBOOK_SOURCE = {
    "file": "/tmp/ipykernel_1/123.py",
    "line": 1,
    "hash": "0123456789abcdef",
    "hash_of": "text-and-code",
    "notebook": "notebooks/analysis.ipynb",
    "cell": 4,
}


def _notebook_trial(root: Path, source: dict[str, Any] | None = NOTEBOOK_SOURCE) -> Path:
    folder = write_trial(root, "__main__.train", params={"x": 1}, result=2)
    if source is not None:
        path = folder / "votakvot.yaml"
        data = _yaml.load(path.read_text())
        data["source"] = source
        path.write_text(_yaml.dump(data))
    return folder


def test_the_reason_names_the_notebook_and_the_cell() -> None:
    """A notebook's function, a REPL's function, a module's function."""
    notebook = not_rerunnable({"function": "__main__.train", "source": NOTEBOOK_SOURCE})
    assert notebook is not None
    assert "train was defined in notebook notebooks/analysis.ipynb (cell In[4])" in notebook
    assert "cannot be rerun from outside its kernel" in notebook
    repl = not_rerunnable({"function": "__main__.train", "source": {"file": "<stdin>"}})
    assert repl is not None and "interactive session" in repl and "notebook" not in repl
    assert not_rerunnable({"function": "experiment.train"}) is None
    with pytest.raises(LaunchError, match="cannot be imported by another process"):
        _import("__main__.train")  # never this very program's own __main__


def test_the_rerun_program_refuses_a_notebook_trial(tmp_path, capsys) -> None:
    """``python -m votakvot_tui.core.runs rerun FOLDER`` exits 2 with the reason, runs nothing."""
    folder = _notebook_trial(tmp_path / "results")
    assert main(["rerun", str(folder), "x=2"]) == 2
    err = capsys.readouterr().err
    assert "defined in notebook notebooks/analysis.ipynb" in err
    assert sum(1 for _ in (tmp_path / "results").rglob("votakvot.yaml")) == 1


async def test_rerun_of_a_notebook_function(tmp_path, monkeypatch) -> None:
    """`E` on a notebook trial shows the reason at once; Run stays disabled."""
    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "jobs"))
    _notebook_trial(tmp_path / "results")
    app = make_app([str(tmp_path / "results")], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 1)
        app.screen.query_one(TrialTable).focus()
        await pilot.press("E")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, RerunScreen) and app.screen)
        error = screen.query_one("#rerun-error", Static)
        await wait_for(pilot, lambda: "notebook" in str(error.render()), timeout=30)
        assert "cannot be rerun from outside its kernel" in str(error.render())
        assert screen.query_one("#run", Button).disabled
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RerunScreen))
        assert app.job_manager.list_jobs() == []
