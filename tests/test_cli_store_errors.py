"""``votakvot report s3://...`` on an endpoint nobody answers: one readable line on
stderr and exit 3 ("cannot read"), not the store client's long traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("s3fs")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_report_on_an_unreachable_s3_endpoint_is_one_line_and_exit_3(tmp_path: Path) -> None:
    """The message names the URL and the client's error; no traceback; exit code 3."""
    endpoint = f"http://127.0.0.1:{closed_port()}"
    env = dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y", AWS_MAX_ATTEMPTS="1")
    cli = Path(sys.executable).parent / "votakvot"
    done = subprocess.run(
        [str(cli), "report", "s3://bucket/runs", "-o", f"endpoint_url={endpoint}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("votakvot: cannot read s3://bucket/runs: ")
    assert "EndpointConnectionError" in lines[0] and "Traceback" not in done.stderr
