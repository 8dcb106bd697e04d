"""Plot and compare on many marked trials: capped, read and drawn off the event loop,
named by what differs, stoppable with Escape; and the design points of both screens."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import yaml
from textual.widgets import DataTable, Label, SelectionList, Static
from tui_helpers import T0, loaded, uid, wait_for, write_trial

import votakvot.metrics
from votakvot_tui import make_app
from votakvot_tui.core.labels import MAX_SHOWN, trial_label, trial_labels
from votakvot_tui.messages import MetricsChanged
from votakvot_tui.screens import CompareScreen, PlotScreen
from votakvot_tui.screens.compare import CELL_WIDTH, FOLDED, lower_is_better
from votakvot_tui.widgets import TrialTable, plot_canvas
from votakvot_tui.widgets._plot_builder import NICENESS
from votakvot_tui.widgets.plot_canvas import PALETTE, Figure, PlotCanvas, Series, integer_ticks


def _trials(root: Path, n: int, **extra: Any) -> list[Path]:
    """``n`` trainings with a loss curve, ``lr`` and ``bs`` differing between them."""
    out = []
    for i in range(n):
        loss = [round(1 / (1 + e * (i + 1)), 4) for e in range(10)]
        out.append(
            write_trial(
                root,
                "demo.train",
                uid(100 + i),
                when=T0 + datetime.timedelta(minutes=i),
                params={"lr": [0.1, 0.01][i % 2], "bs": 32 * (1 + i // 2), "seed": 1, **extra},
                result={"loss": loss[-1], "accuracy": round(1 - loss[-1], 4)},
                metrics=[{"epoch": e, "loss": v} for e, v in enumerate(loss)],
            )
        )
    return out


def _with_tid(root: Path, folder: Path, tid: str) -> Path:
    """Move a trial to ``root/tid`` and record that tid, as ``votakvot.run(tid=...)`` does."""
    target = root / tid
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(folder, target)
    record = target / "votakvot.yaml"
    old = f'tid: "{folder.relative_to(root)}"'
    text = record.read_text()
    assert old in text
    text = text.replace(old, f'tid: "{tid}"')
    record.write_text(text)
    return target


async def _open(pilot: Any, key: str, paths: list[Path], kind: type) -> Any:
    pilot.app.screen.query_one(TrialTable).selected = {str(p) for p in paths}
    await pilot.press(key)
    return await wait_for(pilot, lambda: isinstance(pilot.app.screen, kind) and pilot.app.screen)


def _text(widget: Any) -> str:
    return str(widget.render())


# ------------------------------------------------------------------------ labels


def test_trial_label_default_and_explicit_tids() -> None:
    """The default layout is named ``function:uuid8``; a tid the caller chose is shown as is,
    even one with five parts (which the old guess from the folder read as the layout)."""
    default = "demo/train/26-03-14/09:26:53/00000001-0000-4000-8000-000000000001"
    assert trial_label(f"/r/{default}", default) == "train:00000001"
    assert trial_label(f"/r/{default}") == "train:00000001"
    assert trial_label("/r/exp/lr/0.1/seed/3", "exp/lr/0.1/seed/3") == "exp/lr/0.1/seed/3"
    assert trial_label("/r/sweep/n=10", "sweep/n=10") == "sweep/n=10"
    long = "a-very-long-experiment-name/with/a-longer-run-name-at-the-end"
    assert len(trial_label("/r/x", long, width=24)) == 24
    assert trial_label("/r/x", long, width=24).endswith("at-the-end")


def test_trial_labels_name_the_params_that_differ() -> None:
    """Trials shown together are named by their differing params; equal ones by tid."""
    tids = ["a/1", "a/2", "a/3"]
    params = [{"lr": 0.1, "bs": 32, "seed": 1}, {"lr": 0.01, "bs": 32, "seed": 1}, {"seed": 1}]
    assert trial_labels(tids, tids, params) == ["lr=0.1 bs=32", "lr=0.01 bs=32", "a/3"]
    same = [{"lr": 0.1}, {"lr": 0.1}]
    assert trial_labels(tids[:2], tids[:2], same) == ["a/1", "a/2"]


async def test_plot_title_and_compare_headers_use_explicit_tids(tmp_path: Path) -> None:
    """Bug: trials with an explicit tid were labelled as if their folder followed the
    default layout (``lr:3`` for ``exp/lr/0.1/seed/3``)."""
    root = tmp_path / "results"
    a, b = _trials(root, 2, same=True)
    a = _with_tid(root, a, "exp/lr/0.1/seed/3")
    b = _with_tid(root, b, "exp/lr/0.2/seed/4")
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot, 2)
        table = app.screen.query_one(TrialTable)
        table.cursor = next(i for i, r in enumerate(table.view.rows) if r.path == str(a))
        await pilot.press("p")
        plot = await wait_for(pilot, lambda: isinstance(app.screen, PlotScreen) and app.screen)
        await wait_for(pilot, lambda: plot.frames)
        assert _text(plot.query_one("#plot-title", Label)) == "metrics of exp/lr/0.1/seed/3"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, PlotScreen))
        # lr differs: headers name it; equal params (below): the tids.
        compare = await _open(pilot, "c", [a, b], CompareScreen)
        await wait_for(pilot, lambda: compare.fields)
        assert sorted(compare.labels) == ["lr=0.01", "lr=0.1"]
    for folder, lr in ((a, 0.5), (b, 0.5)):
        record = folder / "votakvot.yaml"
        data = yaml.safe_load(record.read_text())
        data["params"] = {"lr": lr}
        record.write_text(yaml.safe_dump(data))
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot, 2)
        compare = await _open(pilot, "c", [a, b], CompareScreen)
        await wait_for(pilot, lambda: compare.fields)
        assert sorted(compare.labels) == ["exp/lr/0.1/seed/3", "exp/lr/0.2/seed/4"]
        headers = [str(c.label) for c in compare.query_one(DataTable).columns.values()]
        assert headers[1:] == compare.labels


# -------------------------------------------------------------------------- plot


async def test_plot_of_many_marked_trials_is_capped(tmp_path: Path) -> None:
    """Marking more than a dozen trials plots the first twelve, says so, and reads only
    those; every series has its own colour and a legend entry outside the plot."""
    root = tmp_path / "results"
    trials = _trials(root, MAX_SHOWN + 3)
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, len(trials))
        plot = await _open(pilot, "p", trials, PlotScreen)
        await wait_for(pilot, lambda: plot.frames and not plot.reading)
        note = _text(plot.query_one("#plot-note", Label))
        assert note == f"showing {MAX_SHOWN} of {MAX_SHOWN + 3} marked trials; narrow the selection"
        assert len(plot.frames) == MAX_SHOWN
        series = plot.figure.series
        assert len(series) == MAX_SHOWN
        assert len({s.color for s in series}) == MAX_SHOWN and len(PALETTE) >= 12
        labels = [s.label for s in series]  # seed is the same in all: left out
        assert all(re.fullmatch(r"lr=0\.0?1 bs=\d+", label) for label in labels), labels
        assert len(set(labels)) == MAX_SHOWN
        legend = _text(plot.query_one("#plot-legend", Static)).replace("\u00a0", " ")
        assert all(label in legend for label in labels)
        canvas = plot.query_one(PlotCanvas)
        await wait_for(pilot, lambda: canvas.drawn)
        assert "lr=0.1" not in str(canvas.render())  # the legend is not inside the plot


async def test_plot_axes_series_and_empty_selection(tmp_path: Path) -> None:
    """Integer x gets integer ticks; the y axis is named; the x column is not offered as a
    series; nothing ticked says so instead of an empty frame."""
    root = tmp_path / "results"
    (trial,) = _trials(root, 1)
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, 1)
        plot = await _open(pilot, "p", [trial], PlotScreen)
        await wait_for(pilot, lambda: plot.frames and plot.figure and plot.figure.series)
        assert plot.x_axis == "epoch" and plot.figure.integer_x
        assert plot.figure.ylabel == "loss" and plot.figure.xlabel == "epoch"
        options = plot.query_one("#series", SelectionList)
        assert [options.get_option_at_index(i).value for i in range(options.option_count)] == [
            "loss"
        ]
        canvas = plot.query_one(PlotCanvas)
        await wait_for(pilot, lambda: canvas.drawn)
        lines = str(canvas.render()).splitlines()
        tick_line = lines[lines.index(next(line for line in lines if "└" in line)) + 1]
        assert tick_line.split() and all(t.isdigit() for t in tick_line.split())
        assert "loss" in lines[-1]  # the y axis' name
        # Ticked: a bold green X; unticked: the X in the box's own colour (an empty box).
        unticked = options.get_component_rich_style("selection-list--button")
        ticked = options.get_component_rich_style("selection-list--button-selected")
        assert unticked.color == unticked.bgcolor
        assert ticked.color != ticked.bgcolor and ticked.bold
        options.deselect("loss")
        await wait_for(pilot, lambda: not plot.figure.series)
        assert plot.figure.title.startswith("no series selected")
        await wait_for(pilot, lambda: canvas.drawn)
        assert "no series selected" in str(canvas.render())
        await pilot.press("x")  # x: loss; epoch is offered instead
        assert plot.x_axis == "loss"
        await wait_for(pilot, lambda: options.option_count == 1)
        assert options.get_option_at_index(0).value == "epoch"
        await pilot.press("x")  # x: row; both are offered, loss still ticked
        await wait_for(pilot, lambda: options.option_count == 2)


def test_integer_ticks() -> None:
    """Whole-number ticks, 1-2-5 spaced, never more than asked for."""
    assert integer_ticks(0, 7, 8) == list(range(8))
    assert integer_ticks(0, 29, 8) == [0, 5, 10, 15, 20, 25]
    assert integer_ticks(0, 1, 8) == [0, 1]
    assert integer_ticks(3, 3, 8) == [3]


async def test_keys_answered_while_the_plot_is_built(tmp_path: Path, monkeypatch) -> None:
    """Building the plot (8 s for 12 long series at 150x40) runs in a thread: keys are
    handled while it runs, and the finished plot replaces the old one."""
    root = tmp_path / "results"
    (trial,) = _trials(root, 1)
    gate = threading.Event()
    real = plot_canvas.build_text

    def slow(*args: Any) -> Any:
        gate.wait(10)
        return real(*args)

    monkeypatch.setattr(plot_canvas, "build_text", slow)
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, 1)
        plot = await _open(pilot, "p", [trial], PlotScreen)
        await wait_for(pilot, lambda: plot.frames)
        canvas = plot.query_one(PlotCanvas)
        assert not canvas.drawn
        await pilot.press("l")
        assert plot.log_y and plot.figure.log_y and not canvas.drawn
        gate.set()
        await wait_for(pilot, lambda: canvas.drawn)


def test_an_empty_plot_on_a_log_axis_is_drawn() -> None:
    """``l`` pressed while the metrics are read (nothing to plot yet) draws the empty
    plot; plotext failed on a log axis with no data, and the error dialog came up."""
    text = plot_canvas.build_text(Figure(title="reading…", log_y=True), 40, 10, "textual-dark")
    assert "reading…" in text.plain


def test_big_plots_are_drawn_in_a_helper_process() -> None:
    """The helper process draws exactly what a thread would, cut into screen lines of
    the plot's width there (not in the app), and stays for the next plot."""
    import io

    from rich.console import Console
    from rich.segment import Segment

    ys = [1 / (1 + k) for k in range(3000)]
    figure = Figure(series=[Series("a", list(range(3000)), ys, PALETTE[0])], xlabel="step")
    assert len(figure.series[0].xs) > PlotCanvas.IN_PROCESS_POINTS
    there = plot_canvas._BUILDER.build(figure, 60, 15, "textual-dark", None)
    here = plot_canvas.screen_lines(
        plot_canvas.build_text(figure, 60, 15, "textual-dark"), 60, Console(file=io.StringIO())
    )
    assert there == here and len(there) >= 15
    assert all(sum(s.cell_length for s in line) == 60 for line in there)
    assert any(isinstance(s, Segment) and s.style and s.style.color for s in there[3])
    process = plot_canvas._BUILDER._process
    assert process is not None and process.poll() is None
    plot_canvas._BUILDER.build(figure, 40, 10, "textual-dark", None)
    assert plot_canvas._BUILDER._process is process
    if hasattr(os, "getpriority"):  # it yields the CPU to the app's event loop
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, process.pid) == min(mine + NICENESS, 19)


