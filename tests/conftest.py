"""Fixtures shared by the test suite.

* ``ftp_server``, ``sftp_server``: real remote stores on 127.0.0.1 (see ``tests/servers.py``).
"""

from servers import ftp_server, sftp_server

__all__ = ["ftp_server", "sftp_server"]
