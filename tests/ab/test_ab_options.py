"""The one options dataclass: argv -> Options -> argv gives every option back."""

from __future__ import annotations

import dataclasses

import pytest

from votakvot.ab.cli import parse
from votakvot.ab.options import (
    OptionError,
    Options,
    argument_item,
    format_number,
    parse_seconds,
    parse_warmup,
)
from votakvot.ab.target import parse_kwargs

# Each option of votakvot-ab, alone, in the form to_argv writes it.
EVERY_OPTION = [
    ["-n", "500"],
    ["-d", "1.5"],
    ["-d", "0.1"],
    ["-c", "8"],
    ["--gevent"],
    ["--processes", "2", "-c", "4"],
    ["-w", "100"],
    ["-w", "2s"],
    ["-w", "0.25s"],
    ["-q", "50"],
    ["-q", "12.5"],
    ["--strict"],
    ["--max-errors", "3"],
    ["-p", "/tmp/results"],
    ["-p", "memory://r"],
    ["-t", "ab/m.f/mine"],
    ["--json"],
    ["--quiet"],
]


@pytest.mark.parametrize("extra", EVERY_OPTION, ids=lambda a: " ".join(a))
def test_every_option_round_trips(extra: list[str]) -> None:
    """argv -> Options -> argv -> Options is the same options, and to_argv is a fixpoint."""
    opts = parse([*extra, "m.f", "x=1"])
    argv = opts.to_argv()
    again = parse(argv)
    assert again == opts
    assert again.to_argv() == argv
    for word in extra:  # each option given is written back as given
        assert word in argv


def test_all_options_at_once_round_trip() -> None:
    argv = [
        "-d", "2.5", "-c", "6", "--gevent", "--processes", "3", "-q", "40", "-w", "1s",
        "--strict", "--max-errors", "2", "-p", "/r", "-t", "t/1", "--json", "--quiet",
        "mod.f", "a=1", "b=x y", "c='3'", "d=[1, 'z']",
    ]  # fmt: skip
    opts = parse(argv)
    assert (opts.duration, opts.number, opts.concurrency, opts.processes) == (2.5, None, 6, 3)
    assert (opts.gevent, opts.rate, opts.warmup_seconds, opts.strict) == (True, 40.0, 1.0, True)
    assert opts.kwargs == {"a": 1, "b": "x y", "c": "3", "d": [1, "z"]}
    assert opts.to_argv() == argv
    assert parse(opts.to_argv()) == opts


def test_defaults_are_written_out() -> None:
    """-n, -c and -p are always written, so the command says what it does."""
    assert Options("m.f").to_argv() == ["-n", "1", "-c", "1", "-p", ".", "m.f"]
    assert parse(["m.f"]) == Options("m.f")


def test_short_concurrency_is_c() -> None:
    assert parse(["-100", "m.f"]).concurrency == 100
    assert parse(["-n", "5", "-3", "m.f"]) == Options("m.f", number=5, concurrency=3)


@pytest.mark.parametrize(
    "value",
    ["plain", "http://x y", "3", "'q'", "", 3, 1.5, None, True, [1, "a"], {"k": (1, 2)}, 'a"b'],
)
def test_argument_items_read_back(value: object) -> None:
    item = argument_item("k", value)
    assert parse_kwargs([item]) == {"k": value}


def test_params_round_trip() -> None:
    """What the trial records reads back as the same options (for "run again")."""
    opts = Options(
        "m.f",
        {"n": 3},
        number=None,
        duration=4.0,
        concurrency=4,
        processes=2,
        warmup_seconds=0.5,
        rate=10.0,
        strict=True,
        max_errors=5,
        path="/r",
    )
    assert Options.from_params(opts.params(), "/r") == opts
    assert Options.from_params({"callable": "m.f"}) == Options("m.f")


def test_text_readers() -> None:
    assert parse_seconds("250ms") == 0.25
    assert parse_seconds("1m") == 60.0
    assert parse_warmup("100") == (100, 0.0)
    assert parse_warmup("2s") == (0, 2.0)
    assert format_number(50.0) == "50"
    assert format_number(1234567.25) == "1234567.25"


def test_checks_name_the_field_both_ways() -> None:
    """One check, named as the command line names it or as the form does."""
    with pytest.raises(OptionError) as info:
        dataclasses.replace(Options("m.f"), processes=3, concurrency=2).validate()
    assert str(info.value).startswith("--processes 3 needs at least as many workers")
    assert info.value.named(form=True).startswith("processes (3) needs at least as many")
    with pytest.raises(OptionError) as info:
        Options("m.f", number=0).validate()
    assert str(info.value) == "-n/--number must be >= 1 (got 0)"
    assert info.value.named(form=True) == "calls (-n) must be >= 1 (got 0)"
