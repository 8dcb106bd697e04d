"""Old name of :mod:`votakvot.reading`, kept while importers move over."""

from collections.abc import Iterator

from .reading import (  # noqa: F401
    MAX_RECORD,
    SIDE_FILE_LIMIT,
    find_trial_dirs,
    read_side_file,
    side_file_name,
    split_glob,
)
from .storage import _REMOTE_THREADS, _pool_map, _walk_threaded, open_storage  # noqa: F401

__all__ = ["SIDE_FILE_LIMIT", "find_trial_dirs", "read_records", "read_side_file", "split_glob"]


def read_records(folders: list[str]) -> Iterator[tuple[str, bytes | Exception]]:
    """``(folder, raw record or the error reading it)``: the old bulk reader's shape."""
    if not folders:
        return
    storage = open_storage(folders[0])
    files = [storage.join(storage.path_of(f), "votakvot.yaml") for f in folders]
    yield from zip(folders, storage.read_many(files, MAX_RECORD))
