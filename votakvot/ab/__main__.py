"""``python -m votakvot.ab`` is ``votakvot-ab``."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