async def test_plot_read_is_stopped_by_escape(tmp_path: Path, monkeypatch) -> None:
    """Reading the metrics shows progress; Escape stops it (keeping what was read), the
    next Escape leaves."""
    root = tmp_path / "results"
    trials = _trials(root, 3)
    gate = threading.Event()
    real = votakvot.metrics.load_metrics
    calls: list[str] = []

    def gated(path: Any, **kwargs: Any) -> Any:
        calls.append(str(path))
        if len(calls) == 2:
            gate.wait(10)
        return real(path, **kwargs)

    monkeypatch.setattr(votakvot.metrics, "load_metrics", gated)
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, 3)
        plot = await _open(pilot, "p", trials, PlotScreen)
        progress = plot.query_one("#plot-progress", Label)
        await wait_for(pilot, lambda: "reading metrics 1/3" in _text(progress))
        await pilot.press("escape")
        assert isinstance(app.screen, PlotScreen)
        gate.set()
        await wait_for(pilot, lambda: not plot.reading)
        assert _text(progress).startswith("stopped after 2 of 3 trials")
        assert len(plot.frames) == 2 and len(calls) == 2
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, PlotScreen))


async def test_plot_follows_a_running_trial_throttled(tmp_path: Path, monkeypatch) -> None:
    """A metrics file that grows redraws the plot; a burst of changes is one re-read."""
    root = tmp_path / "results"
    (trial,) = _trials(root, 1)
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, 1)
        plot = await _open(pilot, "p", [trial], PlotScreen)
        await wait_for(pilot, lambda: plot.frames and not plot.reading)
        reads = []
        real = plot.read
        monkeypatch.setattr(plot, "read", lambda: reads.append(1) or real())
        with open(trial / "votakvot.metrics.00000.csv", "a") as f:
            f.write(f"{T0.timestamp() + 20},10,0.01\n")
        for _ in range(20):
            plot.post_message(MetricsChanged(frozenset({str(trial)})))
        await wait_for(pilot, lambda: len(plot.frames[str(trial)]) == 11)
        assert len(reads) == 1
        assert max(plot.figure.series[0].xs) == 10


