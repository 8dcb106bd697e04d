"""Write a few demo trials into a temporary folder and print their report.

Run with ``make demo``.
"""

from __future__ import annotations

import os
import sys
import tempfile

import votakvot

root = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="votakvot-demo-")
votakvot.init(path=root)


@votakvot.track()
def train(lr: float, epochs: int = 20) -> dict:
    loss = 1.0
    for epoch in range(epochs):
        loss *= 1 - lr
        votakvot.meter(epoch=epoch, loss=loss, accuracy=1 - loss / 2)
    votakvot.inform(final_loss=loss)
    return {"loss": loss, "accuracy": 1 - loss / 2}


@votakvot.track()
def divide(a: float, b: float) -> float:
    return a / b


for lr in (0.05, 0.1, 0.2):
    train(lr)
divide(1, 2)
try:
    divide(1, 0)
except ZeroDivisionError:
    pass

report = votakvot.load_report(root)
print(report.to_string(max_colwidth=40))
print(f"\ntrials written under {root}{os.sep}")
