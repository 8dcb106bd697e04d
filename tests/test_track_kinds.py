"""``@track`` on generator and async generator functions (the trial spans the iteration),
and on ``classmethod``/``staticmethod`` with the decorator above or below them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import votakvot
from votakvot.testing import isolated


@pytest.fixture
def root(tmp_path: Path) -> Iterator[str]:
    with isolated(str(tmp_path / "results")) as path:
        yield path


def _trials(root: str) -> list[votakvot.Trial]:
    return sorted(votakvot.load_trials(root).values(), key=lambda t: t.data["at"]["created"])


def _only(root: str) -> votakvot.Trial:
    (trial,) = _trials(root)
    return trial


# --- generators ---------------------------------------------------------------------------


@votakvot.track("kinds/gen")
def numbers(n: int) -> Iterator[int]:
    for i in range(n):
        votakvot.meter(i=i)
        votakvot.inform(last=i, tid_inside=votakvot.tid())
        yield i
    return n * 10


def test_generator_trial_spans_the_iteration(root: str) -> None:
    """No trial before the first item; running (and current only inside the body) while
    iterated; done at exhaustion with the return value as result and the items counted."""
    gen = numbers(3)
    assert _trials(root) == []
    seen = []
    for item in gen:
        seen.append(item)
        assert votakvot.tid() is None  # the consumer's code is not the trial's
        (running,) = votakvot.load_trials(root).values()
        assert running.recorded_state == "running"
    assert seen == [0, 1, 2]
    trial = _only(root)
    assert trial.state == "done" and trial.result == 30 and trial.data["yielded"] == 3
    assert trial.params == {"n": 3}
    assert trial.info["last"] == 2 and trial.info["tid_inside"] == trial.tid
    assert list(trial.load_metrics()["i"]) == [0, 1, 2]


def test_generator_list_and_send(root: str) -> None:
    """list() works; send() reaches the body."""
    assert list(numbers(2)) == [0, 1]

    @votakvot.track("kinds/echo")
    def echo() -> Iterator[Any]:
        got = yield "ready"
        while got is not None:
            got = yield got * 2

    gen = echo()
    assert next(gen) == "ready"
    assert gen.send(4) == 8
    with pytest.raises(StopIteration):
        gen.send(None)
    echoed = next(t for t in _trials(root) if t.tid.startswith("kinds/echo"))
    assert echoed.state == "done" and echoed.data["yielded"] == 2


def test_generator_that_raises_fails(root: str) -> None:
    @votakvot.track("kinds/bad")
    def bad() -> Iterator[int]:
        yield 1
        raise ValueError("broken at 2")

    with pytest.raises(ValueError, match="broken at 2"):
        list(bad())
    trial = _only(root)
    assert trial.state == "failed" and trial.data["error"]["type"] == "ValueError"
    assert trial.data["yielded"] == 1


def test_generator_closed_early_is_interrupted(root: str) -> None:
    """Leaving a loop early and closing the generator: interrupted, the body's finally ran."""
    cleaned = []

    @votakvot.track("kinds/endless")
    def endless() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            cleaned.append(votakvot.tid())

    gen = endless()
    for item in gen:
        if item == 4:
            break
    gen.close()
    trial = _only(root)
    assert trial.state == "interrupted" and trial.data["error"]["type"] == "GeneratorExit"
    assert cleaned == [trial.tid]  # the finally block still ran inside the trial


def test_generator_throw_reaches_the_body(root: str) -> None:
    @votakvot.track("kinds/catcher")
    def catcher() -> Iterator[str]:
        try:
            yield "a"
        except KeyError:
            yield "caught"

    gen = catcher()
    assert next(gen) == "a"
    assert gen.throw(KeyError("k")) == "caught"
    with pytest.raises(StopIteration):
        next(gen)
    assert _only(root).state == "done"


# --- async generators ---------------------------------------------------------------------


@votakvot.track("kinds/agen")
async def ticks(n: int) -> AsyncIterator[int]:
    for i in range(n):
        await asyncio.sleep(0)
        votakvot.inform(last=i, tid_inside=votakvot.tid())
        yield i


