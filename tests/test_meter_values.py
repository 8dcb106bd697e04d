"""``votakvot.meter`` of numpy scalars, 0-d arrays and tensors writes numbers, not their repr."""

from __future__ import annotations

import numpy as np

import votakvot


class FakeTensor:
    """Prints like a torch tensor; ``.item()`` gives its number."""

    __module__ = "torch"

    def __init__(self, value: float) -> None:
        self.value = value

    def item(self) -> float:
        return self.value

    def __str__(self) -> str:
        return f"tensor({self.value:.4f})"


def test_meter_writes_numbers_for_array_scalars(tmp_path):
    """Every metered column reads back numeric, with the values metered."""
    votakvot.init(path=str(tmp_path))

    @votakvot.track()
    def train():
        for i in range(3):
            votakvot.meter(
                step=np.int64(i),
                loss=FakeTensor(0.5 * i),
                acc=np.float32(0.25),
                lr=np.array(0.125),
                note="x",
            )

    train()
    trial = next(iter(votakvot.load_trials(str(tmp_path)).values()))
    frame = votakvot.metrics.load_metrics(trial)
    for column in ("step", "loss", "acc", "lr"):
        assert frame[column].dtype.kind in "if", (column, frame[column].tolist())
    assert frame["loss"].tolist() == [0.0, 0.5, 1.0]
    assert frame["step"].tolist() == [0, 1, 2]
    assert frame["acc"].tolist() == [0.25] * 3
    assert frame["lr"].tolist() == [0.125] * 3
    assert frame["note"].tolist() == ["x"] * 3
