"""The warm index of load_report: rows cached per root, never trusted over a changed file."""

from __future__ import annotations

import json
import logging
import os
import posixpath
import shutil
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import pandas
import pytest

import votakvot
from votakvot import index
from votakvot.index import RowIndex
from votakvot.layout import YAML_NAME
from votakvot.report import SkippedTrialWarning, load_report
from votakvot.storage import open_storage
from votakvot.testing import isolated

PAST = time.time() - 3600


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of this test's own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(index.CACHE_ENV, str(folder))
    return folder


def age(root: Path, when: float = PAST) -> None:
    """Set every time below ``root`` back, as if written an hour ago (past the racy window)."""
    for folder, _, files in os.walk(root, topdown=False):
        for name in files:
            os.utime(os.path.join(folder, name), (when, when))
        os.utime(folder, (when, when))


def make_trials(path: Path, n: int = 6) -> Path:
    with isolated(str(path)):

        @votakvot.track("mod/experiment")
        def experiment(one, two):
            votakvot.inform(comment=f"n{one}")
            return one * two

        for i in range(n):
            experiment(i, 0.5)
    age(path)
    return path


@pytest.fixture
def trials(tmp_path: Path, cache: Path) -> Path:
    return make_trials(tmp_path / "results")


def records(root: Path) -> list[Path]:
    return sorted(root.rglob(YAML_NAME))


def index_of(root: Path, kind: str = "report") -> RowIndex:
    found = RowIndex(open_storage(str(root)), kind)
    found.load()
    return found


def same_edit(record: Path, old: str, new: str) -> None:
    """Change a record in place keeping its size, its time and its folder's time."""
    assert len(old) == len(new)
    st, folder = record.stat(), record.parent.stat()
    text = record.read_text()
    assert old in text
    with open(record, "r+") as f:  # in place: no rename, the folder's time stays
        f.write(text.replace(old, new))
    os.utime(record, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.utime(record.parent, ns=(folder.st_atime_ns, folder.st_mtime_ns))


def test_second_report_equals_a_fresh_read_and_comes_from_the_index(trials: Path) -> None:
    """Cached rows give the same frame as reading every record, plain and full."""
    for full in (False, True):
        first = load_report(trials, full=full)
        assert len(index_of(trials, "report-full" if full else "report")) == 6
        second = load_report(trials, full=full)
        pandas.testing.assert_frame_equal(first, second)
        pandas.testing.assert_frame_equal(second, load_report(trials, full=full, cache=False))
    # the proof the second read used the index: a change its stamp cannot see is not seen
    same_edit(records(trials)[0], "comment: n", "comment: X")
    assert "X" not in "".join(load_report(trials)["comment"])
    assert sum(n.startswith("X") for n in load_report(trials, cache=False)["comment"]) == 1


def test_a_rewritten_record_is_read_again(trials: Path) -> None:
    """A record replaced (atomically, as votakvot writes) shows its new values."""
    load_report(trials)
    record = records(trials)[2]
    text = record.read_text().replace("comment: n", "comment: changed-n")
    tmp = record.with_name("x.tmp")
    tmp.write_text(text)
    os.replace(tmp, record)
    age(trials, PAST + 60)
    notes = list(load_report(trials)["comment"])
    assert sum(n.startswith("changed-") for n in notes) == 1


def test_same_size_other_time_is_read_again(trials: Path) -> None:
    """An in-place edit keeping the size but not the time is noticed by the time alone."""
    load_report(trials)
    record = records(trials)[1]
    same_edit(record, "comment: n", "comment: Y")
    os.utime(record, (PAST + 5, PAST + 5))
    assert sum(n.startswith("Y") for n in load_report(trials)["comment"]) == 1


def test_deleted_and_added_trials(trials: Path) -> None:
    """A deleted trial folder leaves the report and the index; a new one joins both."""
    load_report(trials)
    shutil.rmtree(records(trials)[0].parent)
    assert len(load_report(trials)) == 5
    assert len(index_of(trials)) == 5
    make_trials(trials, 2)
    frame = load_report(trials)
    assert len(frame) == 7
    pandas.testing.assert_frame_equal(frame, load_report(trials, cache=False))
    assert len(index_of(trials)) == 7


def test_a_record_corrupted_after_caching_is_skipped_with_a_warning(trials: Path) -> None:
    """A cached record that turns into garbage is read, warned about, and strict raises."""
    load_report(trials)
    record = records(trials)[3]
    record.write_bytes(b"\x00\xff not yaml")
    age(trials, PAST + 60)
    with pytest.warns(SkippedTrialWarning, match="not UTF-8"):
        assert len(load_report(trials)) == 5
    with pytest.raises(votakvot.TrialLoadError):
        load_report(trials, safe=False)
    with pytest.warns(SkippedTrialWarning):  # not cached as a row: warned every time
        load_report(trials)


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],
        lambda raw: raw[:10],
        lambda raw: b"",
        lambda raw: b"\x80\x81garbage\n\n",
        lambda raw: raw.replace(b'"rows": 6', b'"rows": 7'),
        lambda raw: raw.replace(b'"kind": "report"', b'"kind": "other"'),
        lambda raw: raw.replace(b"+00:00", b"+99:99").replace(b"T", b"Q"),
        lambda raw: raw[: raw.index(b"\n") + 1] + b"[1, 2]",
    ],
)
def test_a_damaged_index_is_rebuilt(trials: Path, damage) -> None:
    """A truncated, foreign or garbled index file gives a right report and is rewritten."""
    expected = load_report(trials, cache=False)
    load_report(trials)
    (file,) = (Path(index_of(trials).file),)
    file.write_bytes(damage(file.read_bytes()))
    pandas.testing.assert_frame_equal(load_report(trials), expected)
    assert len(index_of(trials)) == 6
    pandas.testing.assert_frame_equal(load_report(trials), expected)


