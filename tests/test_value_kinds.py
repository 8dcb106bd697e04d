"""Values experiment code records every day are stored as what users meant, and no
reader ever drops a trial because one value is odd (issue 12, part 1; docs/values.md)."""

from __future__ import annotations

import json
import logging
import math
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from value_kinds import IDS, KINDS, Color, Opaque, same

import votakvot
from votakvot import _values, _yaml, cli
from votakvot._config import get_config, set_config
from votakvot.exceptions import UnreadableValueWarning
from votakvot.report import SkippedTrialWarning

EXPECTED = {kind: expected for kind, _, expected in KINDS}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """One trial per kind: ``(root, {kind: tid})``."""
    from value_kinds import record_all

    root = tmp_path_factory.mktemp("kinds") / "results"
    return root, record_all(root)


def _quiet_load(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a reader; fail on any warning that a trial was skipped or a value unread."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call(*args, **kwargs)
    bad = [
        str(w.message)
        for w in caught
        if issubclass(w.category, (SkippedTrialWarning, UnreadableValueWarning))
    ]
    assert not bad, bad
    return out


@pytest.fixture(scope="module")
def loaded(recorded: tuple[Path, dict[str, str]]) -> tuple[dict[str, Any], list[str]]:
    """load_trials over every kind, and the warnings it gave."""
    root, _ = recorded
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trials = votakvot.load_trials(str(root))
    return trials, [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def trials(loaded: tuple[dict[str, Any], list[str]]) -> dict[str, Any]:
    found, messages = loaded
    assert not messages, messages
    return found


@pytest.mark.parametrize("kind", IDS)
@pytest.mark.parametrize("use", ["param", "info", "result"])
def test_each_kind_reads_back_as_documented(recorded, loaded, kind: str, use: str) -> None:
    """load_trials gives the documented plain value, wherever the value was recorded."""
    _, tids = recorded
    found, messages = loaded
    about = [m for m in messages if tids[kind] in m or f"/{kind}/" in m]
    assert not about, about
    trial = found[tids[kind]]
    assert trial.state == "done"
    got = {
        "param": trial.data["params"]["x"],
        "info": trial.data["info"]["v"],
        "result": trial.data["result"],
    }[use]
    assert same(got, EXPECTED[kind]), f"{kind} as {use}: read back {got!r}"


def _flat(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(f"{prefix}.{key}", item))
        return out
    return {prefix: value}


def _loose(a: Any, b: Any) -> bool:
    """Equal as a DataFrame cell may hold it (1 may have become 1.0 in a float column)."""
    if isinstance(b, float) and math.isnan(b):
        return isinstance(a, float) and math.isnan(a)
    if b is None:
        return a is None or (isinstance(a, float) and math.isnan(a))
    return bool(a == b)


def test_load_report_has_a_row_for_every_kind(recorded, trials) -> None:
    """Every kind's trial is a ``done`` row of load_report, with its param, info and
    result cells (dicts flattened into ``x.a`` columns) as load_trials read them."""
    root, tids = recorded
    report = _quiet_load(votakvot.load_report, str(root))
    assert len(report) == len(KINDS)
    rows = {row["tid"]: row for row in report.to_dict("records")}
    for kind in IDS:
        row = rows[tids[kind]]
        assert row["state"] == "done", kind
        data = trials[tids[kind]].data
        expected = {
            **_flat("x", data["params"]["x"]),
            **_flat("v", data["info"]["v"]),
            **_flat("result", data["result"]),
        }
        for column, value in expected.items():
            assert _loose(row[column], value), f"{kind}: {column} is {row[column]!r}, not {value!r}"


def test_cli_report_lists_every_kind(recorded, capsys) -> None:
    """``votakvot report`` (table and JSON) lists every kind's trial as done."""
    root, tids = recorded
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkippedTrialWarning)
        assert cli.main(["report", str(root), "--format", "json"]) == 0
        out = capsys.readouterr()
        assert cli.main(["report", str(root)]) == 0
        table = capsys.readouterr().out
    assert "skipped" not in out.err
    rows = {r["tid"]: r for r in map(json.loads, out.out.splitlines())}
    assert set(rows) == set(tids.values())
    assert all(r["state"] == "done" for r in rows.values())
    assert rows[tids["np_float64"]]["result"] == 1.5
    assert rows[tids["np_array_1d"]]["x"] == [0, 1, 2]
    assert rows[tids["enum"]]["v"] == "RED"
    assert table.count(" done ") >= len(KINDS) or table.count("done") >= len(KINDS)


def test_readme_numpy_example_is_a_row(root: Path) -> None:
    """The issue's first example: ``return np.mean(losses)`` is a row with a float."""

    @votakvot.track()
    def train(lr: Any) -> Any:
        return np.mean([1.0, 2.0, 4.0])

    train(np.float32(0.5))
    report = _quiet_load(votakvot.load_report, str(root))
    assert report["result"].tolist() == [pytest.approx(7 / 3)]
    assert report["lr"].tolist() == [0.5]


def test_record_holds_only_tags_the_reader_resolves(recorded) -> None:
    """No ``!!python/object/apply`` (a pickle) or ``!!python/name`` is ever written."""
    root, _ = recorded
    for path in root.rglob("votakvot.yaml"):
        text = path.read_text()
        assert "object/apply" not in text and "python/name" not in text, path
        assert "numpy" not in text.replace("numpy.ndarray shape", ""), path


# --- writing never stops the call ---------------------------------------------------


def test_unrepresentable_value_warns_once_per_trial_and_field(root: Path, caplog) -> None:
    """The record is written at start, on flushes and at the end; the warning is one."""
    from votakvot._flusher import flusher as _flusher

    @votakvot.track()
    def fn(x: Any) -> str:
        for i in range(3):
            votakvot.inform(odd=Opaque(), step=i)
            _flusher.flush_now()
        return "ok"

    with caplog.at_level(logging.WARNING, logger="votakvot"):
        assert fn(Opaque()) == "ok"
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "params.x (value_kinds.Opaque)" in m]) == 1, messages
    assert len([m for m in messages if "info.odd (value_kinds.Opaque)" in m]) == 1, messages
    trial = next(iter(votakvot.load_trials(str(root)).values()))
    assert trial.data["info"]["odd"].startswith("<value_kinds.Opaque object; repr failed")


