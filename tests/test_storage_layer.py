"""One storage protocol, the same answers on a local folder and on ``memory://``."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fsspec.implementations.memory import MemoryFileSystem

from votakvot import TrialLoadError
from votakvot.storage import LocalStorage, Storage, open_storage, redact


@pytest.fixture(params=["local", "memory"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "local":
        yield open_storage(str(tmp_path))
        return
    name = f"storage-layer-{uuid.uuid4().hex[:8]}"
    yield open_storage(f"memory://{name}")
    fs = MemoryFileSystem()
    if fs.exists(f"/{name}"):
        fs.rm(f"/{name}", recursive=True)


def test_write_read_list_remove(storage: Storage) -> None:
    folder = storage.join(storage.root, "a", "b")
    storage.makedirs(folder)
    file = storage.join(folder, "x.txt")
    assert storage.read(file) is None
    storage.write_atomic(file, b"hello")
    storage.write_atomic(file, b"hello again")
    assert storage.read(file) == b"hello again"
    assert storage.listdir(folder) == [("x.txt", False)]
    assert ("b", True) in storage.listdir(storage.join(storage.root, "a"))
    assert storage.find_files(storage.root) == ["a/b/x.txt"]
    assert storage.isdir(folder) and not storage.isdir(file)
    assert storage.read_many([file, storage.join(folder, "none")])[0] == b"hello again"
    assert isinstance(storage.read_many([storage.join(folder, "none")])[0], FileNotFoundError)
    storage.remove(file)
    storage.remove(file)  # gone already: fine
    assert storage.read(file) is None
    with pytest.raises(FileNotFoundError):
        storage.listdir(storage.join(storage.root, "nowhere"))


def test_reads_are_bounded(storage: Storage) -> None:
    file = storage.join(storage.root, "big")
    storage.write_atomic(file, b"x" * 2000)
    assert storage.read(file, 2000) == b"x" * 2000
    with pytest.raises(TrialLoadError, match="larger than 1,000 bytes") as exc:
        storage.read(file, 1000)
    assert "big" in exc.value.path
    [refused] = storage.read_many([file], 1000)
    assert isinstance(refused, TrialLoadError)


def test_urls_round_trip(storage: Storage) -> None:
    path = storage.join(storage.root, "t", "u")
    url = storage.to_url(path)
    assert open_storage(url).root == path
    assert storage.path_of(url) == path
    assert storage.shown(path) == redact(url)


def test_append_where_the_store_can(storage: Storage) -> None:
    file = storage.join(storage.root, "rows.csv")
    if not storage.can_append:
        with pytest.raises(io.UnsupportedOperation):
            storage.append(file, b"a\n")
        return
    storage.append(file, b"a\n")
    storage.append(file, b"b\n")
    assert storage.read(file) == b"a\nb\n"


def test_find_folders_finds_records_inside_records(storage: Storage) -> None:
    for rel in ("a", "a/b", "c/d", ".hidden/e", "__pycache__/f"):
        folder = storage.join(storage.root, *rel.split("/"))
        storage.makedirs(folder)
        storage.write_atomic(storage.join(folder, "votakvot.yaml"), b"tid: x\n")
    skipped: list[str] = []
    found = storage.find_folders(
        storage.root, "votakvot.yaml", lambda p, r, lead: skipped.append(p)
    )
    rels = sorted(os.path.relpath(f, storage.root).replace(os.sep, "/") for f in found)
    assert rels == ["a", "a/b", "c/d"]
    assert not skipped


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_local_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "t" / "votakvot.yaml"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    storage = LocalStorage(str(tmp_path))
    with pytest.raises(TrialLoadError, match="not a regular file"):
        storage.read(str(fifo))
    skipped: list[str] = []
    found = storage.find_folders(
        storage.root, "votakvot.yaml", lambda p, r, lead: skipped.append(p)
    )
    assert found == [] and skipped == [str(fifo)]


def test_local_storage_ignores_options(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path), {"anon": True})
    assert isinstance(storage, LocalStorage)
    assert storage.storage_options == {"anon": True}
    assert storage.forkable and storage.gone(str(tmp_path / "none"))