def test_fresh_and_running_trials_are_not_cached(tmp_path: Path, cache: Path) -> None:
    """Rows of files changed within RACY_NS, and of running trials, are read every time."""
    root = make_trials(tmp_path / "results", 2)
    record = records(root)[0]
    record.write_text(record.read_text().replace("state: done", "state: running"))
    age(root)
    load_report(root)
    assert len(index_of(root)) == 1  # the done one only
    same_edit(record, "comment: n", "comment: Z")
    assert sum(n.startswith("Z") for n in load_report(root)["comment"]) == 1
    make_trials(tmp_path / "fresh", 1)
    os.utime(records(tmp_path / "fresh")[0])  # written now
    load_report(tmp_path / "fresh")
    assert len(index_of(tmp_path / "fresh")) == 0


def test_side_file_changes_miss_the_index(trials: Path) -> None:
    """An annotations file added, or edited in place, makes the row be read again."""
    load_report(trials)
    storage = open_storage(str(trials))
    found = list(storage.stamp_folders(storage.root, YAML_NAME, index.SIDE_FILES, print))
    hits, misses = index_of(trials).split(found)
    assert (len(hits), len(misses)) == (6, 0)
    folder = records(trials)[0].parent
    side = folder / index.SIDE_FILES[0]
    side.write_text("tags: [a]\n")
    found = list(storage.stamp_folders(storage.root, YAML_NAME, index.SIDE_FILES, print))
    assert [f for f, _ in index_of(trials).split(found)[1]] == [str(folder)]
    age(trials, PAST + 60)  # times only move on: the folder's is not the cached one
    load_report(trials)  # cached again, with the side file's stamp
    found = list(storage.stamp_folders(storage.root, YAML_NAME, index.SIDE_FILES, print))
    assert len(index_of(trials).split(found)[0]) == 6
    dir_time = folder.stat().st_mtime_ns
    side.write_text("tags: [b]\n")  # in place: the folder's time stays
    os.utime(folder, ns=(dir_time, dir_time))
    found = list(storage.stamp_folders(storage.root, YAML_NAME, index.SIDE_FILES, print))
    assert [f for f, _ in index_of(trials).split(found)[1]] == [str(folder)]


def test_a_glob_keeps_the_rows_outside_it(trials: Path) -> None:
    """A report of part of a root updates the root's index without losing the rest."""
    load_report(trials)
    part = load_report(str(trials) + "/**/" + records(trials)[0].parent.name)
    assert len(part) == 1
    assert len(index_of(trials)) == 6
    pandas.testing.assert_frame_equal(load_report(trials), load_report(trials, cache=False))


def test_cache_false_writes_no_index(trials: Path, cache: Path) -> None:
    """``cache=False`` neither reads nor writes the index."""
    load_report(trials, cache=False)
    assert not cache.exists()


