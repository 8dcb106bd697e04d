"""``storage_options`` (credentials, endpoints) reach the fsspec filesystem from every
entry point: ``init`` + tracking, ``load_report``, ``load_trials``, ``load_metrics``,
``read_trial`` and the CLI's ``--storage-option``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

import votakvot
from votakvot import cli, reading
from votakvot._config import get_config, set_config


class RecordingFileSystem(MemoryFileSystem):
    """``memory://`` under another protocol, noting the options it is made with."""

    protocol = ("recording",)
    seen: list[dict[str, Any]] = []

    def __init__(self, *args: Any, **options: Any) -> None:
        RecordingFileSystem.seen.append(dict(options))
        super().__init__(*args, **options)

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, str):
            path = path.removeprefix("recording://")
        return super()._strip_protocol(path)


fsspec.register_implementation("recording", RecordingFileSystem, clobber=True)


@pytest.fixture
def token() -> Iterator[str]:
    """A unique option value: fsspec caches instances by their options."""
    RecordingFileSystem.seen.clear()
    value = uuid.uuid4().hex
    yield value
    RecordingFileSystem.seen.clear()


def _saw(token: str) -> bool:
    return any(options.get("token") == token for options in RecordingFileSystem.seen)


@pytest.fixture
def root(token: str) -> Iterator[str]:
    """Trials tracked under ``recording://`` with ``storage_options={"token": token}``."""
    url = f"recording://opts-{token}"
    previous = get_config()
    votakvot.init(url, capture="none", storage_options={"token": token})
    try:
        votakvot.run("one", lambda: 1)
        votakvot.run("two", _metered)
    finally:
        set_config(previous)
    assert _saw(token)  # the writer's filesystem got them
    RecordingFileSystem.seen.clear()
    yield url
    MemoryFileSystem().rm(f"/opts-{token}", recursive=True)


def _metered() -> int:
    votakvot.meter(loss=0.5)
    return 2


def test_load_report_and_trials_pass_options(root: str, token: str) -> None:
    frame = votakvot.load_report(root, storage_options={"token": token})
    assert sorted(frame["tid"]) == ["one", "two"]
    assert _saw(token)
    RecordingFileSystem.seen.clear()
    trials = votakvot.load_trials(root, storage_options={"token": token})
    assert set(trials) == {"one", "two"}
    assert _saw(token)
    assert trials["one"].storage_options == {"token": token}


def test_load_metrics_passes_options(root: str, token: str) -> None:
    frame = votakvot.load_metrics(f"{root}/two", storage_options={"token": token})
    assert list(frame["loss"]) == [0.5]
    assert _saw(token)


def test_trial_reads_its_files_with_its_options(root: str, token: str) -> None:
    trial = reading.read_trial(f"{root}/two", {"token": token})
    assert trial is not None
    RecordingFileSystem.seen.clear()
    assert list(trial.load_metrics()["loss"]) == [0.5]  # the trial's own options
    assert trial.state == "done"
    assert _saw(token)


def test_cli_storage_option(root: str, token: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", root, "-o", f"token={token}", "--format", "csv"]) == 0
    assert _saw(token)
    assert "one" in capsys.readouterr().out
    RecordingFileSystem.seen.clear()
    code = cli.main(["metrics", f"{root}/two", "--storage-option", f"token={token}"])
    assert code == 0
    assert _saw(token)
    RecordingFileSystem.seen.clear()
    assert cli.main(["show", f"{root}/one", "-o", f"token={token}"]) == 0
    assert _saw(token)


def test_cli_option_values_are_literals_when_they_parse() -> None:
    parse = cli._storage_option
    assert parse("anon=True") == ("anon", True)
    assert parse("port=2121") == ("port", 2121)
    assert parse("client_kwargs={'region_name': 'x'}") == ("client_kwargs", {"region_name": "x"})
    assert parse("endpoint_url=http://localhost:9000") == (
        "endpoint_url",
        "http://localhost:9000",
    )
    assert parse("key=") == ("key", "")


def test_cli_option_without_equals_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["report", ".", "-o", "novalue"])
    assert exc.value.code == 2
    assert "KEY=VALUE" in capsys.readouterr().err
