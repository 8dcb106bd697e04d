"""Metadata recorded with every trial under ``meta``.

``providers`` maps a dotted key (``git.commit`` lands at ``meta.git.commit``) to a
callable returning its value. Edit a copy and pass it to ``votakvot.init(meta_providers=...)``,
or change this dict in place. A provider returning ``None`` is left out; one that
raises is skipped with one warning naming it.

Facts that cannot change while a process runs (the interpreter, the machine) are
computed once per process (again after a fork). Facts that can are read for every
trial: the cwd, the host name, the user, the pid, and the git state of the code. In a
notebook or REPL session the code changes between trials, so git is re-read whenever
a file it depends on has changed (see ``GitWatch``): the cwd, ``HEAD``, the ref it
points to, ``packed-refs``, the index, and the tracked files. Custom providers are
called for every trial.
"""

from __future__ import annotations

import contextlib
import contextvars
import getpass
import logging
import os
import platform
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["GitWatch", "collect", "per_process", "pinned", "providers", "submitted"]

logger = logging.getLogger("votakvot")

Provider = Callable[[], Any]


class _Process:
    """This process's pid and generation, refreshed in a forked child: a per-process
    cache compares one integer instead of asking the kernel for the pid every trial."""

    pid = os.getpid()
    generation = 0

    @classmethod
    def after_fork(cls) -> None:
        cls.pid = os.getpid()
        cls.generation += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_Process.after_fork)


def _pid() -> int:
    """The pid of this process (``os.getpid()`` without the system call)."""
    return _Process.pid


def per_process(fn: Provider) -> Provider:
    """Cache a provider's value for the life of the current process (recomputed after fork)."""
    return _PerProcess(fn)


class _PerProcess:
    """A provider whose value is computed once per process.

    A class, not a closure, so providers pickle (by reference to ``fn``) and reach
    spawned and Dask workers with ``init(meta_providers=...)``.
    """

    per_process = True

    def __init__(self, fn: Provider) -> None:
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "provider")
        self.__qualname__ = getattr(fn, "__qualname__", self.__name__)
        self.__module__ = getattr(fn, "__module__", __name__)
        self.__doc__ = fn.__doc__
        self._cache: dict[int, Any] = {}
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        generation = _Process.generation  # changes in a forked child
        try:
            return self._cache[generation]
        except KeyError:
            with self._lock:
                if generation not in self._cache:
                    self._cache.clear()
                    self._cache[generation] = self.fn()
                return self._cache[generation]

    def __reduce__(self) -> Any:
        # Decorated at a module's top level, the name now means this object: by reference.
        module = sys.modules.get(self.__module__)
        if module is not None and getattr(module, self.__qualname__, None) is self:
            return self.__qualname__
        return _PerProcess, (self.fn,)

    def __repr__(self) -> str:
        return f"<per-process provider {self.__qualname__}>"


def _git(*args: str, env: dict[str, str] | None = None) -> str | None:
    # GIT_OPTIONAL_LOCKS=0: reading state must not even refresh the user's index.
    env = dict(env or os.environ, GIT_OPTIONAL_LOCKS="0")
    try:
        out = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            errors="surrogateescape",  # file names need not be UTF-8
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
                st = os.fstat(src.fileno())
            # The copy keeps the index's mtime: git re-reads a file changed in the same
            # second as the index ("racily clean"); a newer copy would make git trust
            # the stat of a same-size edit and miss it.
            os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        except FileNotFoundError:
            os.unlink(tmp)  # a repo without commits: git makes a fresh index
        env = dict(os.environ, GIT_INDEX_FILE=tmp)
        if _git("-C", top, "add", "-u", env=env) is None:
            return None
        return _git("-C", top, "write-tree", env=env)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --- following the git state within one process ----------------------------------

_GIT_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_CEILING_DIRECTORIES",
)
"""Environment variables that change which repository or index git reads."""

Stat = tuple[int, int, int, int] | None


