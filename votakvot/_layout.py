"""Old name of :mod:`votakvot.layout`, kept while importers move over."""

from .layout import *  # noqa: F403
from .layout import __all__  # noqa: F401
