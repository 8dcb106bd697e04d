"""An FTP server (pyftpdlib) that breaks after serving AFTER files.

Modes: ``die`` (the process exits at once, as if the machine went away; logins are
staggered by 0.25 s so that clients are still connecting when it dies), ``hang``
(answers nothing more), ``fail`` (answers every later download with a 550 error),
``garbage`` (sends random bytes instead of the file asked for).

Usage: ``python _ftp_fault_server.py ROOT MODE AFTER``; prints its port on stdout.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # pyftpdlib imports asyncore
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import ThreadedFTPServer

USER = "votakvot"
PASSWORD = "fault-tests"


def main() -> None:
    root, mode, after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    served = 0
    logins = 0
    lock = threading.Lock()
    garbage = os.path.join(root, ".garbage.bin")
    with open(garbage, "wb") as f:
        f.write(bytes(range(256)) * 16)

    class Handler(FTPHandler):
        def ftp_PASS(self, line: str) -> None:
            nonlocal logins
            if mode == "die":
                with lock:
                    k = logins
                    logins += 1
                time.sleep(0.25 * (k % 8))
            super().ftp_PASS(line)

        def ftp_RETR(self, file: str) -> None:
            nonlocal served
            with lock:
                served += 1
                broken = served > after
            if broken and mode == "die":
                os._exit(0)
            if broken and mode == "fail":
                self.respond("550 Injected failure.")
                return
            if broken and mode == "garbage":
                super().ftp_RETR(garbage)
                return
            if broken:
                while True:  # hang: this connection never answers again
                    time.sleep(3600)
            super().ftp_RETR(file)

    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, root, perm="elr")
    Handler.authorizer = authorizer
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    server = ThreadedFTPServer(("127.0.0.1", 0), Handler)
    print(server.address[1], flush=True)
    server.serve_forever(timeout=0.2)


if __name__ == "__main__":
    main()
