"""``pip install votakvot`` without extras: the library and the ``votakvot`` command work,
and the dashboard and ab say in one line which extra to install.

Each test runs in a fresh interpreter whose imports of the extras' modules fail, as
they would where the extras are not installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from votakvot.extras import EXTRAS, missing

OPTIONAL = ("textual", "textual_plotext", "plotext", "watchdog", "gevent")

BLOCKER = """\
import sys

class _NotInstalled:
    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)")
        return None

sys.meta_path.insert(0, _NotInstalled({blocked!r}))
"""


def run_without(blocked: tuple[str, ...], code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter in which ``blocked`` modules cannot be imported."""
    program = BLOCKER.format(blocked=list(blocked)) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_library_and_cli_work_without_extras(tmp_path: Path) -> None:
    """Track a call, read it back, and list it with ``votakvot report``."""
    out = run_without(
        OPTIONAL,
        f"""
        import votakvot
        from votakvot.cli import main

        votakvot.init(path={str(tmp_path / "r")!r})

        @votakvot.track()
        def f(x):
            votakvot.meter(step=1, loss=0.5)
            return x * 2

        assert f(21) == 42
        report = votakvot.load_report({str(tmp_path / "r")!r})
        assert list(report["result"]) == [42], report
        assert main(["report", {str(tmp_path / "r")!r}]) == 0
        blocked = [m for m in {list(OPTIONAL)!r} if m in sys.modules]
        assert not blocked, blocked
        print("ok")
        """,
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_tui_without_its_extra_says_what_to_install(tmp_path: Path) -> None:
    out = run_without(
        OPTIONAL,
        "from votakvot_tui.__main__ import main\nsys.exit(main(['.']))\n",
        tmp_path,
    )
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "votakvot-tui needs the tui extra: pip install 'votakvot[tui]'"
    ]


def test_ab_gevent_without_gevent_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    out = run_without(
        ("gevent",),
        "from votakvot.ab.cli import main\nsys.exit(main(['--gevent', '-n', '1', 'm.f']))\n",
        tmp_path,
    )
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "votakvot-ab --gevent needs the ab extra: pip install 'votakvot[ab]'"
    ]
    assert not (tmp_path / "ab").exists()


def test_ab_without_numpy_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    out = run_without(
        ("numpy",),
        "from votakvot.ab.cli import main\nsys.exit(main(['-n', '1', 'm.f']))\n",
        tmp_path,
    )
    assert out.returncode == 2
    assert out.stderr.splitlines() == ["votakvot-ab needs the ab extra: pip install 'votakvot[ab]'"]


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_the_test_environment_has_every_extra(extra: str) -> None:
    """``make test`` installs ``[all]``: nothing here is skipped for a missing extra."""
    assert missing(EXTRAS[extra]) == []
