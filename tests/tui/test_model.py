"""The dashboard's pieces without a screen: sources, store, views, code, polling, CLI."""

from __future__ import annotations

import datetime
import uuid
from pathlib import Path

import fsspec
import pytest
from tui_helpers import T0, loaded, rows, uid, wait_for, write_trial

from votakvot import _yaml
from votakvot.exceptions import UnreadableValueWarning
from votakvot_tui import make_app
from votakvot_tui.__main__ import main
from votakvot_tui.core.actions import delete_trial_folders, view_as_code
from votakvot_tui.core.model import Source, TrialStore, ViewSpec, display, is_query, read_record
from votakvot_tui.core.watch import Poller


def test_source_matches_folders_and_globs(tmp_path: Path):
    """A folder source takes everything below it; a glob only folders under matches."""
    plain = Source(str(tmp_path))
    assert plain.local and plain.pattern is None
    assert plain.matches(f"{tmp_path}/m/f/26-03-14/09:00:00/x")
    assert not plain.matches(f"{tmp_path}-other/m/f")
    day = Source(f"{tmp_path}/**/26-03-14")
    assert day.base == str(tmp_path)
    assert day.matches(f"{tmp_path}/m/f/26-03-14/09:00:00/x")
    assert not day.matches(f"{tmp_path}/m/f/26-03-15/09:00:00/x")
    remote = Source("memory://bucket/runs")
    assert not remote.local and remote.exists()
    assert remote.matches("memory://bucket/runs/m/f/d/t/x")
    assert not Source(str(tmp_path / "missing")).exists()


def test_is_query():
    """Comparisons and boolean words make a query; anything else is text to find."""
    assert is_query("result > 3 and one == 1")
    assert is_query("`result.x` < 2")
    assert is_query("lr in [0.1, 0.2]")
    assert not is_query("train")
    assert not is_query("demo.divide")


def test_display_of_cells():
    """Cells are short: durations in words, floats to 4 digits, empty for None."""
    assert display(None) == ""
    assert display(0.123456) == "0.1235"
    assert display(3.0) == "3"
    assert display(75.0, "duration") == "1m15s"
    assert display(4000.0, "duration") == "1h06m"
    assert display(1.234, "duration") == "1.23s"
    assert display("a\nb") == "a b"


def test_unreadable_and_missing_records(tmp_path: Path):
    """A folder without YAML is no record; a broken YAML is an `unreadable` record with why."""
    assert read_record(str(tmp_path)) is None
    (tmp_path / "votakvot.yaml").write_text("!!python/object/apply:os.system ['true']\n")
    with pytest.warns(UnreadableValueWarning, match="os.system"):
        record = read_record(str(tmp_path))
    assert record is not None and record.state == "unreadable"
    assert record.values["error"]


def test_store_views_filter_sort_hide(sample):
    """Views filter by text or query, sort with empty cells last, and hide constant columns."""
    root, trials = sample
    store = TrialStore()
    store.put([r for p in trials.values() if (r := read_record(str(p))) is not None])
    view = store.build_view(ViewSpec())
    assert view is not None and view.total == 6
    assert view.rows[0].path == str(trials["failed"])
    assert view.columns[-2:] == ["error", "tid"]
    by_lr = store.build_view(ViewSpec(sort="lr", reverse=True))
    assert [r.values.get("lr") for r in by_lr.rows][:4] == [0.2, 0.1, 0.05, None]
    text = store.build_view(ViewSpec(text="DIVIDE"))
    assert len(text.rows) == 2
    query = store.build_view(ViewSpec(text="result.loss < 0.5"))
    assert {r.values["lr"] for r in query.rows} == {0.1, 0.2}
    bad = store.build_view(ViewSpec(text="no_such > 1"))
    assert bad.error.startswith("query not applied") and len(bad.rows) == 6
    hidden = store.build_view(ViewSpec(text="train", hide_constant=True))
    assert "epochs" not in hidden.columns and "lr" in hidden.columns
    assert store.remove([str(root / "demo" / "train")]) == 3
    assert len(store) == 3


