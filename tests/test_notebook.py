"""Trials of functions defined in notebooks: named after the notebook, with the cell's
identity, the git state of each call, captured output and tracebacks that start at the cell.

The unit tests fake a kernel's user namespace; ``test_a_notebook_run_by_nbclient`` runs a
real ipykernel kernel (this interpreter, through a kernel spec in a temp
``JUPYTER_PATH``) on a notebook built with nbformat, in a temp git repository.
"""

from __future__ import annotations

import json
import linecache
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import votakvot
from votakvot import _naming, _notebook, _source
from votakvot._config import get_config, set_config


@pytest.fixture
def root(tmp_path: Path):
    previous = get_config()
    votakvot.init(path=str(tmp_path / "results"), capture="none")
    yield tmp_path / "results"
    set_config(previous)


class _FakeCompiler:
    def __init__(self) -> None:
        self._filename_map: dict[str, int] = {}


class _FakeShell:
    def __init__(self) -> None:
        self.compile = _FakeCompiler()


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], _FakeShell]:
    """A fake kernel: ``__main__`` is a user namespace (no ``__file__``, ``get_ipython``
    in it) and ``IPython.get_ipython()`` returns a shell whose compiler maps cell file
    names to ``In[N]``, as ipykernel's does."""
    shell = _FakeShell()
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    main = types.ModuleType("__main__")
    main.get_ipython = ipython.get_ipython  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    return vars(main), shell


def _run_cell(
    namespace: dict[str, Any], shell: _FakeShell, name: str, number: int, text: str
) -> None:
    """Run ``text`` as the kernel runs cell ``In[number]`` compiled as file ``name``."""
    linecache.cache[name] = (len(text), None, text.splitlines(keepends=True), name)
    shell.compile._filename_map[name] = number
    exec(compile(text, name, "exec"), namespace)


CELL = """
import votakvot

@votakvot.track()
def train(x):
    return x * 2

@votakvot.track()
def bad(x):
    raise ValueError(f"bad {x}")
"""


def test_the_notebook_path_is_found_where_front_ends_put_it(monkeypatch, tmp_path) -> None:
    """VS Code's ``__vsc_ipynb_file__`` first, then ipykernel's ``__session__``, then
    ``JPY_SESSION_NAME``; a console's session name is not a notebook."""
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert _notebook.notebook_path({}) is None
    monkeypatch.setenv("JPY_SESSION_NAME", "/work/Console 1-1234")  # a JupyterLab console
    assert _notebook.notebook_path({}) is None
    monkeypatch.setenv("JPY_SESSION_NAME", "/work/a.ipynb")
    assert _notebook.notebook_path({}) == "/work/a.ipynb"
    assert _notebook.notebook_path({"__session__": "/work/b.ipynb"}) == "/work/b.ipynb"
    assert (
        _notebook.notebook_path({"__vsc_ipynb_file__": "/c.ipynb", "__session__": "/b.ipynb"})
        == "/c.ipynb"
    )
    jupytext = tmp_path / "paired.py"  # a Jupytext notebook: a real file, not .ipynb
    jupytext.write_text("# %%\n")
    assert _notebook.notebook_path({"__session__": str(jupytext)}) == str(jupytext)
    assert _notebook.folder_name("/work/exp/Analysis v2.ipynb") == "Analysis v2"
    assert _notebook.folder_name("nb\\win.ipynb") == "win"


def test_a_notebook_function_is_named_after_its_notebook(root, kernel) -> None:
    """Two notebooks that each define ``train`` no longer share ``__main__/train``; the
    record names the notebook and the cell; ``function`` stays ``__main__.train`` (it
    is not importable under any other name)."""
    namespace, shell = kernel
    namespace["__session__"] = "/work/exp/analysis.ipynb"
    _run_cell(namespace, shell, "/tmp/ipykernel_1/111.py", 4, CELL)
    namespace["train"](1)
    namespace["__session__"] = "/work/exp/other.ipynb"  # the same code in another notebook
    _run_cell(namespace, shell, "/tmp/ipykernel_2/111.py", 7, CELL)
    namespace["train"](2)
    trials = sorted(votakvot.load_trials(str(root)).values(), key=lambda t: t.params.x)
    assert [t.tid.split("/")[:2] for t in trials] == [["analysis", "train"], ["other", "train"]]
    assert {t.data["function"] for t in trials} == {"__main__.train"}
    first, second = (t.data["source"] for t in trials)
    assert (first["notebook"], first["cell"]) == ("/work/exp/analysis.ipynb", 4)
    assert (second["notebook"], second["cell"]) == ("/work/exp/other.ipynb", 7)
    assert first["file"] == "/tmp/ipykernel_1/111.py"
    assert first["hash"] == second["hash"]  # same code, same hash


