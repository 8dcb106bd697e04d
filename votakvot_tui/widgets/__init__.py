"""Reusable widgets of the dashboard."""

from .status_bar import StatusBar
from .trial_table import TrialTable

__all__ = ["StatusBar", "TrialTable"]
