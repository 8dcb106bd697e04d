"""The README's quick start: track a function, call it, read the calls back."""

from __future__ import annotations

import votakvot

votakvot.init(path="./my-results")  # where trials go; "." when init is never called


@votakvot.track()
def my_experiment(one, two):
    votakvot.inform(comment="first try", labels=["baseline"])  # ad-hoc fields
    for step in range(100):
        votakvot.meter(step=step, loss=1 / (step + 1))  # a metric series
    with votakvot.attach("notes.txt") as f:  # a file kept with the trial
        f.write("anything worth keeping")
    return one + two


my_experiment(1, 2)
my_experiment(3, 4)

report = votakvot.load_report("./my-results")
print(report[["tid", "state", "one", "two", "result", "comment"]])

rep = votakvot.load_report()
tid = rep.loc[0]["tid"]
print(votakvot.metrics.load_metrics(tid).tail())
