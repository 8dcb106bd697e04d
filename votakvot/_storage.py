"""Old name of :mod:`votakvot.storage`, kept while importers move over."""

from .storage import *  # noqa: F403
from .storage import (  # noqa: F401
    __all__,
    get_filesystem,
    is_local,
    temp_name,
)
