"""The ``source`` section: which code a trial ran, told apart even where git cannot."""

from __future__ import annotations

import functools
import json
import linecache
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import votakvot
from votakvot import _source
from votakvot._config import get_config, set_config


@pytest.fixture
def root(tmp_path: Path):
    previous = get_config()
    votakvot.init(path=str(tmp_path / "results"), capture="none")
    yield tmp_path / "results"
    set_config(previous)


def _cell(name: str, text: str, *, with_source: bool = True) -> dict:
    """Run ``text`` the way IPython runs a cell: compiled under a fake file name that
    linecache knows (or, ``with_source=False``, like ``exec`` of a string)."""
    if with_source:
        lines = text.splitlines(keepends=True)
        linecache.cache[name] = (len(text), None, lines, name)
    namespace: dict = {"votakvot": votakvot}
    exec(compile(text, name, "exec"), namespace)
    return namespace


CELL_V1 = """
@votakvot.track(name="cell/train")
def train(lr):
    return lr * 2
"""
CELL_V2 = CELL_V1.replace("lr * 2", "lr * 3")


def test_a_redefined_function_gets_a_new_hash_and_the_same_code_the_same(root: Path) -> None:
    """Re-running a notebook cell with an edit: two hashes; re-running it unchanged: one."""
    _cell("<ipython-input-1-aaa>", CELL_V1)["train"](1)
    _cell("<ipython-input-2-bbb>", CELL_V2)["train"](1)
    _cell("<ipython-input-3-ccc>", CELL_V1)["train"](1)
    trials = sorted(votakvot.load_trials(str(root)).values(), key=lambda t: t.at.created)
    sources = [t.data["source"] for t in trials]
    assert [s["hash_of"] for s in sources] == ["text-and-code"] * 3
    assert sources[0]["hash"] != sources[1]["hash"]
    assert sources[0]["hash"] == sources[2]["hash"]
    assert sources[1]["file"] == "<ipython-input-2-bbb>"
    assert sources[1]["line"] == 2  # the decorator's line, as Python counts it


def test_an_ipykernel_cell_file_that_is_not_on_disk(root: Path) -> None:
    """ipykernel names cells like files that do not exist: linecache still has them."""
    name = str(root.parent / "ipykernel_4242" / "1234567.py")
    _cell(name, CELL_V1)["train"](1)
    (trial,) = votakvot.load_trials(str(root)).values()
    assert trial.data["source"]["file"] == name
    assert trial.data["source"]["hash_of"] == "text-and-code"


def test_exec_without_source_hashes_the_code(root: Path) -> None:
    """No text anywhere: the compiled code still tells two versions apart."""
    one = _cell("<string>", CELL_V1, with_source=False)["train"]
    two = _cell("<string>", CELL_V2, with_source=False)["train"]
    again = _cell("<string>", CELL_V1, with_source=False)["train"]
    described = [_source.describe(f) for f in (one, two, again)]
    assert all(d is not None and d["hash_of"] == "code" for d in described)
    assert described[0]["hash"] != described[1]["hash"]  # type: ignore[index]
    assert described[0]["hash"] == described[2]["hash"]  # type: ignore[index]
    # A constant only (same bytecode, another number) is a different code too.
    three = _cell("<string>", CELL_V1.replace("2", "2.5"), with_source=False)["train"]
    assert _source.describe(three)["hash"] != described[0]["hash"]  # type: ignore[index]


MODULE = '''
import votakvot


def plain(x):
    """A docstring."""
    if x in {"a", "b", "c", "d"}:  # a frozenset constant: its order follows the hash seed
        return (
            x,
            1,
        )
    return None


@votakvot.track()
def tracked(x):
    return plain(x)


class Task(votakvot.resumable_fn):
    steps = 3

    def init(self, n):
        self.n = n

    def loop(self):
        return self.n
'''

