"""``load_report`` gives the same DataFrame with the warm index as without it.

Hypothesis writes records of every shape a report meets (``None`` values, keys some
trials lack, nested dicts, lists, numpy values as the writer stores them, params
of other functions in another order, annotations) in folders of any order, and
compares ``load_report(cache=False)`` with the first (cold) and second (warm)
cached reports, then again after adding and rewriting trials (cached rows mixed
with rows read now), plain and ``full``.
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import numpy
import pandas
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from votakvot import index, report
from votakvot._values import dump_record
from votakvot.layout import ANNOTATIONS_NAME, YAML_NAME
from votakvot.report import load_report

PAST = time.time() - 3600

NAMES = st.sampled_from(["a", "b", "lr", "x.y", "tags", "note", "result", "seed", "opt"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.sampled_from(
        [
            numpy.float32(0.1),
            numpy.int64(7),
            numpy.bool_(True),
            numpy.array([1.5, 2.5]),
            numpy.array([[1, 2], [3, 4]]),
            datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC),
            datetime.date(2024, 5, 1),
            (1, 2),
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=3)),
    max_leaves=6,
)
FIELDS = st.dictionaries(NAMES, VALUES, max_size=4)
BASE = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)


@st.composite
def trials(draw: Any) -> dict[str, Any]:
    """One trial: its folder, record fields and annotations (or none)."""
    folder = draw(st.sampled_from(["f", "g", "f/sub", "h"]))
    if draw(st.integers(0, 5)):  # else a trial holding others: ``run("f/0")`` within ``f``
        folder += "/" + draw(st.sampled_from("0123456789"))
    state = draw(st.sampled_from(["done", "failed", "running"]))
    record: dict[str, Any] = {
        "tid": draw(st.sampled_from([folder, "t1", "t2"])),
        "state": state,
    }
    if draw(st.booleans()):
        seconds = draw(st.sampled_from([0, 0, 1, 2]))
        record["at"] = {"created": BASE + datetime.timedelta(seconds=seconds), "duration": 1.0}
    for key in ("params", "info"):
        if draw(st.booleans()):
            record[key] = draw(FIELDS)
    if state == "done":
        record["result"] = draw(VALUES)
    elif state == "failed":
        record["error"] = {"type": "ValueError", "message": draw(st.text(max_size=3))}
    if draw(st.booleans()):
        record["extra"] = draw(FIELDS)
    sidecar = draw(st.sampled_from([None, "tags: [best]\nnote: hi\n", "tags: []\nnote: ''\n"]))
    return {"folder": folder, "record": record, "sidecar": sidecar}


def write(root: Path, trial: dict[str, Any]) -> None:
    folder = root / trial["folder"]
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / YAML_NAME
    tmp = folder / "record.tmp"
    tmp.write_text(dump_record(trial["record"], trial["record"]["tid"]))
    os.replace(tmp, record)
    side = folder / ANNOTATIONS_NAME
    if trial.get("sidecar") is None:
        side.unlink(missing_ok=True)
    else:
        side.write_text(trial["sidecar"])


def age(root: Path, when: float) -> None:
    for folder, _, files in os.walk(root, topdown=False):
        for name in files:
            os.utime(os.path.join(folder, name), (when, when))
        os.utime(folder, (when, when))


@contextmanager
def scratch() -> Iterator[Path]:
    """A root and a cache folder of this example's own."""
    base = Path(tempfile.mkdtemp(prefix="vv-eq-"))
    try:
        with mock.patch.dict(os.environ, {index.CACHE_ENV: str(base / "cache")}):
            yield base / "root"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def check(root: Path, full: bool) -> None:
    """A full read, then reports through the index, all equal; also of a glob (a walk
    of part of the root, whose index keeps the rows outside it)."""
    for path in (root, root / "f" / "*"):
        expected = load_report(path, full=full, cache=False)
        for _ in range(2):
            got = load_report(path, full=full)
            pandas.testing.assert_frame_equal(got, expected)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    first=st.lists(trials(), min_size=1, max_size=6),
    later=st.lists(trials(), max_size=4),
    drop=st.sets(st.integers(0, 5), max_size=2),
)
def test_cached_reports_equal_a_full_read(
    first: list[dict[str, Any]], later: list[dict[str, Any]], drop: set[int]
) -> None:
    """Cold, warm, and warm after trials were added, rewritten or deleted: the same frame."""
    import warnings

    with scratch() as root, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate tids, unreadable values: not the point
        for trial in first:
            write(root, trial)
        age(root, PAST)
        for full in (False, True):
            check(root, full)
        for i in drop:
            if i < len(first):
                shutil.rmtree(root / first[i]["folder"], ignore_errors=True)
        for trial in later:
            write(root, trial)
        age(root, PAST + 60)
        for full in (False, True):
            check(root, full)


def test_a_column_first_none_keeps_its_place() -> None:
    """A name whose first value (in folder order) is None still comes where it first
    appears, as in a full read: not after names with values in that row; also when a
    new row read now (by a forked child) comes before the cached ones."""
    with scratch() as root:
        first = {"x": None, "y": 1}
        for folder, params in (("a", first), ("b", {"y": 2, "x": 3}), ("c", {"z": None})):
            record = {"tid": folder, "state": "done", "params": params, "result": 1}
            write(root, {"folder": folder, "record": record, "sidecar": None})
        age(root, PAST)
        expected = load_report(root, cache=False)
        assert list(expected.columns)[4:] == ["x", "y", "result", "z"]
        for _ in range(2):
            pandas.testing.assert_frame_equal(load_report(root), expected)
        write(root, {"folder": "0", "record": {"tid": "0", "state": "done", "result": None}})
        age(root, PAST + 60)
        with mock.patch.object(report, "PARALLEL_MIN", 2):  # half read in a forked child
            expected = load_report(root, cache=False)
            assert list(expected.columns)[4:] == ["result", "x", "y", "z"]
            pandas.testing.assert_frame_equal(load_report(root), expected)
