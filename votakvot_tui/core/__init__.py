"""The dashboard's Textual-free core: what it shows and starts, without any widget.

``model`` (trial records, the store, views), ``watch`` (file watcher and poller),
``jobs`` (processes started from the dashboard), ``runs`` (resume, rerun and ab
commands), ``ownership`` (whose trial folder it is, before its code runs), ``ab_data``
(a live ab run as read from its folder), ``actions`` (delete, export, view as code)
and ``_files`` (bounded reads of attachments).
Kept apart from the screens so each is testable and usable without a terminal:
nothing here imports Textual (tests/tui/test_public_api_only.py holds this).
"""

__all__ = ["ab_data", "actions", "jobs", "model", "ownership", "runs", "watch"]
