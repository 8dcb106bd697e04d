"""Values recorded in votakvot.yaml round-trip, and reading them never runs code."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from votakvot import _yaml
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