PRINT_SOURCE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import mod
from votakvot import _source
print(json.dumps({n: _source.describe(getattr(mod, n)) for n in ("plain", "tracked", "Task")}))
"""


def _describe_in_process(folder: Path, seed: str) -> dict:
    env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run(
        [sys.executable, "-c", PRINT_SOURCE, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_file_line_relative_to_the_repo_and_stable_across_processes(tmp_path: Path) -> None:
    """``file`` is relative to the git top-level; the hash is the same in every process
    (whatever the hash seed) until the code changes."""
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "src" / "mod.py").write_text(MODULE)
    first = _describe_in_process(repo / "src", "1")
    second = _describe_in_process(repo / "src", "2")
    assert first == second
    assert first["plain"]["file"] == os.path.join("src", "mod.py")
    assert first["plain"]["line"] == 5
    assert first["tracked"]["line"] == 15  # unwrapped: the function, not votakvot's wrapper
    assert first["tracked"]["hash"] != first["plain"]["hash"]
    assert first["Task"]["line"] == 20 and first["Task"]["hash_of"] == "text-and-code"

    (repo / "src" / "mod.py").write_text(MODULE.replace("steps = 3", "steps = 4"))
    edited = _describe_in_process(repo / "src", "1")
    assert edited["Task"]["hash"] != first["Task"]["hash"]
    assert edited["plain"] == first["plain"]

    outside = tmp_path / "loose"
    outside.mkdir()
    (outside / "mod.py").write_text(MODULE)
    loose = _describe_in_process(outside, "1")
    assert loose["plain"]["file"] == str(outside / "mod.py")
    assert loose["plain"]["hash"] == first["plain"]["hash"]


def test_an_edit_after_import_does_not_change_what_was_described(tmp_path: Path) -> None:
    """The text is the one of the code that runs: read once, when first described."""
    (tmp_path / "late.py").write_text("def f(x):\n    return x + 1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import late  # type: ignore[import-not-found]

        before = _source.describe(late.f)
        assert before is not None and before["hash_of"] == "text-and-code"
        (tmp_path / "late.py").write_text("def f(x):\n    return x + 100\n")
        linecache.checkcache(str(tmp_path / "late.py"))
        assert _source.describe(late.f) == before
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("late", None)


def _plain(a, b=1):
    return a + b


class _Callable:
    def __call__(self, x):
        return x


def test_wrappers_partials_methods_objects_and_builtins() -> None:
    """What runs is described; builtins and oddities give None, never an exception."""
    base = _source.describe(_plain)
    assert base is not None and base["file"].endswith("test_source.py")

    @functools.wraps(_plain)
    def wrapper(*args, **kwargs):
        return _plain(*args, **kwargs)

    assert _source.describe(wrapper) == base
    assert _source.describe(functools.partial(_plain, 1)) == base
    assert _source.describe(votakvot.track()(_plain)) == base

    by_object = _source.describe(_Callable())
    by_class = _source.describe(_Callable)
    assert by_object == by_class and by_object is not None
    assert _source.describe(_Callable().__call__)["hash"] != base["hash"]  # type: ignore[index]

    class Weird:
        @property
        def __code__(self):
            raise RuntimeError("no code here")

        def __call__(self):
            return 1

    for odd in (len, print, dict.get, str.upper, object(), 42, None, Weird()):
        _source.describe(odd)  # type: ignore[arg-type]
    assert _source.describe(len) is None


class Countdown(votakvot.resumable_fn):
    def init(self, n):
        self.n = n

    def loop(self):
        self.n -= 1
        if self.n <= 0:
            return "done"
        return None


def test_run_and_resumable_record_the_source(root: Path) -> None:
    """``votakvot.run`` records the same section as ``@track``, resumable classes too."""
    trial = votakvot.run("sweep/a", _plain, a=1)
    assert trial.data["source"] == _source.describe(_plain)
    assert list(trial.data)[list(trial.data).index("function") + 1] == "source"
    task = votakvot.run("sweep/countdown", Countdown, n=2)
    assert task.data["source"] == _source.describe(Countdown)
    assert task.data["source"]["file"].endswith("test_source.py")
    assert task.data["source"]["line"] == Countdown.init.__code__.co_firstlineno - 1


def test_source_snippet_of_a_script(tmp_path: Path) -> None:
    """A script run twice with an edit in between: two hashes, in the trials' records."""
    script = tmp_path / "exp.py"
    code = textwrap.dedent(
        """
        import sys, votakvot
        votakvot.init(path=sys.argv[1], capture="none")

        @votakvot.track()
        def exp(n):
            return n * 2

        exp(1)
        """
    )
    for version in (code, code.replace("n * 2", "n * 2 + 0")):
        script.write_text(version)
        subprocess.run([sys.executable, str(script), str(tmp_path / "r")], check=True)
    trials = votakvot.load_trials(str(tmp_path / "r")).values()
    assert len({t.data["source"]["hash"] for t in trials}) == 2
    assert {t.data["source"]["line"] for t in trials} == {5}