def test_unwritable_cache_folder_falls_back(
    trials: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    """A cache folder that cannot be made: the report is whole, the reason logged once."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(index.CACHE_ENV, str(blocker / "cache"))
    with caplog.at_level(logging.WARNING, logger="votakvot.index"):
        frame = load_report(trials)
    pandas.testing.assert_frame_equal(frame, load_report(trials, cache=False))
    assert "cannot be saved" in caplog.text and str(blocker) in caplog.text


WRITER = """
import os, sys, time
import votakvot
root, n, who = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(n):
    frame = votakvot.load_report(root)
    assert len(frame) == 40, len(frame)
    assert sorted(frame["one"]) == list(range(40)), frame["one"]
"""

TOUCHER = """
import os, sys, glob
paths = sorted(glob.glob(sys.argv[1] + "/**/votakvot.yaml", recursive=True))
for i in range(int(sys.argv[2])):
    p = paths[i % len(paths)]
    t = 1_000_000_000 + i  # a new past time: the row is read again, the index saved again
    os.utime(p, (t, t))
"""


def test_two_processes_saving_at_once(tmp_path: Path, cache: Path) -> None:
    """Processes reporting (and saving the index) at the same time never see half an index."""
    root = make_trials(tmp_path / "results", 40)
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(root), "15", str(k)]) for k in range(2)
    ]
    toucher = subprocess.Popen([sys.executable, "-c", TOUCHER, str(root), "300"])
    assert [p.wait() for p in procs] == [0, 0]
    assert toucher.wait() == 0
    assert not list(cache.glob("*.tmp"))
    frame = load_report(root)
    pandas.testing.assert_frame_equal(frame, load_report(root, cache=False))
    assert len(index_of(root)) == 40


def test_index_lives_in_the_cache_folder_not_the_root(trials: Path, cache: Path) -> None:
    """The root is left as it was; the index file is JSON lines a reader can inspect."""
    before = sorted(p.name for p in trials.rglob("*"))
    load_report(trials)
    assert sorted(p.name for p in trials.rglob("*")) == before
    (file,) = cache.glob("*.json")  # and the mark of the last eviction
    head = json.loads(file.read_bytes().split(b"\n", 1)[0])
    assert head["format"] == index.FORMAT and head["rows"] == 6
    assert head["root"] == str(trials)


def test_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without the override, the index goes to $XDG_CACHE_HOME/votakvot."""
    monkeypatch.delenv(index.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert index.cache_dir() == str(tmp_path / "xdg" / "votakvot")


def test_cached_values_of_every_kind_round_trip(tmp_path: Path, cache: Path) -> None:
    """Values JSON cannot hold exactly (tuples, dates in lists, non-string keys) are not
    cached; the rest (nested lists, NaN, big ints, datetimes) come back as read."""
    import datetime

    with isolated(str(tmp_path / "r")):

        @votakvot.track("mod/kinds")
        def kinds(i):
            votakvot.inform(
                when=datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC),
                nan=float("nan"),
                big=2**70,
                nested=[[1, 2], {"a": None}],
                odd={1: "x"} if i else {"k": "v"},
                day=datetime.date(2024, 5, 1),
            )
            return None

        for i in range(3):
            kinds(i)
    age(tmp_path / "r")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = load_report(tmp_path / "r", full=True)
        second = load_report(tmp_path / "r", full=True)
    pandas.testing.assert_frame_equal(first, second)
    pandas.testing.assert_frame_equal(second, load_report(tmp_path / "r", full=True, cache=False))


def test_cli_no_cache_reads_every_record(trials: Path, cache: Path, capsys) -> None:
    """``votakvot report --no-cache`` reads the records themselves, not the index."""
    from votakvot import cli

    assert cli.main(["report", str(trials), "--format", "csv"]) == 0
    same_edit(records(trials)[0], "comment: n", "comment: W")
    capsys.readouterr()
    assert cli.main(["report", str(trials), "--format", "csv"]) == 0
    assert ",W" not in capsys.readouterr().out
    assert cli.main(["report", str(trials), "--format", "csv", "--no-cache"]) == 0
    assert ",W" in capsys.readouterr().out


@pytest.fixture
def s3(tmp_path: Path, cache: Path):
    """A moto S3 server on loopback holding six trials under s3://bucket/results."""
    moto_server = pytest.importorskip("moto.server")
    s3fs = pytest.importorskip("s3fs")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        # moto keeps its buckets per process, not per server: start from none
        urllib.request.urlopen(
            urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")
        ).close()
        options = {
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"endpoint_url": f"http://{host}:{port}", "region_name": "eu-west-1"},
        }
        fs = s3fs.S3FileSystem(**options)
        fs.mkdir("bucket", region_name="eu-west-1")
        local = make_trials(tmp_path / "local")
        fs.put(str(local) + "/", "bucket/results", recursive=True)
        yield fs, options
    finally:
        server.stop()


