"""``init`` refuses roots that are no path instead of making a folder named after them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import votakvot
from votakvot._config import get_config
from votakvot.testing import isolated


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run in an empty folder with the settings restored after, so a wrong root shows."""
    monkeypatch.chdir(tmp_path)
    with isolated(str(tmp_path / "kept")):
        yield


@pytest.mark.parametrize(
    ("path", "error", "says"),
    [
        (None, TypeError, "not NoneType"),
        (123, TypeError, "not int"),
        (1.5, TypeError, "not float"),
        (b"results", TypeError, "not bytes"),
        ("", ValueError, "must not be empty"),
        ("   ", ValueError, "must not be empty"),
        ("res\x00ults", ValueError, "NUL"),
    ],
)
def test_bad_roots_are_refused(tmp_path: Path, path: object, error: type, says: str) -> None:
    """The error names the value and what to pass; no folder is made, the root is kept."""
    before = get_config().path
    with pytest.raises(error, match=says) as info:
        votakvot.init(path=path)  # type: ignore[arg-type]
    assert "init(path=" in str(info.value)
    assert get_config().path == before
    assert os.listdir(tmp_path) == []

    @votakvot.track("args/after")
    def after() -> int:
        return 1

    after()
    assert not (tmp_path / str(path)).exists() or str(path).strip() == ""
    assert len(votakvot.load_trials(before)) == 1


def test_pathlike_and_urls_still_work(tmp_path: Path) -> None:
    """``pathlib.Path`` (any ``os.PathLike``) and fsspec URLs are roots as before."""
    votakvot.init(path=tmp_path / "as-path")
    assert get_config().path == str(tmp_path / "as-path")

    class Custom(os.PathLike):
        def __fspath__(self) -> str:
            return str(tmp_path / "custom")

    votakvot.init(path=Custom())
    assert get_config().path == str(tmp_path / "custom")
    votakvot.init(path="memory://init-args")
    assert get_config().path == "memory://init-args"


def test_bytes_pathlike_is_refused() -> None:
    """A PathLike giving bytes is refused like bytes."""

    class Raw(os.PathLike):
        def __fspath__(self) -> bytes:
            return b"raw"

    with pytest.raises(TypeError, match="not bytes"):
        votakvot.init(path=Raw())  # type: ignore[arg-type]
