"""``votakvot-tui [PATH ...]``: open the dashboard."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from votakvot.cli import add_storage_option
from votakvot.extras import MissingDependencyError, require

__all__ = ["main", "parse_args"]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="votakvot-tui",
        description="A live dashboard over votakvot trial folders.",
        epilog="Keys: ? for help, ctrl+p for every action, q to quit.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        default=["."],
        metavar="PATH",
        help="folders, globs ('runs/**/26-11-26') or fsspec URLs holding trials (default: .)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="seconds between polls of remote URLs (default: 2)",
    )
    parser.add_argument("--no-watch", action="store_true", help="read once; do not follow changes")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="read every record; neither use nor update the warm index of rows kept in "
        "~/.cache/votakvot ($VOTAKVOT_CACHE_DIR) for the next start",
    )
    add_storage_option(parser)
    args = parser.parse_args(argv)
    if args.poll_interval <= 0:
        parser.error(f"--poll-interval must be > 0 (got {args.poll_interval})")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``votakvot-tui`` script."""
    args = parse_args(argv)
    try:
        require("tui", "votakvot-tui")
    except MissingDependencyError as exc:
        print(exc, file=sys.stderr)
        return 2
    from .core.model import Source

    missing = [p for p in args.paths if not Source(p).exists()]
    if missing:
        for path in missing:
            print(
                f"votakvot-tui: no such folder: {path} "
                "(give a folder that holds trials, a glob, or a URL)",
                file=sys.stderr,
            )
        return 2
    from .app import make_app

    make_app(
        args.paths,
        watch=not args.no_watch,
        poll_interval=args.poll_interval,
        storage_options=dict(args.storage_options) or None,
        cache=not args.no_cache,
    ).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