def test_object_store_rows_are_cached_by_etag(s3) -> None:
    """On S3 the index keys rows by ETag: a replaced record is read again, a deleted one
    leaves, and unchanged ones come from the index."""
    fs, options = s3
    url = "s3://bucket/results"
    expected = load_report(url, storage_options=options, cache=False)
    pandas.testing.assert_frame_equal(load_report(url, storage_options=options), expected)
    storage = open_storage(url, options)
    cached = RowIndex(storage, "report")
    cached.load()
    assert len(cached) == 6
    pandas.testing.assert_frame_equal(load_report(url, storage_options=options), expected)
    records_ = sorted(f for f in fs.find("bucket/results") if f.endswith(YAML_NAME))
    text = fs.cat_file(records_[0]).decode()
    fs.pipe_file(records_[0], text.replace("comment: n", "comment: S").encode())  # same size
    fs.rm(posixpath.dirname(records_[1]), recursive=True)
    frame = load_report(url, storage_options=options)
    assert len(frame) == 5
    assert sum(n.startswith("S") for n in frame["comment"]) == 1
    pandas.testing.assert_frame_equal(frame, load_report(url, storage_options=options, cache=False))


def test_shared_walk_finds_what_the_plain_walk_finds(tmp_path: Path) -> None:
    """Half the walk in a forked helper: the same folders and stamps, its skips told here."""
    from votakvot import storage as storage_module

    root = tmp_path / "r"
    for hour in range(12):
        for n in range(3):
            folder = root / "m" / "f" / "26-01-01" / f"10:{hour:02d}:00" / f"u{n}"
            folder.mkdir(parents=True)
            (folder / YAML_NAME).write_text("tid: x\nstate: done\nresult: 1\n")
    fifos = []
    for hour in (0, 1):  # one in each half of the walk
        odd = root / "m" / "f" / "26-01-01" / f"10:{hour:02d}:00" / "fifo"
        odd.mkdir()
        os.mkfifo(odd / YAML_NAME)
        fifos.append(str(odd / YAML_NAME))
    plain_skips: list[tuple[str, str, str]] = []
    plain = set(storage_module._stamp_local(str(root), YAML_NAME, lambda *a: plain_skips.append(a)))
    shared_skips: list[tuple[str, str, str]] = []
    shared = storage_module.stamp_local_shared(
        str(root), YAML_NAME, lambda *a: shared_skips.append(a)
    )
    assert len(shared) == len(set(shared)) == len(plain) == 36
    assert set(shared) == plain
    assert sorted(s[0] for s in shared_skips) == sorted(s[0] for s in plain_skips) == fifos


def test_repeated_strings_are_packed_and_a_flipped_byte_is_caught(
    tmp_path: Path, cache: Path
) -> None:
    """Columns of few distinct strings are stored as a table; a value changed inside
    the file (same length, still valid JSON) fails the checksum and is read again."""
    root = make_trials(tmp_path / "r", 70)
    expected = load_report(root, cache=False)
    load_report(root)
    file = Path(index_of(root).file)
    raw = file.read_bytes()
    assert b'"table":["done"]' in raw
    pandas.testing.assert_frame_equal(load_report(root), expected)
    file.write_bytes(raw.replace(b'"table":["done"]', b'"table":["dune"]'))
    pandas.testing.assert_frame_equal(load_report(root), expected)


