"""``Storage.stamp``: a reader polling one file sees when it changed, on any store."""

from __future__ import annotations

import uuid

import pytest

from votakvot.storage import open_storage


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_stamp_changes_with_the_file(kind, tmp_path):
    """Missing -> ``None``; the same file -> the same stamp; rewritten bigger -> another."""
    url = str(tmp_path) if kind == "local" else f"memory://stamp-{uuid.uuid4().hex}"
    storage = open_storage(url)
    storage.makedirs(storage.root)
    path = storage.join(storage.root, "ab.status.json")
    assert storage.stamp(path) is None
    storage.write_atomic(path, b"{}")
    first = storage.stamp(path)
    assert first is not None
    assert storage.stamp(path) == first
    storage.write_atomic(path, b'{"done": 1}')
    assert storage.stamp(path) != first
