"""A real Dask cluster and a real S3 server on loopback, as separate processes.

* ``dask_procs``: ``dask scheduler`` and two ``dask worker`` processes (each with its
  nanny, so a worker that is killed comes back), started with
  ``python -m distributed.cli...`` on free ports of 127.0.0.1.
* ``s3_server``: moto's S3 server (``python -m moto.server``) with a bucket, that checks
  credentials: only the access key it made is let in.

Both are session-scoped; give every test its own prefix (``s3_server.url(tmp_path.name)``).
:func:`start_cluster` starts more clusters for the tests that need an odd one (a worker
in its own mount namespace or with another host name); everything started is killed
when its context ends, so no process outlives the test run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "REPO",
    "Cluster",
    "S3Server",
    "can_unshare",
    "dask_procs",
    "free_port",
    "namespaced",
    "s3_server",
    "start_cluster",
]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

WORKER_ENV = {
    # Workers see other credentials than the tests: only storage_options that travel
    # with the tasks let them into the S3 server.
    "AWS_ACCESS_KEY_ID": "worker-has-no-such-key",
    "AWS_SECRET_ACCESS_KEY": "worker-has-no-such-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    # A call whose process dies is tried on 2 workers, then given up (KilledWorker).
    "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
    "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)]),
    "PYTHONUNBUFFERED": "1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:g}s")


@dataclasses.dataclass
class Cluster:
    """A running scheduler and its workers, and a client connected to them."""

    address: str
    """The scheduler, ``tcp://127.0.0.1:PORT``."""
    client: Any
    """A ``distributed.Client`` of the tests (not the runner's)."""
    procs: list[subprocess.Popen[bytes]]
    """The workers' processes (each its own process group: the nanny and its worker)."""

    def worker_pids(self) -> dict[str, int]:
        """``{worker address: pid}`` of the worker processes (not their nannies)."""
        return dict(self.client.run(os.getpid))

    def wait_for_workers(self, n: int, timeout: float = 60) -> None:
        self.client.wait_for_workers(n, timeout=timeout)


def _terminate(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the nanny's worker too
        proc.wait()


@contextlib.contextmanager
def start_cluster(
    workers: int = 2,
    *,
    wrap: Sequence[str] = (),
    wrapped: Sequence[int] | None = None,
    scheduler_path: str | None = None,
    log_dir: Path | None = None,
) -> Iterator[Cluster]:
    """A scheduler and ``workers`` worker processes (nanny, 1 thread) on loopback.

    Args:
        workers: how many workers to start.
        wrap: a command line the workers are started under, with ``{cmd}`` standing
            for the worker's own (e.g. a ``sh -c`` in its own mount namespace).
        log_dir: where the processes' output goes (default: discarded).
    """
    import distributed

    port = free_port()
    env = {**os.environ, **WORKER_ENV}
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(cmd: list[str], name: str, **extra: str) -> subprocess.Popen[bytes]:
        # (``python -m`` puts its working folder on sys.path: "/" adds nothing there.)
        out = open(log_dir / f"{name}.log", "wb") if log_dir else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(
            cmd,
            env={**env, **extra},
            cwd=HERE if not extra else "/",
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append(proc)
        return proc

    client = None
    try:
        scheduler = spawn(
            [
                sys.executable, "-m", "distributed.cli.dask_scheduler",
                "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
            ],
            "scheduler",
            **({} if scheduler_path is None else {"PYTHONPATH": scheduler_path}),
        )  # fmt: skip
        _wait_port(port, scheduler, "dask scheduler")
        address = f"tcp://127.0.0.1:{port}"
        for i in range(workers):
            cmd = [
                sys.executable, "-m", "distributed.cli.dask_worker", address,
                "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard", "--name", f"w{i}",
            ]  # fmt: skip
            if wrap and (wrapped is None or i in wrapped):
                line = subprocess.list2cmdline(cmd)
                cmd = [part.replace("{cmd}", line) for part in wrap]
            spawn(cmd, f"worker{i}")
        client = distributed.Client(address, timeout=30)
        client.wait_for_workers(workers, timeout=60)
        yield Cluster(address, client, procs[1:])
    finally:
        if client is not None:
            client.close()
        _terminate(procs)


def namespaced(*setup: str) -> list[str]:
    """A ``wrap`` for :func:`start_cluster`: the worker in new user, mount and UTS
    namespaces (no privileges needed), after the shell commands ``setup`` ran there."""
    script = " && ".join([*setup, "exec {cmd}"])
    return ["unshare", "--user", "--map-root-user", "--mount", "--uts", "sh", "-c", script]


def can_unshare() -> bool:
    try:
        return subprocess.run([*namespaced()[:-3], "true"], timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def dask_procs() -> Iterator[Cluster]:
    """``dask scheduler`` and two ``dask worker`` processes for the session."""
    pytest.importorskip("distributed")
    with start_cluster(2) as cluster:
        yield cluster


@dataclasses.dataclass
class S3Server:
    """moto's S3 server on loopback, its bucket, and the one key it lets in."""

    endpoint: str
    bucket: str
    key: str
    secret: str

    def url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"

    @property
    def storage_options(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "secret": self.secret,
            "client_kwargs": {"endpoint_url": self.endpoint, "region_name": "us-east-1"},
        }

    def fs(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(skip_instance_cache=True, **self.storage_options)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server (its own process) that refuses every key but the one it made."""
    pytest.importorskip("s3fs")
    boto3 = pytest.importorskip("boto3")
    port = free_port()
    # The first three requests (the IAM user, its policy, its key) go without a key;
    # from then on moto checks credentials as S3 would.
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_port(port, proc, "moto server")
        endpoint = f"http://127.0.0.1:{port}"
        anon = {"endpoint_url": endpoint, "region_name": "us-east-1"}
        iam = boto3.client("iam", aws_access_key_id="x", aws_secret_access_key="x", **anon)
        iam.create_user(UserName="votakvot")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(
            UserName="votakvot", PolicyName="all", PolicyDocument=json.dumps(policy)
        )
        made = iam.create_access_key(UserName="votakvot")["AccessKey"]
        server = S3Server(endpoint, "runs", made["AccessKeyId"], made["SecretAccessKey"])
        boto3.client(
            "s3", aws_access_key_id=server.key, aws_secret_access_key=server.secret, **anon
        ).create_bucket(Bucket=server.bucket)
        yield server
    finally:
        _terminate([proc])
