"""Trials of a process stopped by SIGTERM or SIGHUP end recorded ``interrupted``."""

from __future__ import annotations