def test_without_a_known_notebook_the_folder_stays_main(root, kernel) -> None:
    """nbclient and papermill tell the kernel nothing: ``__main__/train``, and the record
    still says which cell (``In[N]``) defined it."""
    namespace, shell = kernel
    _run_cell(namespace, shell, "/tmp/ipykernel_1/222.py", 3, CELL)
    namespace["train"](1)
    (trial,) = votakvot.load_trials(str(root)).values()
    assert trial.tid.startswith("__main__/train/")
    assert trial.data["source"]["cell"] == 3
    assert "notebook" not in trial.data["source"]


def test_a_script_and_a_module_are_not_notebooks(root, kernel, tmp_path) -> None:
    """A function from a real file keeps its module's name and gets no cell fields, even
    in a kernel that knows its notebook."""
    namespace, _ = kernel
    namespace["__session__"] = "/work/exp/analysis.ipynb"
    path = tmp_path / "nbmod_xyz.py"
    path.write_text(CELL)
    spec = __import__("importlib.util").util.spec_from_file_location("nbmod_xyz", path)
    module = __import__("importlib.util").util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.train(1)
    (trial,) = votakvot.load_trials(str(root)).values()
    assert trial.tid.startswith("nbmod_xyz/train/")
    assert not {"notebook", "cell"} & set(trial.data["source"])


def test_the_recorded_traceback_starts_at_the_cell(root, kernel) -> None:
    """No votakvot frame, the cell named as the notebook shows it: ``Cell In[5]``."""
    namespace, shell = kernel
    namespace["__session__"] = "/work/exp/analysis.ipynb"
    _run_cell(namespace, shell, "/tmp/ipykernel_1/333.py", 5, CELL)
    with pytest.raises(ValueError, match="bad 1"):
        namespace["bad"](1)
    (trial,) = votakvot.load_trials(str(root)).values()
    lines = trial.data["traceback"].splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1] == '  File "Cell In[5]", line 10, in bad'
    assert lines[2].strip() == 'raise ValueError(f"bad {x}")'
    assert lines[-1] == "ValueError: bad 1"
    assert "votakvot" not in trial.data["traceback"]


def test_a_functions_hash_ignores_the_code_after_it_in_its_cell(root, kernel) -> None:
    """The same function in cells that differ after it (``train(1)``, ``train(2)``)
    has one hash: the text hashed is the function's lines, not the rest of the cell."""
    namespace, shell = kernel
    body = '@votakvot.track()\ndef train(x):\n    print(f"training x={x}")\n    return x\n'
    hashes = []
    for number, tail in enumerate(["train(1)\n", "train(2)\n" + "\n" * 40 + "y = 1\n"]):
        _run_cell(
            namespace | {"votakvot": votakvot},
            shell,
            f"/tmp/ipykernel_1/{number}.py",
            number,
            body + tail,
        )
    for trial in votakvot.load_trials(str(root)).values():
        hashes.append(trial.data["source"]["hash"])
    assert len(hashes) == 2 and hashes[0] == hashes[1]


def test_describe_outside_a_kernel_adds_nothing(monkeypatch) -> None:
    """A plain script never loads IPython: ``source`` has no cell fields."""
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    section = _source.describe(test_describe_outside_a_kernel_adds_nothing)
    assert section is not None and not {"notebook", "cell"} & set(section)
    assert _naming.default_prefix(_run_cell) == f"{_run_cell.__module__}/_run_cell"


# --- a real kernel ------------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()


SETUP = """
import subprocess
import votakvot
votakvot.init(path="results")

def git(*args):
    subprocess.run(["git", *args], check=True, capture_output=True, timeout=30)
"""
TRAIN_V1 = """
@votakvot.track()
def train(x):
    print(f"training x={x}")
    return x * 2
"""
TRAIN_V2 = TRAIN_V1.replace("x * 2", "x * 3")
FAIL = """
@votakvot.track()
def bad(x):
    raise ValueError(f"bad {x}")
bad(1)
"""