def _stat(path: str) -> Stat:
    """What changes when a file is written, replaced, chmod-ed or removed."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


def _stats(paths: list[str]) -> list[Stat]:
    return [_stat(p) for p in paths]


def _env_reader() -> Callable[[], tuple[str | bytes | None, ...]]:
    """Reads git's variables: straight from ``os.environ``'s store when it has one
    (``os.environ.get`` encodes every key first: 1 us each, on every trial)."""
    try:
        data = os.environ._data  # type: ignore[attr-defined]
        keys = [os.environ.encodekey(name) for name in _GIT_ENV]  # type: ignore[attr-defined]
    except AttributeError:
        return lambda: tuple(os.environ.get(name) for name in _GIT_ENV)
    return lambda: tuple(map(data.get, keys))


_git_env = _env_reader()

if os.access in os.supports_follow_symlinks:

    def _exists(path: str) -> bool:
        # No exception raised (a few us each) for the usual answer: "not here".
        return os.access(path, os.F_OK, follow_symlinks=False)

else:  # pragma: no cover - Windows
    _exists = os.path.lexists


def _where(dotgit_dirs: frozenset[str] = frozenset()) -> tuple[Any, ...]:
    """Which repository git would read from here: cwd, git's env, the nearest ``.git``.

    A ``.git`` folder is named by its path only (git rewrites files in it all the
    time); a ``.git`` file (worktrees, submodules) by its stat too, as it points
    elsewhere. ``dotgit_dirs``: ``.git`` paths known to be folders, not stat-ed again
    (one syscall less per trial; a folder turned into a file moves the ``HEAD`` that
    is watched anyway).
    """
    try:
        cwd = os.getcwd()
    except OSError:  # the cwd was removed: git cannot run there either
        return (None,)
    env = _git_env()
    candidates = _dotgit_candidates.get(cwd)
    if candidates is None:
        if len(_dotgit_candidates) > 256:
            _dotgit_candidates.clear()
        candidates = _dotgit_candidates[cwd] = _candidates(cwd)
    for dotgit in candidates:
        if _exists(dotgit):
            if dotgit in dotgit_dirs:
                return (cwd, env, dotgit)
            try:
                st = os.lstat(dotgit)
            except OSError:
                return (cwd, env, dotgit, None)
            if stat.S_ISDIR(st.st_mode):
                return (cwd, env, dotgit)
            return (cwd, env, dotgit, (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino))
    return (cwd, env, None)


_dotgit_candidates: dict[str, tuple[str, ...]] = {}
"""Per cwd, the ``.git`` paths to look for, nearest first: the walk up made once."""


def _candidates(cwd: str) -> tuple[str, ...]:
    found = []
    folder = cwd
    while True:
        found.append(os.path.join(folder, ".git"))
        parent = os.path.dirname(folder)
        if parent == folder:
            return tuple(found)
        folder = parent


class GitWatch:
    """The git state of the code, re-read only when something git reads may have changed.

    Every trial checks, in this order, and stops at the first difference:

    1. where git would look: the cwd, ``GIT_DIR`` and friends, the nearest ``.git``
       above the cwd (a ``chdir`` into another repository, or out of any);
    2. the stat of ``HEAD``, of the ref it points to, of ``packed-refs``, of the
       ``refs/tags`` folder and of the index (commit, checkout, branch, reset,
       ``git add``, a new tag);
    3. the stat of every tracked file (an edit, even unstaged). With at most
       ``scan_every_trial_files`` tracked files this is done for every trial;
       with more, at most once per ``scan_cost_factor`` times what the last scan
       cost, so the scan stays under 1% of a tight loop's time and an edit made
       earlier than that before a trial is always seen.

    A difference re-reads everything with ``git`` (tens of ms); no difference costs
    a few stat calls and no subprocess. All stats are taken before git runs, so a
    change made while git runs is seen by the next trial.
    """

    scan_every_trial_files = 8
    """Repositories with at most this many tracked files are scanned for every trial."""
    scan_cost_factor = 100.0
    """Larger ones: the scan runs again after this many times its last cost."""

    def __init__(self, compute: Callable[[], dict[str, Any]] = _git_state_uncached) -> None:
        self._compute = compute
        self._lock = threading.Lock()
        self._where: tuple[Any, ...] | None = None
        self._dotgit_dirs: frozenset[str] = frozenset()
        self._repo_paths: list[str] = []
        self._repo_stats: list[Stat] = []
        self._files: list[str] = []
        self._files_stats: list[Stat] = []
        self._scanned_at = 0.0
        self._scan_cost = 0.0
        self._state: dict[str, Any] = {}
        self.cwd: str | None = None
        """The cwd the last check read (``system.cwd`` of the same trial reuses it)."""
        self.refreshes = 0
        """How many times git was run (for tests and benchmarks)."""
        self.scans = 0
        """How many times the tracked files were stat-ed without running git."""

    def state(self) -> dict[str, Any]:
        """The git state now: the same dict as last time unless something changed."""
        with self._lock:
            where = _where(self._dotgit_dirs)
            self.cwd = where[0]
            if where != self._where:
                return self._refresh(where)
            if _stats(self._repo_paths) != self._repo_stats:
                return self._refresh(where)
            if self._files and self._scan_due():
                t0 = time.perf_counter()
                changed = _stats(self._files) != self._files_stats
                self._scanned_at = time.perf_counter()
                self._scan_cost = self._scanned_at - t0
                self.scans += 1
                if changed:
                    return self._refresh(where)
            return self._state

    def _scan_due(self) -> bool:
        if len(self._files) <= self.scan_every_trial_files:
            return True
        return time.perf_counter() - self._scanned_at >= self.scan_cost_factor * self._scan_cost

    def _refresh(self, where: tuple[Any, ...]) -> dict[str, Any]:
        self.refreshes += 1
        try:
            return self._reread(where)
        except BaseException:
            self._where = None  # nothing half-read is trusted: the next trial reads again
            raise

    def _reread(self, where: tuple[Any, ...]) -> dict[str, Any]:
        self._where = where
        # The key of a .git folder is the same with or without this shortcut.
        self._dotgit_dirs = frozenset([where[2]]) if len(where) == 3 and where[2] else frozenset()
        self._repo_paths, self._repo_stats, self._files, self._files_stats = [], [], [], []
        self._state = {}
        if where[0] is None:
            return self._state
        paths = _git(
            "rev-parse",
            "--show-toplevel",
            "--absolute-git-dir",
            "--git-common-dir",
            "--git-path",
            "index",
        )
        if paths is None or len(paths.splitlines()) != 4:
            # Not a work tree (or no git): nothing to watch until `where` changes.
            self._state = self._compute()
            return self._state
        cwd = where[0]
        top, gitdir, common, index = (os.path.join(cwd, p) for p in paths.splitlines())
        head = os.path.join(gitdir, "HEAD")
        head_stat = _stat(head)  # before reading what it points to
        ref = _git("symbolic-ref", "-q", "HEAD")
        # refs/tags: a new tag (a file in that folder) changes `describe`.
        repo_paths = [head, os.path.join(common, "packed-refs"), index]
        repo_paths.append(os.path.join(common, "refs", "tags"))
        if ref:
            repo_paths.append(os.path.join(common, ref))
        reftable = os.path.join(common, "reftable", "tables.list")
        if os.path.exists(reftable):
            repo_paths.append(reftable)
        repo_stats = [head_stat, *_stats(repo_paths[1:])]
        listed = _git("-C", top, "ls-files", "-z")
        files = [os.path.join(top, p) for p in (listed or "").split("\0") if p]
        files_stats = _stats(files)
        self._scanned_at = time.perf_counter()
        self._state = self._compute()
        self._repo_paths, self._repo_stats = repo_paths, repo_stats
        self._files, self._files_stats = files, files_stats
        return self._state

    def _after_fork(self) -> None:
        self._lock = threading.Lock()


_watch = GitWatch()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_watch._after_fork)

_pass = threading.local()
"""``collect`` marks each call so the five ``git.*`` providers check the files once."""


def _git_state() -> dict[str, Any]:
    token = getattr(_pass, "token", None)
    if token is not None and getattr(_pass, "git_token", None) is token:
        return _pass.git_state
    state = _watch.state()
    _pass.git_token, _pass.git_state = token, state
    return state


def _cwd() -> str:
    """The cwd: the one the git check of this ``collect`` just read, else ``getcwd``."""
    token = getattr(_pass, "token", None)
    if token is not None and getattr(_pass, "git_token", None) is token:
        cwd = _watch.cwd
        if cwd is not None:
            return cwd
    return os.getcwd()


class _GitField:
    """The provider of one ``git.*`` field: a class so that it pickles."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.__name__ = f"git_{name}"

    def __call__(self) -> Any:
        return _git_state().get(self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _GitField) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("git", self.name))

    def __repr__(self) -> str:
        return f"<git provider {self.name}>"