async def test_escape_leaves_during_a_live_reread(tmp_path: Path, monkeypatch) -> None:
    """Following a running trial is no wait: Escape during a re-read leaves the plot
    (only the first read, which the user waits for, is stopped by Escape)."""
    root = tmp_path / "results"
    (trial,) = _trials(root, 1)
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, 1)
        plot = await _open(pilot, "p", [trial], PlotScreen)
        await wait_for(pilot, lambda: plot.drawn)
        entered, gate = threading.Event(), threading.Event()
        real = votakvot.metrics.load_metrics

        def gated(path: Any, **kwargs: Any) -> Any:
            entered.set()
            gate.wait(10)
            return real(path, **kwargs)

        monkeypatch.setattr(votakvot.metrics, "load_metrics", gated)
        plot.post_message(MetricsChanged(frozenset({str(trial)})))
        await wait_for(pilot, entered.is_set)
        await pilot.press("escape")
        try:
            await wait_for(pilot, lambda: not isinstance(pilot.app.screen, PlotScreen))
        finally:
            gate.set()


async def test_plot_legend_kept_at_80x24(tmp_path: Path) -> None:
    """At 80x24 the legend sits under the plot, on screen, with every trial's name."""
    root = tmp_path / "results"
    trials = _trials(root, 4)
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, 4)
        plot = await _open(pilot, "p", trials, PlotScreen)
        await wait_for(pilot, lambda: plot.drawn)
        legend = plot.query_one("#plot-legend", Static)
        canvas = plot.query_one(PlotCanvas)
        assert legend.region.height >= 1 and legend.region.bottom <= 23  # above the footer
        assert legend.region.y >= canvas.region.bottom  # outside the plot
        assert canvas.region.height >= 10
        text = _text(legend).replace("\u00a0", " ")
        assert all(s.label in text for s in plot.figure.series) and len(plot.figure.series) == 4


