"""Values recorded in votakvot.yaml round-trip, and reading them never runs code."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import pathlib
import warnings

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from votakvot import _records, _values, _yaml
from votakvot.exceptions import UnsafeTagError

Point = collections.namedtuple("Point", "x y")


@dataclasses.dataclass
class Config:
    lr: float
    name: str


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.complex_numbers(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.binary(max_size=20),
    st.datetimes(timezones=st.sampled_from([datetime.UTC, None])),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.frozensets(st.integers(), max_size=4).map(set),
        st.dictionaries(st.text(max_size=10), inner, max_size=4),
    ),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=12), values, max_size=6))
def test_every_documented_type_round_trips(record: dict) -> None:
    """int, float, complex, bool, str, bytes, list, dict, tuple, set, datetime, None survive."""
    text = _yaml.dump(record)
    assert yaml.unsafe_load(text) == record
    assert _yaml.load(text) == record


def test_namedtuples_and_dataclasses_keep_their_fields() -> None:
    """Python objects load back with PyYAML, and safely as tagged mappings of their fields."""
    record = {"p": Point(1, 2), "c": Config(0.1, "base"), "d": decimal.Decimal("1.5")}
    text = _yaml.dump(record)
    assert yaml.unsafe_load(text) == record
    safe = _yaml.load(text)
    assert safe["p"] == {"x": 1, "y": 2}
    assert safe["p"].tag.endswith("Point")
    assert safe["c"] == {"lr": 0.1, "name": "base"}
    assert safe["c"].tag.endswith("Config")
    assert safe["d"] == decimal.Decimal("1.5")


@pytest.mark.parametrize(
    "text",
    [
        "x: !!python/object/apply:os.system ['touch {marker}']",
        "x: !!python/object/apply:subprocess.check_output [['touch', '{marker}']]",
        "x: !!python/object/new:os.system ['touch {marker}']",
        "x: !!python/name:os.system\ny: !!python/module:os",
        "!!python/object/apply:builtins.exec ['open(\"{marker}\", \"w\")']",
    ],
)
def test_loading_never_runs_code(tmp_path, text: str) -> None:
    """Code-running tags are refused or kept as inert data; nothing is executed."""
    marker = tmp_path / "marker"
    try:
        _yaml.load(text.format(marker=marker))
    except UnsafeTagError as exc:
        assert "never runs code" in str(exc)
    assert not marker.exists()


def test_unknown_tags_are_kept_inert() -> None:
    """A tag votakvot does not know is kept with its value, not resolved."""
    assert _yaml.load("x: !custom {a: 1}")["x"] == {"value": {"a": 1}}


class Mode(enum.Enum):
    FAST = 1


odd_scalars = st.one_of(
    scalars,
    st.floats().map(np.float64),
    st.floats(width=32).map(np.float32),
    st.integers(-(2**63), 2**63 - 1).map(np.int64),
    st.booleans().map(np.bool_),
    st.decimals(allow_nan=False, places=3),
    st.fractions(max_denominator=1000),
    st.just(Mode.FAST),
    st.uuids(),
    st.text(max_size=5).map(pathlib.PurePosixPath),
    st.timedeltas(),
    st.lists(st.floats(allow_nan=False), max_size=4).map(np.array),
)
odd_values = st.recursive(
    odd_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(collections.deque),
        st.tuples(inner, inner),
        st.frozensets(st.integers(), max_size=4),
        st.dictionaries(st.text(max_size=10), inner, max_size=4).map(collections.OrderedDict),
        st.dictionaries(st.integers(0, 5).map(np.int64), inner, max_size=3),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(odd_values)
def test_any_mix_of_odd_values_reads_back_plain(value: object) -> None:
    """Whatever experiment code records, the record reads back with no placeholder and
    no warning, and holds only plain values (nothing numpy, nothing tagged)."""
    text = _values.dump_record({"tid": "t", "state": "done", "result": value}, "t")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = _records.parse_record(text.encode(), "t/votakvot.yaml")
    _assert_plain(data["result"])
    assert _values.to_plain(data["result"]) == data["result"] or _has_nan(data["result"])


_PLAIN = (type(None), bool, int, float, str, bytes, complex, datetime.datetime, datetime.date)


def _assert_plain(value: object) -> None:
    if isinstance(value, dict):
        assert type(value) is dict, type(value)
        for k, v in value.items():
            _assert_plain(k)
            _assert_plain(v)
    elif isinstance(value, (list, tuple, set)):
        for v in value:
            _assert_plain(v)
    else:
        assert type(value) in _PLAIN, type(value)


def _has_nan(value: object) -> bool:
    if isinstance(value, float):
        return value != value
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, (list, tuple, set)):
        return any(_has_nan(v) for v in value)
    return False
