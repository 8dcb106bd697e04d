"""Metadata providers: defaults, git present or absent, custom and failing providers."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest
import yaml

import votakvot
from votakvot import meta
from votakvot._config import get_config, set_config


@pytest.fixture
def restore_config():
    previous = get_config()
    yield
    set_config(previous)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()



def test_metadata_providers_is_the_same_dict() -> None:
    """``votakvot.metadata_providers`` and ``votakvot.meta.providers`` are one object."""
    assert votakvot.metadata_providers is votakvot.meta.providers
    expected = {"git.commit", "git.branch", "git.tree", "system.node", "python.version"}
    assert expected <= set(meta.providers)


def test_git_state_in_a_repo(tmp_path: Path, monkeypatch) -> None:
    """Branch, commit, describe, dirty and the work-tree tree-ish; the index is untouched."""
    if subprocess.run(["git", "--version"], capture_output=True).returncode != 0:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    (repo / "a.txt").write_text("one")
    _git(repo, "add", "a.txt")
    _git(repo, "commit", "-qm", "first")
    monkeypatch.chdir(repo)
    state = meta._git_state_uncached()
    assert state["branch"] == "main"
    assert state["commit"] == _git(repo, "rev-parse", "HEAD")
    assert state["dirty"] is False
    assert state["tree"] == _git(repo, "rev-parse", "HEAD^{tree}")

    (repo / "a.txt").write_text("two")  # an unstaged change to a tracked file
    index_before = (repo / ".git" / "index").read_bytes()
    state = meta._git_state_uncached()
    assert state["dirty"] is True
    assert state["describe"].endswith("-dirty")
    assert state["tree"] != _git(repo, "rev-parse", "HEAD^{tree}")
    assert (repo / ".git" / "index").read_bytes() == index_before
    assert _git(repo, "status", "--porcelain") == "M a.txt"


def test_outside_a_repo_git_is_simply_absent(tmp_path: Path, monkeypatch, capfd) -> None:
    """No git section, no error, nothing on stderr."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert meta._git_state_uncached() == {}
    providers = {k: v for k, v in meta.providers.items() if not k.startswith("git.")}
    providers["git.commit"] = lambda: meta._git_state_uncached().get("commit")
    assert "git" not in meta.collect(providers)
    assert capfd.readouterr().err == ""


def test_readme_custom_providers(tmp_path: Path, restore_config) -> None:
    """The README's example: add providers, drop git, pass them to ``init``."""
    my_providers = dict(votakvot.meta.providers)
    my_providers["k8s.version"] = lambda: "v1.30"
    my_providers["python.pip_freeze"] = lambda: "pyyaml==6"
    my_providers = {k: v for k, v in my_providers.items() if not k.startswith("git.")}
    votakvot.init(path=str(tmp_path), meta_providers=my_providers)

    @votakvot.track()
    def f():
        return 1

    f()
    (path,) = tmp_path.rglob("votakvot.yaml")
    recorded = yaml.safe_load(path.read_text())["meta"]
    assert recorded["k8s"] == {"version": "v1.30"}
    assert recorded["python"]["pip_freeze"] == "pyyaml==6"
    assert "git" not in recorded


def test_failing_provider_is_skipped_with_one_warning(caplog) -> None:
    """A provider that raises is left out and named once, however often it is called."""

    def broken():
        raise RuntimeError("kubectl not found")

    providers = {"k8s.version": broken, "python.version": meta.providers["python.version"]}
    with caplog.at_level(logging.WARNING, logger="votakvot"):
        first = meta.collect(providers)
        meta.collect(providers)
    assert "k8s" not in first and first["python"]["version"]
    warnings = [r for r in caplog.records if "k8s.version" in r.getMessage()]
    assert len(warnings) == 1
    assert "kubectl not found" in warnings[0].getMessage()


def test_process_constant_providers_are_computed_once() -> None:
    """Built-in providers of facts that cannot change are cached per process."""
    calls = []

    @meta.per_process
    def counted():
        calls.append(1)
        return 42

    assert counted() == counted() == 42
    assert calls == [1]
