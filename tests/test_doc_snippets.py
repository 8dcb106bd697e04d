"""Every code block of the README and docs/*.md runs as written, pasted into a fresh folder.

How each block is run is in ``tests/docs_snippets.py``. HTTP requests of the blocks
(the ``votakvot-ab`` examples call ``http://example.com/``) go through a proxy on
127.0.0.1 that answers 200, so the examples run word for word without a network.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from docs_snippets import REPO, Snippet, all_snippets
from servers import serve_http_200

SNIPPETS = all_snippets()
RUN = [s for s in SNIPPETS if s.kind and not s.skip]
BY_NAME = {(s.doc, s.name): s for s in SNIPPETS if s.name}
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def proxy() -> Iterator[str]:
    """A forward proxy that answers every request itself."""
    with serve_http_200() as url:
        yield url


def _env(proxy: str, home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy") and not k.startswith(("VOTAKVOT", "PYTEST"))
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(home),
        http_proxy=proxy,
        HTTP_PROXY=proxy,
        no_proxy="",
        NO_PROXY="",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def _run(snippet: Snippet, cwd: Path, env: dict[str, str]) -> None:
    if snippet.kind == "python":
        name = snippet.file_name or "snippet.py"
        (cwd / name).write_text(snippet.whole_code(), encoding="utf-8")
        commands = [[sys.executable, name]]
    else:
        commands = [["bash", "-c", line] for line in snippet.commands()]
    for command in commands:
        out = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )
        assert out.returncode == 0, (
            f"{snippet.id}: {command[-1]!r} exited {out.returncode}\n"
            f"--- stdout\n{out.stdout[-3000:]}\n--- stderr\n{out.stderr[-3000:]}"
        )


def _prerequisites(snippet: Snippet) -> list[Snippet]:
    needed: list[Snippet] = []
    for name in snippet.after:
        before = BY_NAME.get((snippet.doc, name))
        assert before is not None, f"{snippet.id}: after={name}: no block named so"
        needed.extend(_prerequisites(before))
        needed.append(before)
    return needed


@pytest.mark.parametrize("snippet", RUN, ids=[s.id for s in RUN])
def test_snippet_runs(snippet: Snippet, tmp_path: Path, proxy: str) -> None:
    """The block (after the blocks it names) exits 0 in an empty folder."""
    work = tmp_path / "work"
    work.mkdir()
    env = _env(proxy, tmp_path / "home")
    for before in _prerequisites(snippet):
        _run(before, work, env)
    _run(snippet, work, env)


def test_every_skip_says_why() -> None:
    """A block left out of the runs names its reason, and few are left out."""
    skipped = [s for s in SNIPPETS if s.kind and s.skip]
    assert all(len(s.skip or "") > 8 for s in skipped), [s.id for s in skipped]
    assert len(skipped) <= len(RUN) // 3, [s.id for s in skipped]


def test_readme_yaml_sample_has_the_fields_of_a_real_record(tmp_path: Path, proxy: str) -> None:
    """The README's sample ``votakvot.yaml`` lists the top-level fields, in order, that the
    quick start's records really have, and the tid shape a script produces."""
    readme = [s for s in SNIPPETS if s.doc == REPO / "README.md"]
    sample = next(s for s in readme if s.lang == "yaml" and "tid:" in s.code)
    quickstart = BY_NAME[(REPO / "README.md", "quickstart")]
    work = tmp_path / "work"
    work.mkdir()
    _run(quickstart, work, _env(proxy, tmp_path / "home"))
    record = next((work / "my-results").rglob("votakvot.yaml"))
    real = yaml.safe_load(record.read_text())
    shown = yaml.safe_load(sample.code)
    assert list(shown) == list(real)
    assert str(shown["tid"]).split("/")[:2] == str(real["tid"]).split("/")[:2]
