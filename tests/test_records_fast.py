"""The key-lines fast path of the record parser gives exactly what the safe loader gives."""

from __future__ import annotations

import pytest

from votakvot import _records, _yaml
from votakvot._records import parse_record

CASES = [
    "tid: a\nstate: done\nresult: 1\n",
    "tid: a\nmeta:\n  git:\n    commit: abc\nstate: done\nresult: 2\n",
    "tid: a\nstate: done\nresult: 3\nmeta:\n  x: 1\n",
    "meta:\n  x: 1\ntid: a\n",
    "tid: a\nstate: done\ntid: b\nresult: null\n",  # duplicate keys: first place, last value
    "tid: a\nmeta:\n  x: 1\nmeta:\n  y: 2\n",  # meta twice
    "tid: a\nparams:\n  one: yes\n  two: ~\n  three: 0x1f\n  four: 1_000\n  five: .inf\n",
    'tid: a\nparams:\n  s: "caf\\u00e9"\n  t: "tab\\there"\n  u: "plain"\n  v: ""\n',
    'tid: a\nparams:\n  q: "a \\"quoted\\" b"\n  w: "back\\\\slash"\n',
    "tid: a\nat:\n  created: 2026-01-01 10:00:00.5+02:00\n  day: 2026-01-01\n",
    "tid: a\nparams:\n  opt:\n    lr: 0.1\n    deep:\n      x: 1\n  after: 2\nresult: {}\n",
    "tid: a\nparams:\n  a b.c-d/e: 1\n  empty:\ninfo: []\n",
    "tid: a\nparams:\n  x: 1 # not a comment here\n",
    "tid: a\nparams:\n  x: a: b\n",
    "tid: a\nparams:\n   odd: 1\n  even: 2\n",  # inconsistent indentation
    "tid: a\nparams:\n  - 1\n  - 2\n",
    "tid: a\nvalue: 'single'\n",
    "tid: a\nvalue: !!str 12\n",
    "tid: a\n# a comment\nstate: done\n",
    "tid: a\nlist: [1, 2]\nmap: {a: 1}\n",
    "tid: a\nnote: |\n  text\nmeta:\n  x: 1\n",
    "tid: a\nnote: plain\n  continued\n",
    "tid: a\nx: 12:30:00\ny: 1e3\nz: 1.0e+3\nw: -.5\nv: +1\n",
    'tid: a\nk: """\n',
]


@pytest.mark.parametrize("text", CASES)
def test_same_as_the_safe_loader(text: str) -> None:
    """Each shape (fast path or not) reads as PyYAML's safe loader reads it, order included."""
    try:
        expected = _yaml.load(text, [])
    except Exception:
        with pytest.raises(Exception):  # any refusal, as the loader refuses
            parse_record(text.encode(), "x")
        return
    if not isinstance(expected, dict):
        return
    for shared in (False, True):
        got = parse_record(text.encode(), "x", shared=shared)
        assert got == expected
        assert list(got) == list(expected)


def test_fast_path_is_taken_for_what_the_writer_emits() -> None:
    """A record of key lines with a meta section is read by the fast path."""
    text = "tid: a\nstate: done\nmeta:\n  git:\n    commit: abc\nresult: 1\n"
    assert _records._fast(text, True, []) == _yaml.load(text, [])
    assert _records._fast("tid: a\n  - x\n", True, []) is None


def test_cached_values_are_never_shared_mutables() -> None:
    """``{}`` and ``[]`` are fresh objects in every record, even from the value cache."""
    one = parse_record(b"tid: a\nstate: done\nresult: {}\ninfo: []\n", "x")
    two = parse_record(b"tid: a\nstate: done\nresult: {}\ninfo: []\n", "x")
    assert one["result"] is not two["result"] and one["info"] is not two["info"]