def _git_field(name: str) -> Provider:
    return _GitField(name)


@per_process
def _user() -> str | None:
    # getpass reads the login variables the process inherited: they do not follow a
    # setuid, and nobody rewrites them, so once per process is what it would say anyway.
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


@per_process
def _virtualenv() -> str | None:
    # The interpreter's prefix cannot change; an activated environment's variables are
    # what the process inherited, and activating another one does not change sys.path.
    if sys.prefix != sys.base_prefix:
        return sys.prefix
    return os.environ.get("VIRTUAL_ENV") or os.environ.get("CONDA_PREFIX")


def _const(fn: Provider) -> Provider:
    return per_process(fn)


def _executable() -> str:
    return sys.executable


providers: dict[str, Provider] = {
    "git.branch": _git_field("branch"),
    "git.commit": _git_field("commit"),
    "git.describe": _git_field("describe"),
    "git.dirty": _git_field("dirty"),
    "git.tree": _git_field("tree"),
    "system.node": platform.node,  # one uname(); a laptop's host name follows its network
    "system.machine": _const(platform.machine),
    "system.platform": _const(platform.platform),
    "system.user": _user,
    "system.cwd": _cwd,
    "python.version": _const(platform.python_version),
    "python.implementation": _const(platform.python_implementation),
    "python.executable": _const(_executable),
    "python.virtualenv": _virtualenv,
    "process.pid": _pid,
}


