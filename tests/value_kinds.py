"""Values experiment code records every day, and what a reader gets back (docs/values.md).

Shared by tests/test_value_kinds.py and tests/tui/test_value_kinds_tui.py. Each kind
is recorded three times per trial: as the param ``x``, as ``inform(v=...)`` and as
the result.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import fractions
import math
import pathlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import votakvot
from votakvot._config import get_config, set_config
from votakvot._yaml import Tagged


class Color(enum.Enum):
    RED = "r"


class Level(enum.IntEnum):
    LOW = 1


class Perm(enum.Flag):
    R = 1
    W = 2


@dataclasses.dataclass
class Config:
    lr: Any
    weights: Any


Point = collections.namedtuple("Point", "x y")


class Opaque:
    """Neither pickled nor printed: its ``__reduce_ex__`` and ``__repr__`` raise."""

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise RuntimeError("no pickle")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class Plain:
    def __init__(self) -> None:
        self.alpha = np.float32(0.5)
        self.name = "p"


def _self_list() -> list[Any]:
    value: list[Any] = ["x"]
    value.append(value)
    return value


def named(tag_end: str, fields: dict[str, Any]) -> Callable[[Any], bool]:
    """A check: a Tagged mapping of these fields whose tag ends with ``tag_end``."""

    def check(got: Any) -> bool:
        return isinstance(got, Tagged) and got.tag.endswith(tag_end) and same(dict(got), fields)

    return check


def starts(prefix: str) -> Callable[[Any], bool]:
    return lambda got: isinstance(got, str) and got.startswith(prefix)


BERLIN = pd.Timestamp("2024-01-02 03:04:05.123456", tz="Europe/Berlin")
UID = uuid.UUID("12345678-1234-5678-1234-567812345678")

# id, a factory of the value (fresh for each use), what a reader gets back (a value or a check)
KINDS: list[tuple[str, Callable[[], Any], Any]] = [
    ("np_float64", lambda: np.float64(1.5), 1.5),
    ("np_float32", lambda: np.float32(0.01), 0.01),
    ("np_float16_array", lambda: np.array([0.1, np.inf], dtype=np.float16), [0.1, math.inf]),
    ("np_int64", lambda: np.int64(7), 7),
    ("np_bool", lambda: np.bool_(True), True),
    ("np_str", lambda: np.str_("hi"), "hi"),
    ("np_complex", lambda: np.complex128(1 + 2j), 1 + 2j),
    ("np_nan", lambda: np.float64("nan"), math.nan),
    ("np_inf", lambda: np.float64("-inf"), -math.inf),
    ("np_array_0d", lambda: np.array(3.5), 3.5),
    ("np_array_1d", lambda: np.arange(3), [0, 1, 2]),
    ("np_array_2d", lambda: np.array([[1.5, 2.0], [3.0, 4.0]]), [[1.5, 2.0], [3.0, 4.0]]),
    ("np_array_big", lambda: np.zeros(200_000), starts("<numpy.ndarray shape=(200000,)")),
    ("np_datetime64", lambda: np.datetime64("2024-01-02T03:04:05"),
     datetime.datetime(2024, 1, 2, 3, 4, 5)),
    ("np_timedelta64", lambda: np.timedelta64(90, "s"), 90.0),
    ("ordered_dict", lambda: collections.OrderedDict(b=1, a=np.int64(2)), {"b": 1, "a": 2}),
    ("defaultdict", lambda: collections.defaultdict(list, a=[1]), {"a": [1]}),
    ("counter", lambda: collections.Counter("aab"), {"a": 2, "b": 1}),
    ("np_keys", lambda: {np.int64(1): "one"}, {1: "one"}),
    ("nested_np", lambda: {"a": {"b": np.float64(1.5), "c": np.arange(2)}},
     {"a": {"b": 1.5, "c": [0, 1]}}),
    ("deque", lambda: collections.deque([1, 2]), [1, 2]),
    ("set", lambda: {3, 1, 2}, {1, 2, 3}),
    ("frozenset", lambda: frozenset({np.int64(1), 2}), {1, 2}),
    ("range", lambda: range(4), [0, 1, 2, 3]),
    ("tuple", lambda: (1, np.int64(2)), (1, 2)),
    ("bytes", lambda: b"\x00\x01", b"\x00\x01"),
    ("bytearray", lambda: bytearray(b"ab"), b"ab"),
    ("enum", lambda: Color.RED, "RED"),
    ("int_enum", lambda: Level.LOW, "LOW"),
    ("flag", lambda: Perm.R | Perm.W, "R|W"),
    ("pd_timestamp_tz", lambda: BERLIN, BERLIN.to_pydatetime()),
    ("pd_timestamp_naive", lambda: pd.Timestamp("2024-01-02 03:04:05"),
     datetime.datetime(2024, 1, 2, 3, 4, 5)),
    ("pd_timedelta", lambda: pd.Timedelta("1.5s"), 1.5),
    ("pd_nat", lambda: pd.NaT, None),
    ("timedelta", lambda: datetime.timedelta(minutes=1), 60.0),
    ("path", lambda: pathlib.Path("data") / "x.csv", "data/x.csv"),
    ("decimal", lambda: decimal.Decimal("1.25"), 1.25),
    ("fraction", lambda: fractions.Fraction(1, 4), 0.25),
    ("uuid", lambda: UID, str(UID)),
    ("complex", lambda: complex(1, -2), complex(1, -2)),
    ("dataclass_np", lambda: Config(np.float32(0.5), np.arange(2)),
     named("Config", {"lr": 0.5, "weights": [0, 1]})),
    ("namedtuple", lambda: Point(np.int64(1), 2.5), named("Point", {"x": 1, "y": 2.5})),
    ("plain_object", Plain, named("Plain", {"alpha": 0.5, "name": "p"})),
    ("pd_series", lambda: pd.Series([1.0, 2.0]), [1.0, 2.0]),
    ("pd_series_labels", lambda: pd.Series({"a": 1, "b": 2}), {"a": 1, "b": 2}),
    ("pd_dataframe", lambda: pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]}),
     {"a": [1, 2], "b": [0.5, 1.5]}),
    ("function", lambda: math.sqrt, "math.sqrt"),
    ("self_list", _self_list, ["x", "<list that contains itself>"]),
    ("opaque", Opaque, starts("<value_kinds.Opaque object; repr failed")),
]

IDS = [k[0] for k in KINDS]


def same(got: Any, expected: Any) -> bool:
    """Equal, NaN equal to NaN, and the same type for numbers (no numpy left over)."""
    if callable(expected):
        return bool(expected(got))
    if isinstance(expected, float) and math.isnan(expected):
        return type(got) is float and math.isnan(got)
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and list(got) == list(expected)
            and all(same(got[k], v) for k, v in expected.items())
        )
    if isinstance(expected, (list, tuple)):
        return (
            type(got) is type(expected)
            and len(got) == len(expected)
            and all(same(a, b) for a, b in zip(got, expected, strict=True))
        )
    return type(got) is type(expected) and got == expected


def _recorder(kind: str, make: Callable[[], Any], tids: dict[str, str]) -> Callable[..., Any]:
    @votakvot.track(name=f"kinds/{kind}")
    def body(x: Any) -> Any:
        votakvot.inform(v=make())
        tids[kind] = votakvot.tid() or ""
        return x

    return body


def record_all(root: Path) -> dict[str, str]:
    """One trial per kind under ``root`` (the value as param, informed and returned);
    ``{kind: tid}``. Checks that each call returned the very value it was given."""
    previous = get_config()
    votakvot.init(path=str(root))
    tids: dict[str, str] = {}
    try:
        for kind, make, _ in KINDS:
            given = make()
            assert _recorder(kind, make, tids)(given) is given, kind
    finally:
        set_config(previous)
    return tids
