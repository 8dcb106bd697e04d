"""A trial still running when its process exits normally is recorded ``interrupted``,
not left ``running`` to turn ``stale``: a daemon thread's call dies with the interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import votakvot

SCRIPT = textwrap.dedent(
    """
    import sys, threading, time
    import votakvot

    votakvot.init(path=sys.argv[1])

    @votakvot.track()
    def forever():
        votakvot.meter(x=1)
        time.sleep(100)

    @votakvot.track()
    def quick():
        return 1

    started = threading.Event()
    threading.Thread(target=lambda: (started.set(), forever()), daemon=True).start()
    started.wait()
    quick()
    time.sleep(0.3)
    """
)


def test_daemon_thread_trial_is_interrupted_at_exit(tmp_path):
    """The daemon thread's trial ends ``interrupted`` (error ProcessExit, its metrics kept);
    the process's exit status and its finished trial are untouched."""
    script = tmp_path / "daemon_trial.py"
    script.write_text(SCRIPT)
    root = tmp_path / "results"
    out = subprocess.run(
        [sys.executable, str(script), str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    loaded = votakvot.load_trials(str(root)).values()
    trials = {t.data["function"].rsplit(".", 1)[1]: t for t in loaded}
    assert trials["quick"].state == "done"
    forever = trials["forever"]
    assert forever.recorded_state == "interrupted"
    assert forever.data["error"]["type"] == "ProcessExit"
    assert "exited while this trial ran" in forever.data["error"]["message"]
    assert forever.at.finished is not None
    assert votakvot.metrics.load_metrics(forever)["x"].tolist() == [1]
