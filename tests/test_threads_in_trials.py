"""Threads inside a tracked call (issue 17): pools follow the trial, plain threads are
told how to.

A ``ThreadPoolExecutor`` task submitted inside a trial runs in a copy of the
submitter's context, as an asyncio task does; a plain ``threading.Thread`` starts
with an empty context, and the warning its ``meter`` gets names the fix.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import logging
import threading
from pathlib import Path

import votakvot
from votakvot.metrics import load_metrics
from votakvot.trial import read_trial


def records(root: Path) -> dict[str, list]:
    found: dict[str, list] = {}
    for yaml in sorted(root.rglob("votakvot.yaml")):
        trial = read_trial(str(yaml.parent))
        assert trial is not None
        found.setdefault(trial.data["function"].rpartition(".")[2], []).append(trial)
    return found


@votakvot.track()
def inner(i: int) -> str | None:
    return votakvot.tid()


def task(i: int) -> str | None:
    votakvot.meter(i=i)
    votakvot.inform(**{f"from_task_{i}": i})
    return votakvot.tid()


def test_pool_tasks_submitted_inside_a_trial_record_into_it(root: Path) -> None:
    """meter/inform/tid in pool tasks reach the trial that submitted them, and tracked
    calls run on pool threads name it as their parent."""

    @votakvot.track()
    def outer() -> list:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            tids = list(pool.map(task, range(6)))
            children = [pool.submit(inner, i).result() for i in range(2)]
        return [sorted(set(tids)), children]

    result = outer()
    found = records(root)
    (parent,) = found["outer"]
    assert result[0] == [parent.tid]
    assert sorted(load_metrics(parent)["i"]) == list(range(6))
    assert parent.data["info"] == {f"from_task_{i}": i for i in range(6)}
    assert len(found["inner"]) == 2
    for child in found["inner"]:
        assert child.data["parent"] == parent.tid
        assert child.tid in result[1]  # each inner call saw its own trial, not the outer one


def test_a_pool_made_before_the_trial_follows_the_trial_that_submits(root: Path) -> None:
    with concurrent.futures.ThreadPoolExecutor(2) as pool:

        @votakvot.track()
        def first() -> str | None:
            return pool.submit(inner, 1).result()

        @votakvot.track()
        def second() -> str | None:
            return pool.submit(inner, 2).result()

        first()
        second()
        outside = pool.submit(votakvot.tid).result()
    found = records(root)
    parents = sorted(t.tid for t in found["first"] + found["second"])
    assert sorted(child.data["parent"] for child in found["inner"]) == parents
    assert outside is None  # submitted outside any trial: the task sees none


def test_plain_thread_warning_names_the_fix_and_the_fix_works(root: Path, caplog) -> None:
    """A plain Thread does not see the trial (Python starts threads with an empty
    context); its meter() warning says how to keep the rows, and doing so keeps them."""

    @votakvot.track()
    def outer() -> None:
        plain = threading.Thread(target=task, args=(1,))
        plain.start()
        plain.join()
        kept = threading.Thread(target=contextvars.copy_context().run, args=(task, 2))
        kept.start()
        kept.join()

    with caplog.at_level(logging.WARNING, logger="votakvot"):
        outer()
    (parent,) = records(root)["outer"]
    assert list(load_metrics(parent)["i"]) == [2]
    messages = [r.getMessage() for r in caplog.records]
    warned = [m for m in messages if "outside any tracked call" in m]
    assert warned, caplog.text
    assert all("contextvars.copy_context().run" in message for message in warned)
