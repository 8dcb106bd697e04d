"""Metadata recorded with every trial under ``meta``.

``providers`` maps a dotted key (``git.commit`` lands at ``meta.git.commit``) to a
callable returning its value. Edit a copy and pass it to ``votakvot.init(meta_providers=...)``,
or change this dict in place. A provider returning ``None`` is left out; one that
raises is skipped with one warning naming it.

Built-in providers describe things that cannot change while a process runs (the
interpreter, the machine, the code it imported at start), so they are computed
once per process (again after a fork); custom providers are called for every trial.
The git state is read when the first trial starts: that is the code this process runs.
"""

from __future__ import annotations

import getpass
import logging
import os
import platform
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["collect", "per_process", "providers"]

logger = logging.getLogger("votakvot")

Provider = Callable[[], Any]


def per_process(fn: Provider) -> Provider:
    """Cache a provider's value for the life of the current process (recomputed after fork)."""
    cache: dict[int, Any] = {}
    lock = threading.Lock()

    def cached() -> Any:
        pid = os.getpid()
        try:
            return cache[pid]
        except KeyError:
            with lock:
                if pid not in cache:
                    cache.clear()
                    cache[pid] = fn()
                return cache[pid]

    cached.__name__ = fn.__name__
    cached.__qualname__ = fn.__qualname__
    cached.__doc__ = fn.__doc__
    cached.per_process = True  # type: ignore[attr-defined]
    return cached


def _git(*args: str, env: dict[str, str] | None = None) -> str | None:
    # GIT_OPTIONAL_LOCKS=0: reading state must not even refresh the user's index.
    env = dict(env or os.environ, GIT_OPTIONAL_LOCKS="0")
    try:
        out = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            timeout=10,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _git_state_uncached() -> dict[str, Any]:
    """All git facts in one go; empty outside a work tree (or without git)."""
    top = _git("rev-parse", "--show-toplevel")
    if not top:
        return {}
    state: dict[str, Any] = {
        "branch": _git("rev-parse", "--abbrev-ref", "HEAD"),
        "commit": _git("rev-parse", "HEAD"),
    }
    status = _git("status", "--porcelain", "--untracked-files=no")
    state["dirty"] = None if status is None else bool(status)
    # Not `describe --dirty`: that refreshes (rewrites) the user's index.
    describe = _git("describe", "--always", "--tags")
    state["describe"] = f"{describe}-dirty" if describe and state["dirty"] else describe
    state["tree"] = _worktree_tree(top)
    return state


_git_state = per_process(_git_state_uncached)


def _worktree_tree(top: str) -> str | None:
    """The tree of the index plus unstaged changes to tracked files.

    Works on a copy of the index (``GIT_INDEX_FILE``), so the user's staging area
    is never touched.
    """
    index = _git("rev-parse", "--git-path", "index")
    if not index:
        return None
    index_path = index if os.path.isabs(index) else os.path.join(os.getcwd(), index)
    fd, tmp = tempfile.mkstemp(prefix="votakvot-index-")
    os.close(fd)
    try:
        try:
            with open(index_path, "rb") as src, open(tmp, "wb") as dst:
                dst.write(src.read())
        except FileNotFoundError:
            os.unlink(tmp)  # a repo without commits: git makes a fresh index
        env = dict(os.environ, GIT_INDEX_FILE=tmp)
        if _git("-C", top, "add", "-u", env=env) is None:
            return None
        return _git("-C", top, "write-tree", env=env)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _git_field(name: str) -> Provider:
    def provider() -> Any:
        return _git_state().get(name)

    provider.__name__ = f"git_{name}"
    provider.per_process = True  # type: ignore[attr-defined]
    return provider


@per_process
def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


@per_process
def _virtualenv() -> str | None:
    if sys.prefix != sys.base_prefix:
        return sys.prefix
    return os.environ.get("VIRTUAL_ENV") or os.environ.get("CONDA_PREFIX")


def _const(fn: Provider) -> Provider:
    return per_process(fn)


providers: dict[str, Provider] = {
    "git.branch": _git_field("branch"),
    "git.commit": _git_field("commit"),
    "git.describe": _git_field("describe"),
    "git.dirty": _git_field("dirty"),
    "git.tree": _git_field("tree"),
    "system.node": _const(platform.node),
    "system.machine": _const(platform.machine),
    "system.platform": _const(platform.platform),
    "system.user": _user,
    "system.cwd": os.getcwd,
    "python.version": _const(platform.python_version),
    "python.implementation": _const(platform.python_implementation),
    "python.executable": _const(lambda: sys.executable),
    "python.virtualenv": _virtualenv,
    "process.pid": os.getpid,
}


def collect(selected: dict[str, Provider] | None = None) -> dict[str, Any]:
    """Call each provider and nest the values by their dotted keys."""
    meta: dict[str, Any] = {}
    for key, provider in (providers if selected is None else selected).items():
        try:
            value = provider()
        except Exception as exc:
            _warn_once(key, exc)
            continue
        if value is None:
            continue
        node = meta
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return meta


_warned: set[str] = set()


def _warn_once(key: str, exc: BaseException) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning(
            "votakvot: meta provider %r raised %s: %s; its value is left out of trials",
            key,
            type(exc).__name__,
            exc,
        )