def test_view_as_code_runs_in_pandas(sample):
    """ "Copy as code" gives a line that loads the same rows with votakvot and pandas."""
    import votakvot

    root, _ = sample
    code = view_as_code([str(root)], ViewSpec(text="lr > 0.06", sort="lr", reverse=True))
    assert code == (
        f"votakvot.load_report({str(root)!r}).query('lr > 0.06').sort_values('lr', ascending=False)"
    )
    with pytest.warns(UserWarning):  # the unreadable sample trial is skipped with a warning
        frame = eval(code, {"votakvot": votakvot})
    assert list(frame["lr"]) == [0.2, 0.1]
    text = view_as_code([str(root)], ViewSpec(text="divide"))
    namespace = {"votakvot": votakvot}
    with pytest.warns(UserWarning):
        exec(text, namespace)
    assert len(namespace["rep"]) == 2
    two = view_as_code(["a", "b"], ViewSpec())
    assert two.startswith("pandas.concat([votakvot.load_report(p) for p in ['a', 'b']]")


def test_delete_refuses_folders_that_are_not_trials(tmp_path: Path):
    """Deleting only ever removes folders holding a votakvot.yaml."""
    other = tmp_path / "precious"
    other.mkdir()
    assert "not a trial folder" in delete_trial_folders([str(other)])[str(other)]
    assert other.exists()
    trial = write_trial(tmp_path / "r")
    assert delete_trial_folders([str(trial)]) == {}
    assert not trial.exists()


def test_poller_reports_only_what_changed(tmp_path: Path):
    """Polling reports new, grown and removed trials, never the unchanged ones."""
    root = tmp_path / "p"
    first = write_trial(root, uid=uid(1))
    poller = Poller([Source(str(root))], lambda changes: None)
    assert not poller.poll_once()  # the first round only remembers
    second = write_trial(root, uid=uid(2), when=T0 + datetime.timedelta(seconds=5))
    changes = poller.poll_once()
    assert changes.trials == {str(second)} and not changes.metrics
    (first / "votakvot.metrics.00000.csv").write_text("at,x\n1.0,2\n")
    changes = poller.poll_once()
    assert changes.metrics == {str(first)} and not changes.trials
    import shutil

    shutil.rmtree(second)
    assert poller.poll_once().removed == {str(second)}
    assert not poller.poll_once()


async def test_remote_url_is_polled():
    """A memory:// URL is read through fsspec and polled: new trials show up."""
    name = f"memory://tui-{uuid.uuid4().hex[:8]}"
    fs = fsspec.filesystem("memory")

    def put(n: int) -> None:
        tid = f"demo/remote/26-03-14/09:00:0{n}/{uid(n)}"
        data = {
            "votakvot": "0.2.0",
            "id": uid(n),
            "tid": tid,
            "state": "done",
            "function": "demo.remote",
            "at": {"created": T0 + datetime.timedelta(seconds=n), "duration": 1.0},
            "params": {"n": n},
            "result": n,
        }
        fs.pipe(f"{name}/{tid}/votakvot.yaml", _yaml.dump(data).encode())

    put(1)
    app = make_app([name], poll_interval=0.2)
    try:
        async with app.run_test() as pilot:
            await loaded(pilot, 1)
            put(2)
            await wait_for(pilot, lambda: len(rows(app)) == 2)
            assert rows(app)[0].values["n"] == 2
    finally:
        fs.rm(name, recursive=True)


def test_cli_missing_path(tmp_path: Path, capsys):
    """`votakvot-tui /no/such/folder` says so and exits with 2, without starting the app."""
    assert main([str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "no such folder" in err and str(tmp_path / "nope") in err


def test_cli_bad_option(capsys):
    """A non-positive poll interval is refused with the value named."""
    with pytest.raises(SystemExit):
        main(["--poll-interval", "0"])
    assert "must be > 0 (got 0.0)" in capsys.readouterr().err


def test_running_trial_with_old_heartbeat_is_stale(tmp_path: Path):
    """A `running` trial whose heartbeat stopped long ago shows as `stale`."""
    import time

    alive = write_trial(tmp_path, uid=uid(1), state="running", heartbeat=time.time())
    dead = write_trial(tmp_path, uid=uid(2), state="running", heartbeat=time.time() - 3600)
    assert read_record(str(alive)).state == "running"
    assert read_record(str(dead)).state == "stale"


def test_walk_finds_what_find_trial_dirs_finds(sample, tmp_path: Path):
    """The dashboard's own walk (newest first) finds the same folders as the library's."""
    from votakvot_tui.core.model import find_trial_dirs, iter_trial_dirs

    root, trials = sample
    inner = write_trial(trials["train0"] / "nested", uid=uid(9))  # a trial inside a trial
    walked = list(iter_trial_dirs(Source(str(root))))
    assert sorted(walked) == sorted(find_trial_dirs(str(root)))
    assert str(inner) in walked
