"""Write demo trials into a temporary folder and open the dashboard on them.

Run with ``make demo`` (or ``python examples/demo.py [FOLDER]``). Besides a few
finished trials of several functions (one of them failed, most with metrics),
a background process keeps one trial running for a minute, adding metric
points as it goes: watch its row, its detail screen (Enter) and its plot (p)
update live. ``--no-tui`` prints the report instead of opening the dashboard.
Quitting before that minute is up stops the background process with SIGTERM, which
votakvot records: its trial ends ``interrupted``, not ``stale`` (docs/stopping.md).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import votakvot


@votakvot.track()
def train(lr: float, epochs: int = 30, optimizer: str = "sgd") -> dict:
    """A make-believe training loop: the loss falls faster with a larger rate."""
    rng = random.Random(int(lr * 1000))
    loss = 1.0
    for epoch in range(epochs):
        loss *= 1 - lr * (0.8 + 0.4 * rng.random())
        votakvot.meter(epoch=epoch, loss=loss, accuracy=1 - loss / 2)
    votakvot.inform(final_loss=round(loss, 5))
    with votakvot.attach("summary.txt") as f:
        f.write(f"lr={lr} optimizer={optimizer}\nfinal loss {loss:.5f}\n")
    return {"loss": loss, "accuracy": 1 - loss / 2}


@votakvot.track()
def evaluate(dataset: str, threshold: float = 0.5) -> float:
    """An evaluation that reports a single score."""
    score = 0.6 + 0.3 * math.sin(len(dataset) + threshold)
    votakvot.inform(samples=len(dataset) * 1000)
    return round(score, 4)


@votakvot.track()
def divide(a: float, b: float) -> float:
    """Fails for b == 0: the dashboard shows the traceback."""
    return a / b


@votakvot.track()
def long_training(seconds: float = 60.0, every: float = 0.5) -> dict:
    """Runs for a while, adding a metric point every ``every`` seconds."""
    start = time.time()
    step = 0
    loss = 1.0
    while time.time() - start < seconds:
        loss *= 0.97
        votakvot.meter(step=step, loss=loss, throughput=100 + 10 * math.sin(step / 5))
        step += 1
        time.sleep(every)
    return {"loss": loss, "steps": step}


def write_demo(root: str) -> None:
    """The finished demo trials: trainings, evaluations and a failed division."""
    votakvot.init(path=root)
    for lr, optimizer in ((0.05, "sgd"), (0.1, "sgd"), (0.2, "adam"), (0.3, "adam")):
        train(lr, optimizer=optimizer)
    for dataset in ("mnist", "cifar10", "imagenet"):
        evaluate(dataset)
    divide(1, 2)
    try:
        divide(1, 0)
    except ZeroDivisionError:
        pass


def start_live(root: str, seconds: float = 60.0) -> subprocess.Popen[bytes]:
    """A background process running ``long_training`` for ``seconds``."""
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), root, "--live", str(seconds)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for_live(root: str, live: subprocess.Popen[bytes], timeout: float = 30.0) -> bool:
    """Wait until the background process has started its trial (so a report shows it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and live.poll() is None:
        if any(Path(root).glob("*/long_training/*/*/*/votakvot.yaml")):
            return True
        time.sleep(0.05)
    return False


def stop_live(live: subprocess.Popen[bytes]) -> None:
    """Stop the background process the way docker or systemd would: SIGTERM, then wait.

    votakvot records its trial ``interrupted`` on SIGTERM (metrics flushed); only a
    process that does not end in time is killed, and its trial would show ``stale``.
    """
    if live.poll() is not None:
        return
    live.terminate()
    try:
        live.wait(timeout=15)
    except subprocess.TimeoutExpired:
        print("the live demo trial did not stop on SIGTERM; killing it", file=sys.stderr)
        live.kill()
        live.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", help="where to write (default: a new temp folder)")
    parser.add_argument("--no-tui", action="store_true", help="print the report instead")
    parser.add_argument("--live", type=float, metavar="SECONDS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = args.root or tempfile.mkdtemp(prefix="votakvot-demo-")
    if args.live is not None:  # the background process
        votakvot.init(path=root, heartbeat_interval=1.0)
        long_training(args.live)
        return
    write_demo(root)
    live = start_live(root)
    try:
        if args.no_tui:
            wait_for_live(root, live)
            time.sleep(1.0)  # a few metric points
            print(votakvot.load_report(root).to_string(max_colwidth=40))
        else:
            from votakvot_tui import make_app

            make_app([root]).run()
    finally:
        stop_live(live)
    print(f"demo trials are in {root}{os.sep}")


if __name__ == "__main__":
    main()