_pinned: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "votakvot_meta_pinned", default=None
)


@contextlib.contextmanager
def pinned(sections: dict[str, Any]) -> Iterator[None]:
    """Within this block, ``collect`` records these top-level sections as given.

    A runner's worker pins what was true where the call was submitted (the client's
    ``git``) and where it runs (``runner``): a worker's own folder is not the code
    that was submitted. A section pinned to ``None`` is left out.
    """
    outer = _pinned.get()
    token = _pinned.set({**(outer or {}), **sections})
    try:
        yield
    finally:
        _pinned.reset(token)


def submitted(selected: dict[str, Provider] | None = None) -> dict[str, Any]:
    """The sections a runner captures at submit and pins in its workers: ``git``.

    Read with the client's own ``git.*`` providers, so a client that dropped them
    pins no ``git`` section (``None``) and its workers record none either.
    """
    chosen = providers if selected is None else selected
    git = {k: v for k, v in chosen.items() if k.split(".", 1)[0] == "git"}
    return {"git": collect(git).get("git") if git else None}


def collect(selected: dict[str, Provider] | None = None) -> dict[str, Any]:
    """Call each provider and nest the values by their dotted keys (see :func:`pinned`)."""
    meta: dict[str, Any] = {}
    pins = _pinned.get()
    if pins:
        selected = providers if selected is None else selected
        selected = {k: v for k, v in selected.items() if k.split(".", 1)[0] not in pins}
    _pass.token = object()
    try:
        for key, provider, parents, leaf in _plan(providers if selected is None else selected):
            try:
                value = provider()
            except Exception as exc:
                _warn_once(key, exc)
                continue
            if value is None:
                continue
            node = meta
            for part in parents:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
            node[leaf] = value
    finally:
        _pass.token = None
    if pins:
        meta.update({k: v for k, v in pins.items() if v is not None})
    return meta


_Plan = list[tuple[str, Provider, tuple[str, ...], str]]
_plans: dict[int, tuple[tuple[tuple[str, Provider], ...], _Plan]] = {}


def _plan(selected: dict[str, Provider]) -> _Plan:
    """``selected`` with its dotted keys split, remade only when the dict changed
    (``providers`` may be edited in place): splitting them was a third of ``collect``."""
    items = tuple(selected.items())
    known = _plans.get(id(selected))
    if known is not None and known[0] == items:
        return known[1]
    plan: _Plan = []
    for key, provider in items:
        *parents, leaf = key.split(".")
        plan.append((key, provider, tuple(parents), leaf))
    if len(_plans) > 64:
        _plans.clear()
    _plans[id(selected)] = (items, plan)
    return plan


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