def test_a_notebook_run_by_nbclient(tmp_path: Path) -> None:
    """The issue's notebook: folder and record name the notebook, the same cell re-run
    keeps its hash and an edited one changes it, each call records the git state it ran
    with, output is captured (and still shown), a failing cell's traceback starts at it."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")

    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    _git(repo, "init", "-q")
    _git(repo, "config", "user.name", "me")
    _git(repo, "config", "user.email", "me@example.com")
    (repo / "model.py").write_text("LR = 0.1\n")
    (repo / ".gitignore").write_text("results/\n")
    _git(repo, "add", "model.py", ".gitignore")
    _git(repo, "commit", "-qm", "first")
    first = _git(repo, "rev-parse", "HEAD")

    cells = [
        SETUP,
        TRAIN_V1 + "train(1)",  # In[2]
        TRAIN_V1 + "train(2)",  # the same cell run again: the same code
        TRAIN_V2 + "train(3)",  # In[4]: the cell edited
        "with open('../model.py', 'a') as f:\n    f.write('LR = 0.2\\n')\ntrain(4)",
        "git('commit', '-qam', 'second')\ntrain(5)",
        FAIL,  # In[7]
    ]
    notebook = repo / "notebooks" / "analysis.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbformat.write(nb, notebook)
    _git(repo, "add", "notebooks/analysis.ipynb")
    _git(repo, "commit", "-qm", "the notebook")
    first = _git(repo, "rev-parse", "HEAD")

    # A kernel spec for this very interpreter, found through a temp JUPYTER_PATH.
    spec = tmp_path / "jupyter" / "kernels" / "votakvot-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "votakvot test", "language": "python"})
    )
    env = {
        **os.environ,
        "JUPYTER_PATH": str(tmp_path / "jupyter"),
        "JPY_SESSION_NAME": str(notebook),  # as Jupyter Server 2 does
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    old_path = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = env["JUPYTER_PATH"]  # the client looks the spec up here
    try:
        client = nbclient.NotebookClient(
            nb,
            kernel_name="votakvot-test",
            timeout=60,
            startup_timeout=60,
            allow_errors=True,
            resources={"metadata": {"path": str(notebook.parent)}},
        )
        client.execute(env=env)  # shuts the kernel down when done, or on an error
    finally:
        if old_path is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old_path

    errors = [
        (i, o.get("ename"), o.get("evalue"))
        for i, cell in enumerate(nb.cells)
        for o in cell.outputs
        if o.output_type == "error"
    ]
    assert errors == [(6, "ValueError", "bad 1")], errors
    shown = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert "training x=1" in shown  # capture leaves the notebook's display alone

    trials = votakvot.load_trials(str(notebook.parent / "results"))
    assert len(trials) == 6
    runs = sorted(
        (t for t in trials.values() if t.data["function"] == "__main__.train"),
        key=lambda t: t.params.x,
    )
    assert [t.params.x for t in runs] == [1, 2, 3, 4, 5]

    # Named after the notebook, which the record names (relative to the git top-level).
    for trial in trials.values():
        assert trial.tid.split("/")[0] == "analysis", trial.tid
        assert trial.data["source"]["notebook"] == "notebooks/analysis.ipynb"
    assert [t.data["source"]["cell"] for t in runs] == [2, 3, 4, 4, 4]

    # Source identity: the same cell re-run keeps its hash, an edited one changes it.
    hashes = [t.data["source"]["hash"] for t in runs]
    assert hashes[0] == hashes[1]
    assert hashes[2] != hashes[0]
    assert hashes[2] == hashes[3] == hashes[4]

    # Git state as each call ran: clean, dirty after the edit, clean at the new commit.
    states = [(t.meta.git.commit, t.meta.git.dirty) for t in runs]
    second = _git(repo, "rev-parse", "HEAD")
    assert second != first
    assert states == [(first, False)] * 3 + [(first, True), (second, False)]
    assert runs[3].meta.git.tree == runs[4].meta.git.tree != runs[2].meta.git.tree

    # Captured output of a cell's call.
    assert runs[0].output == "training x=1\n"
    assert runs[4].output == "training x=5\n"

    # The failing cell: failed, and the traceback starts at the cell.
    (failed,) = (t for t in trials.values() if t.data["function"] == "__main__.bad")
    assert failed.state == "failed"
    assert failed.data["error"] == {"type": "ValueError", "message": "bad 1"}
    lines = failed.data["traceback"].splitlines()
    # Line 3 of the cell: IPython drops a cell's leading blank lines before compiling it.
    assert lines[:2] == [
        "Traceback (most recent call last):",
        '  File "Cell In[7]", line 3, in bad',
    ]
    assert lines[2].strip() == 'raise ValueError(f"bad {x}")'
    assert "votakvot" not in failed.data["traceback"]
    assert "ipykernel" not in failed.data["traceback"]
    assert "IPython" not in failed.data["traceback"]
