"""A call a runner ran again is one row in the dashboard, as in ``load_report``:
its earlier attempts (``superseded``) show with ``A`` or a query that names them."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_helpers import loaded, rows, wait_for

import votakvot
from votakvot_tui import make_app


def flaky(marker: str) -> str:
    """Fails on its first call, then succeeds: one call, two attempts."""
    flag = Path(marker)
    if not flag.exists():
        flag.write_text("failed once")
        raise RuntimeError("first attempt fails")
    return "ok"


@pytest.fixture
def retried(root: Path, tmp_path: Path) -> Path:
    votakvot.init(path=str(root), runner="thread", workers=1)
    assert votakvot.map(flaky, [{"marker": str(tmp_path / "flag")}], retries=1) == ["ok"]
    report = votakvot.load_report(str(root), attempts=True)
    assert sorted(report["state"]) == ["done", "superseded"]
    return root


async def test_earlier_attempts_are_hidden_until_asked(retried: Path) -> None:
    app = make_app([str(retried)], watch=False)
    async with app.run_test(size=(120, 30)) as pilot:
        shown = await loaded(pilot, 1)
        assert [r.state for r in shown] == ["done"]
        await pilot.press("A")
        await wait_for(pilot, lambda: sorted(r.state for r in rows(app)) == ["done", "superseded"])
        assert len({r.tid for r in rows(app)}) == 1  # one call, two attempts
        await pilot.press("A")
        await wait_for(pilot, lambda: [r.state for r in rows(app)] == ["done"])


async def test_a_query_naming_superseded_shows_them(retried: Path) -> None:
    app = make_app([str(retried)], watch=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot, 1)
        await pilot.press("slash")
        await pilot.press(*'state == "superseded"', "enter")
        await wait_for(pilot, lambda: [r.state for r in rows(app)] == ["superseded"])
