"""Hypothesis mutates valid trial files (flipped bytes, cuts, spliced lines, code-running
tags, fields swapped for values of another type) and checks what the corpus tests
check: readers never raise anything but a named refusal, never execute anything,
and the fast record parser agrees with the safe YAML loader on every input.

Examples are derandomized, so a run is repeatable; ``make stress`` tries more.
"""

from __future__ import annotations

import collections
import contextvars
import dataclasses
import datetime
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest
from _support import SUMMARY
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import votakvot
from votakvot import _records, _yaml
from votakvot._active import ActiveTrial
from votakvot._config import Config
from votakvot.exceptions import TrialLoadError, VotakvotError

MARKER_DIR = Path(tempfile.mkdtemp(prefix="votakvot-fuzz-markers-"))
QUICK = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
STRESS = settings(QUICK, max_examples=3000)

Point = collections.namedtuple("Point", "x y")


@dataclasses.dataclass
class Box:
    """A dataclass value, recorded with a python tag."""

    size: int
    label: str


def _write_samples(root: Path) -> list[bytes]:
    """Records as votakvot writes them: done, failed, with tagged values, running."""
    config = Config(path=str(root))
    samples = []
    for n, (params, outcome) in enumerate(
        [
            ({"one": 1, "two": "b", "f": 0.5}, 3),
            ({"point": Point(1, 2), "box": Box(3, "x")}, {"nested": [1, {"a": None}]}),
            ({"when": datetime.date(2024, 5, 20), "items": [1, "two", 3.0]}, ValueError("no")),
            ({"text": "multi\nline: with # and 'quotes'", "empty": ""}, None),
        ]
    ):
        trial = ActiveTrial(f"fuzz/{n}", params, function="fuzz.fn", config=config)
        trial.start()
        trial.inform({"note": f"sample {n}", "tags": ["a", "b"]})
        trial.meter({"loss": 0.5, "step": 1})
        if isinstance(outcome, Exception):
            trial.fail(outcome)
        elif outcome is None:
            trial.write_yaml()  # left running, as by a killed process:
            trial._detach()  # not the current trial of whatever runs next
        else:
            trial.succeed(outcome)
        samples.append((root / "fuzz" / str(n) / "votakvot.yaml").read_bytes())
    return samples


# In a context of its own: the trial left running must never be "current" for the tests
# that run after this module is collected.
SAMPLES = contextvars.copy_context().run(
    _write_samples, Path(tempfile.mkdtemp(prefix="votakvot-fuzz-samples-"))
)

HOSTILE_SNIPPETS = [
    f'!!python/object/apply:os.system ["touch {MARKER_DIR}/os_system"]',
    f"!!python/object/new:subprocess.Popen [[touch, {MARKER_DIR}/popen]]",
    f"!!python/object/apply:builtins.exec [\"open('{MARKER_DIR}/exec', 'w')\"]",
    "!!python/name:os.system",
    "!!python/module:os",
    "&a [*a]",
    "*undefined",
    "!Custom {x: 1}",
    "!<tag:evil.example,2024:x> y",
    "{", "[", "'", '"', "- ", "? ", ": ", "|", ">", "%YAML 1.1", "---", "...", "\t", "\x00",
    "\ufeff", "\u2028", "\r", "#", "@", "`", "<<: {a: 1}", "~", ".nan", "0x1F", "1e999",
    "2024-13-45 99:99:99", "9" * 5000,
]

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid record with one to three mutations applied."""
    data = draw(st.sampled_from(SAMPLES))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "cut", "delete", "splice", "insert", "swap"]))
        n = len(data)
        if kind == "flip" and n:
            i = draw(st.integers(0, n - 1))
            data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]
        elif kind == "cut":
            data = data[: draw(st.integers(0, n))]
        elif kind == "delete" and n:
            i = draw(st.integers(0, n - 1))
            data = data[:i] + data[i + draw(st.integers(1, 40)) :]
        elif kind == "splice" and n:
            lines = data.split(b"\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[j])
            data = b"\n".join(lines)
        elif kind == "insert":
            lines = data.split(b"\n")
            i = draw(st.integers(0, len(lines)))
            snippet = draw(st.sampled_from(HOSTILE_SNIPPETS))
            prefix = draw(st.sampled_from(["", "  ", "key: ", "  key: ", "- "]))
            lines.insert(i, (prefix + snippet).encode("utf-8"))
            data = b"\n".join(lines)
        elif kind == "swap":
            try:
                record = _yaml.load(data)
            except Exception:
                continue
            if isinstance(record, dict) and record:
                key = draw(st.sampled_from(sorted(map(str, record))))
                record[key] = draw(ODD_VALUES)
                data = _yaml.dump(record).encode("utf-8")
    return data


def _same(a: Any, b: Any) -> bool:
    return repr(a) == repr(b)  # repr: NaN equals NaN, tags and key order count


def _parsers_agree(raw: bytes) -> None:
    """The fast record parser returns what the safe loader returns, or refuses too."""
    try:
        expected: Any = _yaml.load(raw.decode("utf-8"))
        loader_error: BaseException | None = None
    except Exception as exc:
        expected, loader_error = None, exc
    try:
        parsed: Any = _records.parse_record(raw, "votakvot.yaml")
        parser_error: BaseException | None = None
    except TrialLoadError as exc:
        parsed, parser_error = None, exc
    if parser_error is None:
        assert loader_error is None, f"the fast parser accepted what the loader refuses: {raw!r}"
        assert _same(parsed, expected), f"the fast parser and the loader disagree on {raw!r}"
    elif loader_error is None and isinstance(expected, dict) and expected:
        raise AssertionError(f"the fast parser refused what the loader reads: {raw!r}")


def _load(raw: bytes, report: bool, fields: bool) -> None:
    """load_trials and load_metrics (and with ``report``, load_report) over a folder
    holding the mutated record: the trial is read, or dropped with a message naming
    its file; with ``fields``, every documented Trial attribute can be read too."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "t")
        folder.mkdir()
        (folder / "votakvot.yaml").write_bytes(raw)
        (folder / "votakvot.metrics.00000.csv").write_bytes(b"at,loss\n1.0,0.5\n")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trials = votakvot.load_trials(tmp)
            if report:
                assert len(votakvot.load_report(tmp)) == len(trials)
                assert len(votakvot.load_report(tmp, full=True)) == len(trials)
        assert len(trials) <= 1
        if not trials:
            assert any("votakvot.yaml" in str(w.message) for w in caught), (
                f"a record was dropped without a message: {raw!r}"
            )
        for trial in trials.values():
            assert len(votakvot.load_metrics(trial)) == 1
            if fields:
                for name in ("tid", "id", "state", "params", "info", "meta", "created",
                             "duration", "attached"):
                    getattr(trial, name)
                try:
                    trial.result  # noqa: B018 - reading it is the check
                except VotakvotError:
                    pass


