"""The README's resumable task: run it, kill it, run it again."""

from __future__ import annotations

import votakvot


class count_to(votakvot.resumable_fn):
    snapshot_period = 5  # seconds between snapshots, taken only between loop() calls

    def init(self, n):
        self.n, self.i = n, 0

    def loop(self):
        self.i += 1
        votakvot.meter(i=self.i)
        return self.i if self.i >= self.n else None  # not None: finished with that result


if __name__ == "__main__":
    votakvot.init(path="./my-results")
    trial = votakvot.run("count_to/n=1000", count_to, n=1000)  # resumes if a snapshot is there
    print(trial.result)