def _reads(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[str]:
    """Every path ``module.name`` (a reader of files) is asked for, recorded."""
    asked: list[str] = []
    real = getattr(module, name)

    def recording(self_or_path, *args, **kwargs):
        if isinstance(self_or_path, str):
            asked.append(self_or_path)
            return real(self_or_path, *args, **kwargs)
        asked.extend(args[0])
        return real(self_or_path, *args, **kwargs)

    monkeypatch.setattr(module, name, recording)
    return asked


def test_trials_without_a_sidecar_open_none(trials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Locally only the sidecars that are there are opened: no failed open per trial."""
    from votakvot import storage as storage_module
    from votakvot.layout import ANNOTATIONS_NAME

    annotated = records(trials)[3].parent
    votakvot.annotate(str(annotated), tags="best")
    age(trials)
    asked = _reads(monkeypatch, storage_module, "read_local")
    for frame in (load_report(trials, cache=False), load_report(trials)):
        assert list(frame["tags"]).count("best") == 1
    assert len(votakvot.load_trials(trials)) == 6
    sides = [p for p in asked if p.endswith(ANNOTATIONS_NAME)]
    assert sides and set(sides) == {str(annotated / ANNOTATIONS_NAME)}


def test_a_removed_sidecar_is_seen(trials: Path) -> None:
    """A sidecar deleted after its row was cached: the row is read again, untagged."""
    from votakvot.layout import ANNOTATIONS_NAME

    folder = records(trials)[2].parent
    votakvot.annotate(str(folder), tags="best", note="n")
    age(trials)
    assert list(load_report(trials)["tags"]).count("best") == 1
    assert list(load_report(trials)["tags"]).count("best") == 1  # from the index
    (folder / ANNOTATIONS_NAME).unlink()
    age(trials, PAST + 60)
    frame = load_report(trials)
    assert "tags" not in frame.columns
    pandas.testing.assert_frame_equal(frame, load_report(trials, cache=False))


def test_object_store_asks_only_for_listed_sidecars(s3, monkeypatch: pytest.MonkeyPatch) -> None:
    """On S3 the one listing says which trials are annotated: no request for the
    sidecars of the others, with the index or without; sidecars added, changed or
    removed later show in the next report."""
    from votakvot.layout import ANNOTATIONS_NAME
    from votakvot.storage import FsspecStorage

    fs, options = s3
    url = "s3://bucket/results"
    folders = sorted(
        posixpath.dirname(f) for f in fs.find("bucket/results") if f.endswith(YAML_NAME)
    )
    fs.pipe_file(f"{folders[1]}/{ANNOTATIONS_NAME}", b"tags: [best]\nnote: ''\n")
    asked = _reads(monkeypatch, FsspecStorage, "read_many")
    expected = load_report(url, storage_options=options, cache=False)
    assert list(expected["tags"]).count("best") == 1
    pandas.testing.assert_frame_equal(load_report(url, storage_options=options), expected)
    assert len(votakvot.load_trials(url, storage_options=options)) == 6
    sides = {p for p in asked if p.endswith(ANNOTATIONS_NAME)}
    assert sides == {f"{folders[1]}/{ANNOTATIONS_NAME}"}
    fs.pipe_file(f"{folders[4]}/{ANNOTATIONS_NAME}", b"tags: [new]\nnote: ''\n")
    fs.pipe_file(f"{folders[1]}/{ANNOTATIONS_NAME}", b"tags: [wide]\nnote: ''\n")
    frame = load_report(url, storage_options=options)
    assert sorted(t for t in frame["tags"] if t) == ["new", "wide"]
    pandas.testing.assert_frame_equal(frame, load_report(url, storage_options=options, cache=False))
    fs.rm(f"{folders[1]}/{ANNOTATIONS_NAME}")
    fs.rm(f"{folders[4]}/{ANNOTATIONS_NAME}")
    frame = load_report(url, storage_options=options)
    assert "tags" not in frame.columns
    pandas.testing.assert_frame_equal(frame, load_report(url, storage_options=options, cache=False))


DAY = 86400


def _set_mtime(file: str | Path, seconds_ago: float) -> None:
    when = time.time() - seconds_ago
    os.utime(file, (when, when))


def test_evict_removes_indexes_of_roots_gone(tmp_path: Path, cache: Path) -> None:
    """An index of a local root that no longer exists goes; that of one that does stays,
    and files of the cache folder that are no index are never touched."""
    kept = make_trials(tmp_path / "kept", 2)
    gone = make_trials(tmp_path / "gone", 2)
    load_report(kept)
    load_report(gone)
    (cache / "notes.txt").write_text("mine")
    shutil.rmtree(gone)
    assert index.evict() == [index_of(gone).file]
    assert os.path.exists(index_of(kept).file)
    assert (cache / "notes.txt").read_text() == "mine"


def test_evict_removes_indexes_unused_for_max_age(trials: Path, cache: Path) -> None:
    """By its file's mtime: 29 days unused stays, 31 days goes; a dead write's
    temporary file goes after an hour."""
    load_report(trials)
    file = index_of(trials).file
    _set_mtime(file, 29 * DAY)
    tmp = Path(file + ".123-abc-0.tmp")
    tmp.write_bytes(b"half")
    assert index.evict() == []
    _set_mtime(tmp, 2 * 3600)
    assert index.evict() == [str(tmp)]
    _set_mtime(file, 31 * DAY)
    assert index.evict() == [file]


def test_a_load_touches_its_index_at_most_once_a_day(trials: Path) -> None:
    """A used index looks used (its mtime moves on) without a write per report."""
    load_report(trials)
    file = index_of(trials).file
    _set_mtime(file, 3600)
    before = os.stat(file).st_mtime_ns
    load_report(trials)  # every row from the index: nothing saved
    assert os.stat(file).st_mtime_ns == before
    _set_mtime(file, 2 * DAY)
    load_report(trials)
    assert time.time() - os.stat(file).st_mtime < 3600


def test_evict_keeps_the_folder_under_max_bytes(tmp_path: Path, cache: Path) -> None:
    """The least recently used go first; the most recently used stays whatever its size."""
    roots = [make_trials(tmp_path / f"r{i}", 2) for i in range(3)]
    files = []
    for i, root in enumerate(roots):
        load_report(root)
        files.append(index_of(root).file)
        _set_mtime(files[-1], (3 - i) * 3600)  # r0 used longest ago
    sizes = [os.path.getsize(f) for f in files]
    assert index.evict(max_bytes=sizes[1] + sizes[2]) == [files[0]]
    assert index.evict(max_bytes=1) == [files[1]]
    assert os.path.exists(files[2])


def test_saves_evict_at_most_once_an_hour(tmp_path: Path, cache: Path) -> None:
    """A report that saves an index evicts the cache folder when the last eviction is
    an hour old or more, not on every save."""
    gone = make_trials(tmp_path / "gone", 1)
    load_report(gone)
    shutil.rmtree(gone)
    marker = cache / ".evicted"
    assert marker.exists()  # the first save evicted (nothing to remove then)
    load_report(make_trials(tmp_path / "a", 1))
    assert os.path.exists(index_of(gone).file)  # evicted within the hour: not again
    _set_mtime(marker, 2 * 3600)
    load_report(make_trials(tmp_path / "b", 1))
    assert not os.path.exists(index_of(gone).file)


EVICTING = """
import os, sys
from votakvot import index
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    index.evict(sys.argv[1], max_age=-1)
"""


def test_reports_stay_right_while_another_process_evicts(
    trials: Path, cache: Path, tmp_path: Path
) -> None:
    """A process removing every index file over and over: each report still equals a
    full read, none warns."""
    expected = load_report(trials, cache=False)
    load_report(trials)
    stop = tmp_path / "stop"
    evictor = subprocess.Popen(
        [sys.executable, "-c", EVICTING, str(cache), str(stop)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert evictor.stdout is not None and evictor.stdout.readline() == "ready\n"
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for _ in range(30):
                pandas.testing.assert_frame_equal(load_report(trials), expected)
    finally:
        stop.touch()
        evictor.wait(timeout=60)
    assert evictor.returncode == 0


def test_report_rows_saved_without_their_shapes_are_read_again(trials: Path) -> None:
    """Rows a report index holds without their column names in order (saved by another
    writer) cannot say where their columns go: the report reads those records again."""
    expected = load_report(trials, cache=False)
    load_report(trials)
    saved = index_of(trials)
    storage = open_storage(str(trials))
    found = list(storage.stamp_folders(storage.root, YAML_NAME, index.SIDE_FILES, print))
    hits, _ = saved.split(found)
    rows = saved.columns(hits)
    folders = [saved.folder(p) for p in hits]
    stamps = [dict(found)[f] for f in folders]
    RowIndex(storage, "report").save([], rows, folders, stamps, [True] * len(hits), True)
    assert len(index_of(trials)) == 6
    pandas.testing.assert_frame_equal(load_report(trials), expected)
    index_of(trials).shapes(list(range(6)))  # saved again with them