@QUICK
@given(mutated())
def test_mutated_records_load(raw: bytes) -> None:
    """150 mutated records: load_trials and load_metrics read each or drop it with a
    message naming the file, never raise, and no mutation runs code."""
    SUMMARY["fuzz_examples"] += 1
    _load(raw, report=False, fields=False)


@pytest.mark.stress
@STRESS
@given(mutated())
def test_mutated_records_load_stress(raw: bytes) -> None:
    """The same with 3000 mutated records."""
    SUMMARY["fuzz_examples"] += 1
    _load(raw, report=False, fields=False)


@QUICK
@given(mutated())
@example(SAMPLES[0][: SAMPLES[0].index(b"\nat:\n") + 8])
def test_mutated_records_report(raw: bytes) -> None:
    """load_report (plain and full) over each mutated record: one row or a named skip."""
    _load(raw, report=True, fields=False)


@QUICK
@given(mutated())
@example(SAMPLES[0].replace(b"\ninfo:\n", b"\ninfo: 1\nx:\n", 1))
def test_mutated_records_fields(raw: bytes) -> None:
    """Every documented Trial attribute of a mutated record that was read can be read."""
    _load(raw, report=False, fields=True)


@QUICK
@given(mutated())
@example(b"!!python/object/new:subprocess.Popen [[touch, x]]\n" + SAMPLES[0])
@example(SAMPLES[0].replace(b"\nat:\n", b"\nat:\n\xef\xbb\xbf\n", 1))
def test_fast_parser_agrees_with_safe_loader(raw: bytes) -> None:
    """The fast record parser and the safe loader read every mutated record alike."""
    _parsers_agree(raw)


@st.composite
def mutated_metrics(draw: st.DrawFn) -> bytes:
    """A metric file votakvot wrote, with flipped bytes, cuts or spliced rows."""
    data = b"at,loss,step\n1716199200.0,0.5,1\n1716199201.0,0.25,2\n1716199202.0,0.125,3\n"
    for _ in range(draw(st.integers(1, 3))):
        n = len(data)
        kind = draw(st.sampled_from(["flip", "cut", "splice"]))
        if kind == "flip":
            i = draw(st.integers(0, n - 1))
            data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]
        elif kind == "cut":
            data = data[: draw(st.integers(0, n))]
        else:
            i, j = sorted((draw(st.integers(0, n)), draw(st.integers(0, n))))
            data = data[:i] + data[j:] + data[i:j]
    return data


# Each bad file is named in a SkippedMetricsWarning: expected here, once per example.
@pytest.mark.filterwarnings("ignore::votakvot.exceptions.SkippedMetricsWarning")
@QUICK
@given(mutated_metrics())
@example(b"at,loss\nyesterday,0.5\n1.0,0.25\n")
def test_mutated_metrics(raw: bytes) -> None:
    """Mutated metric files: load_metrics returns the rows it can read (the good file
    next to it included) and names the bad file in a warning; it never raises."""
    SUMMARY["fuzz_examples"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "votakvot.yaml").write_text(
            "votakvot: 0.2.0\ntid: t\nstate: running\nparams: {}\n"
        )
        (Path(tmp) / "votakvot.metrics.00000.csv").write_bytes(raw)
        (Path(tmp) / "votakvot.metrics.00001.csv").write_bytes(b"at,loss\n9.0,1.0\n")
        frame = votakvot.load_metrics(tmp)
        assert len(frame) >= 1


def test_no_mutation_ran_code() -> None:
    """None of the code-running snippets spliced into records created its marker file
    (runs after the fuzz tests of this module)."""
    assert os.listdir(MARKER_DIR) == []