def test_async_generator_trial_spans_the_iteration(root: str) -> None:
    async def consume() -> list[int]:
        out = []
        async for item in ticks(3):
            assert votakvot.tid() is None
            out.append(item)
        return out

    assert asyncio.run(consume()) == [0, 1, 2]
    trial = _only(root)
    assert trial.state == "done" and trial.result is None and trial.data["yielded"] == 3
    assert trial.params == {"n": 3} and trial.info["tid_inside"] == trial.tid


def test_async_generator_closed_early_or_raising(root: str) -> None:
    @votakvot.track("kinds/abad")
    async def abad() -> AsyncIterator[int]:
        yield 1
        raise ValueError("async broken")

    async def run() -> None:
        agen = ticks(10)
        assert await agen.__anext__() == 0
        await agen.aclose()
        with pytest.raises(ValueError, match="async broken"):
            async for _ in abad():
                pass

    asyncio.run(run())
    states = {t.tid.split("/")[1]: t.state for t in _trials(root)}
    assert states == {"agen": "interrupted", "abad": "failed"}


# --- classmethod and staticmethod --------------------------------------------------------


def _classes() -> tuple[Any, Any]:
    """Made per test: on a version without support, decorating itself is what fails."""

    class Model:
        scale = 10

        @votakvot.track("kinds/Model.above")
        @classmethod
        def above(cls, x: int) -> int:
            return cls.scale * x

        @classmethod
        @votakvot.track("kinds/Model.below")
        def below(cls, x: int) -> int:
            return cls.scale * x

        @votakvot.track("kinds/Model.static_above")
        @staticmethod
        def static_above(x: int) -> int:
            return x + 1

        @staticmethod
        @votakvot.track("kinds/Model.static_below")
        def static_below(x: int) -> int:
            return x + 2

    class Bigger(Model):
        scale = 100

    return Model, Bigger


@pytest.mark.parametrize("method", ["above", "below"])
def test_classmethod_either_order(root: str, method: str) -> None:
    """Called on the class, an instance or a subclass: the right cls, the params without it."""
    Model, Bigger = _classes()
    assert getattr(Model, method)(2) == 20
    assert getattr(Model(), method)(3) == 30
    assert getattr(Bigger, method)(1) == 100
    trials = _trials(root)
    assert [t.result for t in trials] == [20, 30, 100]
    assert [dict(t.params) for t in trials] == [{"x": 2}, {"x": 3}, {"x": 1}]
    assert trials[0].tid.startswith(f"kinds/Model.{method}/")


@pytest.mark.parametrize(("method", "plus"), [("static_above", 1), ("static_below", 2)])
def test_staticmethod_either_order(root: str, method: str, plus: int) -> None:
    Model, _ = _classes()
    assert getattr(Model, method)(1) == 1 + plus
    assert getattr(Model(), method)(5) == 5 + plus
    trials = _trials(root)
    assert [dict(t.params) for t in trials] == [{"x": 1}, {"x": 5}]
    assert all(t.state == "done" for t in trials)


def test_classmethod_generator(root: str) -> None:
    """The kinds combine: a classmethod that is a generator."""

    class Source:
        @votakvot.track("kinds/classgen")
        @classmethod
        def items(cls, n: int) -> Iterator[str]:
            for i in range(n):
                yield f"{cls.__name__}{i}"

    assert list(Source.items(2)) == ["Source0", "Source1"]
    trial = _only(root)
    assert trial.state == "done" and trial.params == {"n": 2} and trial.data["yielded"] == 2


def test_not_a_function_is_refused_at_decoration() -> None:
    with pytest.raises(TypeError, match="decorates functions and methods"):
        votakvot.track()(42)  # type: ignore[type-var]


def test_default_names_of_class_methods(root: str) -> None:
    """Without a name, a classmethod's trials go under ``module/Class.method``."""

    class Named:
        @votakvot.track()
        @classmethod
        def make(cls) -> str:
            return cls.__name__

    assert Named.make() == "Named"
    assert _only(root).tid.startswith(
        "test_track_kinds/test_default_names_of_class_methods.Named.make/"
    )