# ----------------------------------------------------------------------- compare


async def test_compare_of_many_marked_trials_is_capped(tmp_path: Path) -> None:
    """More than a dozen marked: twelve columns and a note; the title counts those."""
    root = tmp_path / "results"
    trials = _trials(root, MAX_SHOWN + 2)
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot, len(trials))
        compare = await _open(pilot, "c", trials, CompareScreen)
        await wait_for(pilot, lambda: compare.fields and not compare.reading)
        assert len(compare.query_one(DataTable).columns) == MAX_SHOWN + 1
        assert _text(compare.query_one("#compare-note", Label)).startswith(
            f"showing {MAX_SHOWN} of {MAX_SHOWN + 2} marked trials"
        )
        assert _text(compare.query_one("#compare-title", Label)).startswith(
            f"comparing {MAX_SHOWN} trials"
        )


async def test_compare_read_is_stopped_by_escape(tmp_path: Path, monkeypatch) -> None:
    """Reading the trials shows progress; Escape stops it and shows those read."""
    root = tmp_path / "results"
    trials = _trials(root, 3)
    gate = threading.Event()
    real = votakvot.metrics.load_metrics
    calls: list[str] = []

    def gated(path: Any, **kwargs: Any) -> Any:
        calls.append(str(path))
        if len(calls) == 2:
            gate.wait(10)
        return real(path, **kwargs)

    monkeypatch.setattr(votakvot.metrics, "load_metrics", gated)
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, 3)
        compare = await _open(pilot, "c", trials, CompareScreen)
        progress = compare.query_one("#compare-progress", Label)
        await wait_for(pilot, lambda: "reading trials 1/3" in _text(progress))
        await pilot.press("escape")
        gate.set()
        await wait_for(pilot, lambda: not compare.reading)
        assert _text(progress).startswith("stopped after 2 of 3 trials")
        assert len(compare.labels) == 2
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, CompareScreen))