def test_self_referencing_and_deep_values_never_stop_the_call(root: Path) -> None:
    """A dict that contains itself and a list nested 2000 deep: the body runs, the
    record is readable, markers stand where the value could not go on."""
    me: dict[str, Any] = {"a": 1}
    me["me"] = me
    deep: list[Any] = []
    for _ in range(2000):
        deep = [deep]

    @votakvot.track()
    def fn(me: Any, deep: Any) -> int:
        return 42

    assert fn(me, deep) == 42
    trial = next(iter(_quiet_load(votakvot.load_trials, str(root)).values()))
    params = trial.data["params"]
    assert params["me"] == {"a": 1, "me": "<dict that contains itself>"}
    inner = params["deep"]
    depth = 0
    while isinstance(inner, list):
        inner, depth = inner[0], depth + 1
    assert inner == f"<list nested deeper than {_values.MAX_DEPTH} levels>"
    assert depth == _values.MAX_DEPTH  # counted from the params section


def test_a_record_never_grows_past_what_readers_accept(root: Path, monkeypatch, caplog) -> None:
    """Many medium values summing past the limit (here lowered to 300 KB): the
    record is summarised until it fits, with warnings naming the fields."""
    limit = 300_000
    monkeypatch.setattr(_values, "MAX_RECORD", limit)

    @votakvot.track()
    def fn() -> dict[str, Any]:
        votakvot.inform(text="x" * 200_000)
        return {f"part{i}": list(range(5_000)) for i in range(20)}

    with caplog.at_level(logging.WARNING, logger="votakvot"):
        result = fn()
    assert len(result) == 20
    (path,) = root.rglob("votakvot.yaml")
    assert path.stat().st_size <= limit
    trial = next(iter(_quiet_load(votakvot.load_trials, str(root)).values()))
    assert trial.state == "done"
    assert trial.data["result"]["part0"].startswith("<list len=5000 first=[0, 1, 2, 3, 4]>")
    assert any("result.part0 is too big" in r.getMessage() for r in caplog.records)


