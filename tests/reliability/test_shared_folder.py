"""A shared results folder never runs code or reads files as the person who opens it.

Whoever can write into a results folder (NFS, a bucket, a colleague's tarball) tries
to get code run when its owner resumes a trial, or a file read through a symlink.
Each attack below leaves a marker folder if its pickle ever runs; the test asserts
the marker never appears and the error names the file and the way out.
"""

from __future__ import annotations

import os
import pickle
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from _support import SUMMARY

import votakvot
from votakvot.layout import SNAPSHOT_NAME, YAML_NAME
from votakvot.trial import read_trial

OLD_MAGIC = b"votakvot-snapshot\n"
"""How snapshots started before format 3: a pickled header followed."""
MAGIC = b"votakvot-snapshot "
"""How signed snapshots start: a JSON header follows on the same line."""


class Boom(Exception):
    """Stops a task after it wrote a snapshot, as a crash would."""


class Stepper(votakvot.resumable_fn):
    """Counts to ``n``, snapshotting every loop; crashes at ``crash_at`` once."""

    snapshot_period = None
    snapshot_each = 1
    crash_at: int | None = None

    def init(self, n: int, secret: str = "A" * 16) -> None:
        self.n = n
        self.secret = secret
        self.i = 0

    def loop(self) -> object:
        self.i += 1
        if self.i == Stepper.crash_at:
            Stepper.crash_at = None
            raise Boom(f"crash at {self.i}")
        return f"{self.i}:{self.secret}" if self.i >= self.n else None


