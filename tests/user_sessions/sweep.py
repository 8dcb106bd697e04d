"""A sweep script as a user writes it: ``python sweep.py ROOT`` maps ``train`` over a
generator of params on the process runner; some calls raise, the later ones are slow."""

import sys
import time

import numpy as np

import votakvot


def train(lr: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    if seed % 3 == 2:
        raise ValueError(f"diverged at lr={lr} seed={seed}")
    loss = np.float64(1.0)
    for step in range(20):
        loss *= 1 - lr
        votakvot.meter(step=step, loss=loss + rng.random() * 1e-3)
        time.sleep(0.02 if seed < 4 else 0.25)
    return float(loss)


def params():
    for seed in range(12):
        yield {"lr": 0.1, "seed": seed}


def score(lr: float, seed: int) -> float:
    """A cheap call for batches with explicit ids."""
    return lr * 100 + seed


if __name__ == "__main__":
    votakvot.init(path=sys.argv[1], runner="process", workers=2, capture="none")
    print(votakvot.map(train, params(), return_exceptions=True), flush=True)
