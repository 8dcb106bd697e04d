"""Real servers on loopback for tests: an FTP server, an SFTP/SSH server, and an HTTP
server answering 200 to every request (:func:`serve_http_200`).

Both run in a background thread of the test process, serve a temporary folder,
listen on ``127.0.0.1`` on a free port, and stop when the fixture ends. Use the
fixtures (registered in ``tests/conftest.py``)::

    def test_x(ftp_server, sftp_server):
        votakvot.init(path=ftp_server.url("trials"))   # ftp://user:pw@127.0.0.1:PORT/trials
        votakvot.init(path=sftp_server.url("trials"))  # ssh://user:pw@127.0.0.1:PORT/trials
        ftp_server.root                                 # the local folder it serves

Both fixtures are session-scoped (one server each for the whole run); give every
test its own subfolder (``server.url(f"{tmp_path.name}/...")``) so tests never
see each other's files.

The SSH server is asyncssh's own (pure Python, no system sshd needed). It serves
``ssh://`` and ``sftp://`` (both go to sshfs, the async fsspec backend); its
host key is written to a ``known_hosts`` file under a temporary ``$HOME`` that
the fixture sets for the session, so clients verify it as they would a real host.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http.server
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "Server",
    "ftp_server",
    "run_ftp_server",
    "run_sftp_server",
    "serve_http_200",
    "sftp_server",
]

USER = "votakvot"
PASSWORD = "s3cret-for-tests"


@dataclasses.dataclass
class Server:
    """A running loopback server and the local folder it serves."""

    protocol: str
    """``ftp`` or ``ssh``."""
    port: int
    root: Path
    """The local folder behind the server's ``/``."""

    def url(self, path: str = "", protocol: str | None = None) -> str:
        """A URL of ``path`` below the served folder, user and password included."""
        scheme = protocol or self.protocol
        return f"{scheme}://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{path.lstrip('/')}"


def run_ftp_server(root: Path) -> tuple[Server, Any]:
    """Start pyftpdlib on a free port serving ``root``; returns the server and a stop callable."""
    with warnings.catch_warnings():
        # pyftpdlib still imports asyncore/asynchat, deprecated since Python 3.6
        warnings.simplefilter("ignore", DeprecationWarning)
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.servers import ThreadedFTPServer

    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, str(root), perm="elradfmwMT")
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "banner": "votakvot tests"})
    handler.passive_ports = None
    server = ThreadedFTPServer(("127.0.0.1", 0), handler)
    port = server.address[1]
    thread = threading.Thread(
        target=server.serve_forever,
        # handle_exit=False: no logging set up by pyftpdlib (a line per FTP command)
        kwargs={"timeout": 0.2, "handle_exit": False},
        name="test-ftp",
        daemon=True,
    )
    thread.start()

    def stop() -> None:
        server.close_all()
        thread.join(10)

    return Server("ftp", port, root), stop


def run_sftp_server(root: Path, home: Path) -> tuple[Server, Any]:
    """Start an asyncssh SSH server (SFTP subsystem, chrooted to ``root``) on a free port.

    Its host key is added to ``home/.ssh/known_hosts``; point ``$HOME`` there so
    clients trust it. Returns the server and a stop callable.
    """
    import asyncssh

    class _Auth(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return username == USER and password == PASSWORD

    key = asyncssh.generate_private_key("ssh-ed25519")
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, Any] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            state["acceptor"] = await asyncssh.listen(
                "127.0.0.1",
                0,
                server_host_keys=[key],
                server_factory=_Auth,
                sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(root).encode()),
            )

        try:
            loop.run_until_complete(start())
        except BaseException as exc:
            state["error"] = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="test-sftp", daemon=True)
    thread.start()
    ready.wait(30)
    if "error" in state:
        raise RuntimeError(f"the test SSH server did not start: {state['error']!r}")
    port = state["acceptor"].sockets[0].getsockname()[1]
    ssh = home / ".ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    public = key.export_public_key().decode().split()
    with open(ssh / "known_hosts", "a") as f:
        f.write(f"[127.0.0.1]:{port} {public[0]} {public[1]}\n")

    def stop() -> None:
        async def close() -> None:
            state["acceptor"].close()
            await state["acceptor"].wait_closed()
            # connections clients left open: end their handlers before the loop goes
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()

    return Server("ssh", port, root), stop


@pytest.fixture(scope="session")
def ftp_server() -> Iterator[Server]:
    """An FTP server on 127.0.0.1 for the whole session (``ftp://user:pw@127.0.0.1:PORT/``)."""
    with tempfile.TemporaryDirectory(prefix="votakvot-ftp-") as tmp:
        server, stop = run_ftp_server(Path(tmp))
        try:
            yield server
        finally:
            stop()


@pytest.fixture(scope="session")
def sftp_server() -> Iterator[Server]:
    """An SSH/SFTP server on 127.0.0.1 for the whole session, trusted through ``$HOME``."""
    with tempfile.TemporaryDirectory(prefix="votakvot-sftp-") as tmp:
        root = Path(tmp, "served")
        home = Path(tmp, "home")
        root.mkdir()
        home.mkdir()
        server, stop = run_sftp_server(root, home)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HOME", str(home))
            try:
                yield server
            finally:
                _forget_ssh_filesystems()
                stop()


def _forget_ssh_filesystems() -> None:
    """Drop cached sshfs instances: their connections die with the server."""
    try:
        from sshfs import SSHFileSystem
    except ImportError:
        return
    SSHFileSystem.clear_instance_cache()


class _Answer200(http.server.BaseHTTPRequestHandler):
    """Answers every GET with 200 ``ok``; also works as a forward proxy's answer."""

    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    request_queue_size = 1024  # the default 5 makes a burst of connects wait for SYN retries
    daemon_threads = True


@contextlib.contextmanager
def serve_http_200() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a server answering every GET with 200, while in use."""
    server = _QuietServer(("127.0.0.1", 0), _Answer200)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