def test_lower_is_better() -> None:
    """Costs (loss, error, latency, time) are best low; everything else best high."""
    for name in ("result.loss", "metrics.val_loss", "info.error_rate", "result.latency.p99"):
        assert lower_is_better(name), name
    for name in ("result.accuracy", "metrics.f1", "info.calls_per_second", "metrics.reward"):
        assert not lower_is_better(name), name


async def test_compare_design(tmp_path: Path) -> None:
    """Opens on differences; `d`'s name follows the view; best values green (min loss,
    max accuracy); meta folded until `m`; long values cut to the column width."""
    root = tmp_path / "results"
    trials = _trials(root, 3, note="x" * 100)
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await loaded(pilot, 3)
        compare = await _open(pilot, "c", trials, CompareScreen)
        await wait_for(pilot, lambda: compare.fields and not compare.reading)
        table = compare.query_one(DataTable)
        keys = [str(k.value) for k in table.rows]
        assert "params.seed" not in keys and "params.lr" in keys  # differences only
        d_names = [b.binding.description for k, b in compare.active_bindings.items() if k == "d"]
        assert d_names == ["All rows"]
        losses = compare.fields["result.loss"]
        best = losses.index(min(losses))
        row = table.get_row("result.loss")
        assert [c.style for c in row[1:]].count("bold green") == 1
        assert row[1 + best].style == "bold green"
        accuracy = compare.fields["result.accuracy"]
        assert table.get_row("result.accuracy")[1 + accuracy.index(max(accuracy))].style == (
            "bold green"
        )
        assert FOLDED in keys and "meta.system.node" not in keys
        await pilot.press("m")
        keys = [str(k.value) for k in table.rows]
        assert FOLDED not in keys
        await pilot.press("d")
        await pilot.pause()
        d_names = [b.binding.description for k, b in compare.active_bindings.items() if k == "d"]
        assert d_names == ["Differences"]
        keys = [str(k.value) for k in table.rows]
        assert "params.seed" in keys and "meta.system.node" in keys
        assert all(c.width <= CELL_WIDTH for c in table.columns.values())
        note = table.get_row("params.note")[1]
        assert len(note.plain) == CELL_WIDTH and "…" in note.plain
