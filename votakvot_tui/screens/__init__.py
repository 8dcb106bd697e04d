"""Screens of the dashboard, one module each.

``trials`` is the main screen; ``detail``, ``plot`` and ``compare`` are pushed
from it; ``help``, ``confirm_delete``, ``export`` and ``error`` are modals;
``viewer`` shows an attached file. Imported lazily by the app, so a screen
costs nothing until it is opened.
"""

from .compare import CompareScreen
from .confirm_delete import ConfirmDeleteScreen
from .detail import DetailScreen
from .error import ErrorScreen
from .export import ExportScreen
from .help import HelpScreen
from .plot import PlotScreen
from .trials import TrialsScreen
from .viewer import ViewerScreen

__all__ = [
    "CompareScreen",
    "ConfirmDeleteScreen",
    "DetailScreen",
    "ErrorScreen",
    "ExportScreen",
    "HelpScreen",
    "PlotScreen",
    "TrialsScreen",
    "ViewerScreen",
]