class _Marker:
    """Unpickles to ``os.mkdir(path)``: the harmless stand-in for any code."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[object, ...]:
        return (os.mkdir, (self.path,))


@pytest.fixture
def results(tmp_path: Path, isolated_config: None) -> Path:
    """A fresh root given to votakvot.init."""
    votakvot.init(path=str(tmp_path / "results"))
    return tmp_path / "results"


def _crashed(results: Path, tid: str, **params: object) -> Path:
    """A trial whose task crashed at loop 3, leaving its record and a real snapshot."""
    Stepper.crash_at = 3
    with pytest.raises(Boom):
        votakvot.run(tid, Stepper, n=5, **params)
    folder = results.joinpath(*tid.split("/"))
    assert (folder / SNAPSHOT_NAME).exists()
    return folder


def _old_layout(header: object, task: object) -> bytes:
    """A snapshot as votakvot wrote them before format 3: magic, pickled header, task."""
    return OLD_MAGIC + pickle.dumps(header) + pickle.dumps(task)


def _signed_parts(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """The header line, the signature line and the payload of a signed snapshot."""
    header, signature, payload = raw.split(b"\n", 2)
    return header + b"\n", signature + b"\n", payload


def _refused_without_running(tid: str, marker: Path, *words: str) -> str:
    """Resume ``tid``: a ResumeError naming the snapshot, rerun=True and the trust
    option; the marker never made."""
    SUMMARY["bad_inputs_tried"] += 1
    with pytest.raises(votakvot.ResumeError) as info:
        votakvot.run(tid, Stepper, n=5)
    text = str(info.value)
    assert not marker.exists(), "resuming ran code from a snapshot its owner did not write"
    assert SNAPSHOT_NAME in text and "rerun=True" in text and "trust_snapshot=True" in text
    for word in words:
        assert word in text
    SUMMARY["bad_inputs_survived"] += 1
    return text


FORGED_HEADERS: dict[str, Callable[[Path], bytes]] = {
    "pickle after the old magic": lambda m: OLD_MAGIC + pickle.dumps(_Marker(m)),
    "pickle after a JSON header, unsigned": lambda m: (
        MAGIC + b'{"format": 3, "tid": "t"}\n' + pickle.dumps(_Marker(m))
    ),
    "pickle where the signature goes": lambda m: (
        MAGIC + b'{"format": 3}\nhmac-sha256 ' + pickle.dumps(_Marker(m))
    ),
}


@pytest.mark.parametrize("kind", sorted(FORGED_HEADERS))
def test_forged_header_never_runs(results: Path, tmp_path: Path, kind: str) -> None:
    """A snapshot that starts like votakvot's but whose header is a pickle: refused
    before a byte is unpickled."""
    marker = tmp_path / "pwned"
    folder = _crashed(results, "forged/header")
    (folder / SNAPSHOT_NAME).write_bytes(FORGED_HEADERS[kind](marker))
    _refused_without_running("forged/header", marker)


def test_forged_object_after_a_real_header_never_runs(results: Path, tmp_path: Path) -> None:
    """A real header (today's signed one, or the old pickled one with the right params)
    followed by a pickle that runs code: refused, the object never unpickled."""
    marker = tmp_path / "pwned"
    folder = _crashed(results, "forged/object")
    snapshot = folder / SNAPSHOT_NAME
    header, signature, _ = _signed_parts(snapshot.read_bytes())
    snapshot.write_bytes(
        header + signature + pickle.dumps({"n": 5}) + pickle.dumps(_Marker(marker))
    )
    _refused_without_running("forged/object", marker, "does not match its signature")
    old = {"format": 2, "tid": "forged/object", "params": {"n": 5}, "loops": 2}
    snapshot.write_bytes(_old_layout(old, _Marker(marker)))
    _refused_without_running("forged/object", marker, "unsigned snapshot of an older votakvot")


def test_snapshot_planted_for_a_tid_that_never_ran(results: Path, tmp_path: Path) -> None:
    """A snapshot in a folder with no record: refused, whether an old-layout pickle or a
    snapshot signed by this very user, copied from another trial."""
    marker = tmp_path / "pwned"
    real = _crashed(results, "planted/source")
    planted = results / "planted" / "never-ran"
    planted.mkdir(parents=True)
    old = {"format": 2, "tid": "planted/never-ran", "params": {"n": 5}, "loops": 2}
    (planted / SNAPSHOT_NAME).write_bytes(_old_layout(old, _Marker(marker)))
    _refused_without_running("planted/never-ran", marker)
    (planted / SNAPSHOT_NAME).write_bytes((real / SNAPSHOT_NAME).read_bytes())
    os.chmod(planted / SNAPSHOT_NAME, 0o600)
    _refused_without_running("planted/never-ran", marker, "no record")
    # The record of the trial it came from removed: its own snapshot no longer resumes.
    (real / YAML_NAME).unlink()
    _refused_without_running("planted/source", marker, "no record")


def test_snapshot_copied_from_another_trial(results: Path, tmp_path: Path) -> None:
    """A signed snapshot of one trial put in place of another's: refused, it belongs
    to another trial."""
    marker = tmp_path / "pwned"
    one = _crashed(results, "copied/one")
    two = _crashed(results, "copied/two")
    (two / SNAPSHOT_NAME).write_bytes((one / SNAPSHOT_NAME).read_bytes())
    os.chmod(two / SNAPSHOT_NAME, 0o600)
    _refused_without_running("copied/two", marker, "belongs to another trial")


def test_tampered_payload_is_refused(results: Path, tmp_path: Path) -> None:
    """One value changed inside the pickled task (same length, still a valid pickle):
    refused, the changed state never reaches the task."""
    folder = _crashed(results, "tampered/payload")
    snapshot = folder / SNAPSHOT_NAME
    raw = snapshot.read_bytes()
    assert raw.count(b"A" * 16) == 1  # in the task (the default is not a recorded param)
    snapshot.write_bytes(raw.replace(b"A" * 16, b"B" * 16))
    _refused_without_running("tampered/payload", tmp_path / "pwned", "does not match")
    assert votakvot.run("tampered/payload", Stepper, n=5, rerun=True).result == "5:" + "A" * 16


def test_snapshot_signed_with_another_users_key(
    results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot signed with another key (another user, another machine): refused with
    both key ids named; with the key it was signed with, it resumes."""
    theirs, mine = "t" * 40, "m" * 40
    monkeypatch.setenv("VOTAKVOT_SNAPSHOT_KEY", theirs)
    _crashed(results, "other/key")
    monkeypatch.setenv("VOTAKVOT_SNAPSHOT_KEY", mine)
    _refused_without_running("other/key", tmp_path / "pwned", "signed with another key")
    monkeypatch.setenv("VOTAKVOT_SNAPSHOT_KEY", theirs)
    trial = votakvot.run("other/key", Stepper, n=5)
    assert trial.result == "5:" + "A" * 16
    assert trial.data["resumable"]["resumes"][0]["loop"] == 2


def test_snapshot_others_can_write_is_refused(results: Path, tmp_path: Path) -> None:
    """A local snapshot writable by group or others: refused (anyone could swap it);
    made by votakvot it is 0600 whatever the umask."""
    folder = _crashed(results, "mode/open")
    snapshot = folder / SNAPSHOT_NAME
    assert stat.S_IMODE(snapshot.stat().st_mode) == 0o600
    os.chmod(snapshot, 0o666)
    _refused_without_running("mode/open", tmp_path / "pwned", "written by other users")


def test_snapshot_of_another_owner_is_refused(
    results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local snapshot whose owner is not the user resuming: refused, naming the owner."""
    monkeypatch.setenv("VOTAKVOT_SNAPSHOT_KEY", "k" * 40)  # the key file's owner check aside
    _crashed(results, "owner/other")
    me = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: me + 1)
    _refused_without_running("owner/other", tmp_path / "pwned", f"belongs to user id {me}")


def test_old_snapshot_resumes_only_when_trusted(results: Path, tmp_path: Path) -> None:
    """An unsigned snapshot of an older votakvot is refused, and resumes with
    trust_snapshot=True."""
    folder = _crashed(results, "old/format")
    record = read_trial(str(folder)).data
    task = Stepper()
    task.init(n=5)
    task.i = 2
    header = {"format": 2, "tid": "old/format", "id": record["id"], "params": {"n": 5}, "loops": 2}
    (folder / SNAPSHOT_NAME).write_bytes(_old_layout(header, task))
    _refused_without_running("old/format", tmp_path / "pwned", "older votakvot")
    trial = votakvot.run("old/format", Stepper, n=5, trust_snapshot=True)
    assert trial.result == "5:" + "A" * 16


def test_runner_resume_is_checked(results: Path, tmp_path: Path) -> None:
    """Runners resume through the same check: ``votakvot.map`` with a tid template over a
    forged snapshot raises ResumeError and runs nothing."""
    marker = tmp_path / "pwned"
    folder = _crashed(results, "mapped/n=5")
    (folder / SNAPSHOT_NAME).write_bytes(OLD_MAGIC + pickle.dumps(_Marker(marker)))
    with pytest.raises(votakvot.ResumeError, match="rerun=True"):
        votakvot.map(Stepper, [{"n": 5}], tid="mapped/n={n}")
    assert not marker.exists()


def test_dashboard_resume_helper_is_checked(results: Path, tmp_path: Path) -> None:
    """The dashboard's resume program (``python -m votakvot_tui.core.runs resume``) over a
    forged snapshot: refused, and its peek at the snapshot's params runs nothing either."""
    from votakvot_tui.core.runs import main

    marker = tmp_path / "pwned"
    folder = _crashed(results, "dash/forged")
    old = {"format": 2, "tid": "dash/forged", "params": _Marker(marker)}
    (folder / SNAPSHOT_NAME).write_bytes(_old_layout(old, _Marker(marker)))
    with pytest.raises(votakvot.ResumeError, match="trust_snapshot=True"):
        main(["resume", str(folder)])
    assert not marker.exists()


def test_key_file_is_private_and_refused_when_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is made on first use as a 0600 file in the user's config folder; a key file
    others can read is refused, naming the file and chmod 600."""
    from votakvot import _userkey

    monkeypatch.delenv("VOTAKVOT_SNAPSHOT_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    key = _userkey.snapshot_key()
    path = tmp_path / "config" / "votakvot" / "snapshot.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _userkey.snapshot_key() == key and len(key) >= 32
    os.chmod(path, 0o644)
    with pytest.raises(votakvot.ResumeError, match=f"chmod 600 {path}"):
        _userkey.snapshot_key()
    monkeypatch.setenv("VOTAKVOT_SNAPSHOT_KEY", "short")
    with pytest.raises(votakvot.ResumeError, match="VOTAKVOT_SNAPSHOT_KEY holds 5 characters"):
        _userkey.snapshot_key()


# --- files read through symlinks, and names votakvot keeps ------------------------------


@votakvot.track("shared/attacher")
def _attacher(name: str) -> str:
    with votakvot.attach(name) as f:
        f.write("mine")
    return name


def _trial_with_link(results: Path, tmp_path: Path) -> Path:
    """A finished trial whose folder someone added a link to a private file of the reader."""
    secret = tmp_path / "private" / "id_rsa"
    secret.parent.mkdir()
    secret.write_text("PRIVATE KEY")
    folder = Path(votakvot.run("linked/one", _attacher, name="notes.txt").path)
    (folder / "loot.txt").symlink_to(secret)
    (folder / "sub").symlink_to(secret.parent)
    (folder / "inside.txt").symlink_to(folder / "notes.txt")  # stays in: fine
    return folder


def test_symlinked_attachment_is_not_read(results: Path, tmp_path: Path) -> None:
    """``Trial.attach`` refuses a link (or a linked folder) leading out of the trial folder,
    naming the file and where it leads; a link inside the folder still reads."""
    folder = _trial_with_link(results, tmp_path)
    trial = read_trial(str(folder))
    assert trial is not None
    for name in ("loot.txt", "sub/id_rsa"):
        with pytest.raises(votakvot.TrialLoadError, match="outside the trial folder") as info:
            trial.attach(name)
        assert name.split("/")[0] in str(info.value)
        assert str(tmp_path / "private") in str(info.value)
    with trial.attach("inside.txt") as f:
        assert f.read() == b"mine"


def test_dashboard_files_tab_does_not_follow_links_out(results: Path, tmp_path: Path) -> None:
    """The dashboard's file viewer shows why a link out of the folder is not shown, never
    the file it points to."""
    from votakvot_tui.screens.viewer import read_text

    folder = _trial_with_link(results, tmp_path)
    for name in ("loot.txt", "sub/id_rsa"):
        text = read_text(str(folder), name)
        assert "PRIVATE KEY" not in text
        assert "outside the trial folder" in text and name in text
    assert read_text(str(folder), "inside.txt") == "mine"


@pytest.mark.parametrize(
    "name", ["votakvot.yaml", "VOTAKVOT.yaml", "output.log", "votakvot.metrics.00000.csv"]
)
def test_reserved_attachment_name_is_refused(results: Path, name: str) -> None:
    """``votakvot.attach`` of a name votakvot keeps raises ValueError naming it and what to
    do, and the trial's record stays the record."""
    with pytest.raises(ValueError, match=r"keeps for its own files.*choose another name"):
        votakvot.run("reserved/one", _attacher, name=name)
    record = read_trial(str(results / "reserved" / "one"))
    assert record is not None and record.state == "failed"
    assert record.data["error"]["type"] == "ValueError"


# --- passwords in URLs ----------------------------------------------------------------------


def test_worker_settings_print_without_password(
    ftp_server, isolated_config: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the Dask runner sends with every task (and Dask prints into worker logs when a
    task fails) names the root URL without its password; the workers still get it whole."""
    from votakvot._config import get_config
    from votakvot.runners import dask as dask_runner
    from votakvot.runners.dask import DaskRunner

    monkeypatch.setattr(dask_runner, "check_shared_root", lambda *args: None)  # no cluster

    url = ftp_server.url("shared-settings")
    password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    votakvot.init(url)
    runner = DaskRunner(get_config(), client=object())  # no cluster: only its settings
    settings = runner.settings
    assert password in settings["path"]
    assert password not in repr(settings) and password not in str(settings)
    assert url.replace(f":{password}@", "@") in repr(settings)
    assert pickle.loads(pickle.dumps(settings)) == settings


_KEY_RACE = """
import sys
from votakvot._userkey import snapshot_key
print(snapshot_key().decode())
"""


def test_processes_making_the_key_at_once_share_one(tmp_path: Path) -> None:
    """A pool's workers that all resume at first use make the key at the same moment:
    none reads it half written, and all sign with the same key."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("VOTAKVOT_SNAPSHOT_KEY", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _KEY_RACE],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    keys = {out.strip() for out, _ in outs}
    assert len(keys) == 1 and len(keys.pop()) >= 32
    assert os.listdir(tmp_path / "config" / "votakvot") == ["snapshot.key"]  # no temp left