def test_plain_records_never_pay_for_normalising(monkeypatch) -> None:
    """The fast path stays fast: a record of plain values never calls to_plain."""
    calls: list[str] = []
    real = _values.to_plain

    def counting(value: Any, where: str = "value", tid: str = "") -> Any:
        calls.append(where)
        return real(value, where, tid)

    monkeypatch.setattr(_values, "to_plain", counting)
    plain = {"tid": "t", "params": {"a": 1, "b": [1.5, "x"]}, "info": {}, "result": {"k": None}}
    text = _values.dump_record(plain, "t")
    assert calls == []
    _values.dump_record({**plain, "result": np.float64(2.5)}, "t")
    assert calls == ["result"]
    assert _yaml.load(text) == plain


# --- reading records earlier versions wrote -----------------------------------------

# What PyYAML's full dumper wrote for numpy 1.x values (numpy.core; 2.x says numpy._core).
NUMPY1_FLOAT64 = """\
!!python/object/apply:numpy.core.multiarray.scalar
- !!python/object/apply:numpy.dtype
  args:
  - f8
  - false
  - true
  state: !!python/tuple
  - 3
  - <
  - null
  - null
  - null
  - -1
  - -1
  - 0
- !!binary |
  AAAAAAAA+D8=
"""


def _old_record(root: Path, name: str, fields: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    head = f"votakvot: 0.2.0\nid: {name}\ntid: {name}\nstate: done\n"
    (folder / "votakvot.yaml").write_text(head + fields)
    return folder / "votakvot.yaml"


def test_old_records_with_numpy_tags_load_with_their_values(tmp_path: Path) -> None:
    """Records earlier versions wrote with numpy pickles (the real bytes of PyYAML's
    full dumper) are rows again, their numbers decoded without importing numpy."""
    result = "result: " + textwrap.indent(NUMPY1_FLOAT64, "  ").lstrip()
    _old_record(tmp_path, "numpy1", result)
    now = yaml.dump(
        {
            "params": {"lr": np.float32(0.25), "n": np.int64(-3), "ok": np.bool_(True)},
            "info": {"w": np.arange(6, dtype="<i4").reshape(2, 3), "f": np.asfortranarray(
                np.arange(6.0).reshape(3, 2)
            ), "c": np.complex128(1 + 2j)},
            "result": np.array(2.5),
        }
    )
    _old_record(tmp_path, "numpy2", now)
    trials = _quiet_load(votakvot.load_trials, str(tmp_path))
    assert trials["numpy1"].data["result"] == 1.5
    data = trials["numpy2"].data
    assert same(data["params"], {"lr": 0.25, "n": -3, "ok": True})
    assert data["info"]["w"] == [[0, 1, 2], [3, 4, 5]]
    assert data["info"]["f"] == np.arange(6.0).reshape(3, 2).tolist()
    assert data["info"]["c"] == 1 + 2j
    assert data["result"] == 2.5
    assert len(_quiet_load(votakvot.load_report, str(tmp_path))) == 2


def test_old_records_with_stdlib_pickles_load(tmp_path: Path) -> None:
    """OrderedDict, Counter, defaultdict, deque, frozenset, range and bytearray, as
    PyYAML wrote them, read back as the plain values votakvot now writes."""
    import collections

    values = {
        "o": collections.OrderedDict(a=1),
        "c": collections.Counter("aab"),
        "d": collections.defaultdict(list, a=[1]),
        "q": collections.deque([1, 2]),
        "f": frozenset([1]),
        "r": range(3),
        "b": bytearray(b"a\xff"),
    }
    _old_record(tmp_path, "stdlib", yaml.dump({"params": values, "result": None}))
    params = _quiet_load(votakvot.load_trials, str(tmp_path))["stdlib"].data["params"]
    assert params == {
        "b": b"a\xff",
        "c": {"a": 2, "b": 1},
        "d": {"a": [1]},
        "f": {1},
        "o": {"a": 1},
        "q": [1, 2],
        "r": [0, 1, 2],
    }


@pytest.mark.parametrize(
    "value, tag",
    [
        ("!!python/object/apply:os.system ['true']", "python/object/apply:os.system"),
        (yaml.dump(pd.Timestamp("2024-01-02")).strip(),
         "python/object/apply:pandas._libs.tslibs.timestamps._unpickle_timestamp"),
        ("!custom {a: 1}", "custom"),
        ("!<tag:example.com,2024:thing> 5", "tag:example.com,2024:thing"),
        ("!!python/unknownkind:x 5", "python/unknownkind:x"),
    ],
)
def test_a_refused_or_unknown_tag_is_a_placeholder_not_a_lost_trial(
    tmp_path: Path, value: str, tag: str
) -> None:
    """The trial stays a row with its other values; the odd one is an inert
    Placeholder; one warning names the file and the field; nothing is called."""
    fields = "params:\n  lr: 0.5\n  odd:\n" + textwrap.indent(value, "    ") + "\nresult: 3\n"
    fields = fields.replace("odd:\n    ", "odd: ", 1)
    path = _old_record(tmp_path, "odd", fields)
    for reader in (votakvot.load_report, votakvot.load_trials):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = reader(str(tmp_path))
        unread = [w for w in caught if issubclass(w.category, UnreadableValueWarning)]
        assert not [w for w in caught if issubclass(w.category, SkippedTrialWarning)]
        assert len(unread) == 1, [str(w.message) for w in caught]
        assert str(path) in str(unread[0].message)
        assert "'params.odd'" in str(unread[0].message)
        assert len(out) == 1
    with pytest.warns(UnreadableValueWarning):
        trial = votakvot.load_trials(str(tmp_path))["odd"]
    odd = trial.data["params"]["odd"]
    assert isinstance(odd, _yaml.Placeholder) and odd.tag == tag
    assert trial.data["params"]["lr"] == 0.5 and trial.data["result"] == 3


class _Halver(votakvot.resumable_fn):
    """Finishes in one loop with its param halved."""

    snapshot_period = None

    def init(self, lr: Any, color: Any) -> None:
        self.lr = lr

    def loop(self) -> Any:
        return self.lr / 2


def test_a_finished_resumable_trial_with_odd_params_is_found_again(root: Path) -> None:
    """Asking again for a finished trial with the same numpy and Enum params returns
    it: the params are compared as they were recorded, not as pickles."""
    first = votakvot.run("sweep/a", _Halver, lr=np.float32(0.5), color=Color.RED)
    again = votakvot.run("sweep/a", _Halver, lr=np.float32(0.5), color=Color.RED)
    assert again.result == first.result == 0.25
    assert again.data["params"] == {"lr": 0.5, "color": "RED"}
    with pytest.raises(votakvot.ResumeError, match="other params"):
        votakvot.run("sweep/a", _Halver, lr=np.float32(0.5), color="BLUE")


def test_a_meta_provider_returning_numpy_is_recorded(tmp_path: Path, caplog) -> None:
    """Providers are user code too: an array from one is stored as a list, no error."""
    previous = get_config()
    votakvot.init(path=str(tmp_path), meta_providers={"gpu.memory": lambda: np.array([1, 2])})
    try:

        @votakvot.track()
        def fn() -> int:
            return 1

        with caplog.at_level(logging.WARNING, logger="votakvot"):
            fn()
            fn()
    finally:
        set_config(previous)
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    trials = _quiet_load(votakvot.load_trials, str(tmp_path))
    assert [t.data["meta"]["gpu"]["memory"] for t in trials.values()] == [[1, 2], [1, 2]]


class _Hostile:
    """Every attribute lookup raises something other than AttributeError."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")


def test_a_hostile_value_costs_only_its_own_field(root: Path) -> None:
    """Its siblings in the same mapping are recorded as usual; it becomes its repr."""

    @votakvot.track()
    def fn(cfg: Any) -> int:
        return 1

    fn({"lr": np.float64(0.5), "odd": _Hostile()})
    trial = next(iter(_quiet_load(votakvot.load_trials, str(root)).values()))
    cfg = trial.data["params"]["cfg"]
    assert cfg["lr"] == 0.5
    assert cfg["odd"].startswith("<test_value_kinds._Hostile object at")
