"""``votakvot.run`` records a trial that spans the whole work of generators and
``async def`` functions, never the generator object or coroutine as the result."""

from __future__ import annotations

import asyncio

import pytest

import votakvot


def counting(n):
    for i in range(n):
        votakvot.meter(i=i)
        yield i
    return "finished"


async def sleepy(x):
    await asyncio.sleep(0)
    return x * 2


async def agen(n):
    for i in range(n):
        yield i


def test_run_generator_function(tmp_path):
    """The generator is run to its end: result is its return value, ``yielded`` its count."""
    votakvot.init(path=str(tmp_path))
    trial = votakvot.run("gen/n=3", counting, n=3)
    assert trial.state == "done"
    assert trial.result == "finished"
    assert trial.data["yielded"] == 3
    assert votakvot.metrics.load_metrics(trial)["i"].tolist() == [0, 1, 2]


def test_run_async_function(tmp_path):
    """An ``async def`` is awaited in a loop of its own; its value is the result."""
    votakvot.init(path=str(tmp_path))
    trial = votakvot.run("async/x=4", sleepy, x=4)
    assert trial.state == "done"
    assert trial.result == 8


def test_run_async_generator(tmp_path):
    """An async generator is consumed; ``yielded`` counts its items."""
    votakvot.init(path=str(tmp_path))
    trial = votakvot.run("agen/n=2", agen, n=2)
    assert trial.state == "done"
    assert trial.data["yielded"] == 2


def test_run_async_inside_a_loop_is_refused(tmp_path):
    """Inside a running loop ``run`` cannot block on it: a TypeError says what to do."""
    votakvot.init(path=str(tmp_path))

    async def main():
        with pytest.raises(TypeError, match=r"@votakvot\.track"):
            votakvot.run("async/x=1", sleepy, x=1)

    asyncio.run(main())
