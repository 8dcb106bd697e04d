"""Work a tracked call used to repeat for every trial, now done once per process (and
again in a forked child): it must give what the per-call version gave."""

from __future__ import annotations

import datetime
import inspect
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

import votakvot
from votakvot import _active, meta
from votakvot._decorator import _Binder
from votakvot.layout import _ids


def test_trial_ids_are_unique_version_4_uuids() -> None:
    """The per-process prefix and counter give valid, distinct uuid4 texts."""
    made = [_ids.next_uuid() for _ in range(2000)]
    assert len(set(made)) == len(made)
    for text in made[:50] + made[-50:]:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_draws_its_own_ids_and_pid(tmp_path: Path) -> None:
    """After a fork the child's uuids share nothing with the parent's next ones, and
    ``meta.process.pid`` is the child's pid."""
    out = tmp_path / "child.txt"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            collected = meta.collect()
            out.write_text(f"{_ids.next_uuid()} {collected['process']['pid']} {os.getpid()}")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    child_uuid, child_meta_pid, child_pid = out.read_text().split()
    parent_uuid = _ids.next_uuid()
    assert child_uuid[:24] != parent_uuid[:24]
    assert child_meta_pid == child_pid != str(os.getpid())
    assert meta.collect()["process"]["pid"] == os.getpid()


def _f(a, b, c=3, *, d=4, _hidden=5):  # type: ignore[no-untyped-def]
    return a


CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((1, 2), {}),
    ((1,), {"b": 2}),
    ((), {"a": 1, "b": 2, "c": 7, "d": 8}),
    ((1, 2, 3), {"d": 9, "_hidden": 1}),
    ((1, 2, 3, 4), {}),  # too many positional: the function raises
    ((1,), {"a": 2}),  # given twice
    ((1,), {}),  # missing b
    ((1, 2), {"e": 1}),  # unknown keyword
]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_binding_matches_signature_bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """The fast path records exactly what ``Signature.bind`` with defaults records, and
    leaves every wrong call to it (and so to the function's own TypeError)."""
    binder = _Binder(_f)
    try:
        bound = inspect.signature(_f).bind(*args, **kwargs)
    except TypeError:
        with pytest.raises(TypeError):
            binder(args, kwargs)
        return
    bound.apply_defaults()
    expected = {k: v for k, v in bound.arguments.items() if not k.startswith("_")}
    assert binder(args, kwargs) == expected


def test_timestamps_carry_the_local_zone_as_astimezone_does() -> None:
    """``at`` times have the zone, offset and name ``now().astimezone()`` gives."""
    ours = _active._now()
    theirs = datetime.datetime.now().astimezone()
    assert ours.tzinfo == theirs.tzinfo and ours.tzname() == theirs.tzname()
    assert abs((theirs - ours).total_seconds()) < 60


def test_a_positional_call_records_its_params_and_tid(root: Path) -> None:
    """A call with positional arguments records them by name; its tid ends in its uuid
    under the folders of the day and second."""

    @votakvot.track()
    def add(one: int, two: int, three: int = 0) -> int:
        return one + two + three

    assert add(1, 2) == 3
    (trial,) = votakvot.load_trials(str(root)).values()
    assert trial.params == {"one": 1, "two": 2, "three": 0}
    *_, day, second, trial_id = trial.tid.split("/")
    assert trial_id == trial.data["id"]
    created = trial.data["at"]["created"]
    assert day == f"{created:%y-%m-%d}" and len(second) == 8
    record = yaml.safe_load((Path(trial.path) / "votakvot.yaml").read_text())
    assert record["meta"]["system"]["cwd"] == os.getcwd()
    assert record["meta"]["process"]["pid"] == os.getpid()
    assert sys.executable == record["meta"]["python"]["executable"]
