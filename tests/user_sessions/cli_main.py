"""A command-line experiment as scripts are written: ``python cli_main.py ROOT [ARGS]``;
the tracked ``main`` parses its arguments and ends with ``sys.exit(status)``."""

import argparse
import sys

import votakvot


@votakvot.track()
def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, required=True)
    args = parser.parse_args(argv)  # a usage error is sys.exit(2)
    print(f"trained for {args.epochs} epochs")
    sys.exit(0)


if __name__ == "__main__":
    votakvot.init(path=sys.argv[1], capture="none")
    main(sys.argv[2:])
