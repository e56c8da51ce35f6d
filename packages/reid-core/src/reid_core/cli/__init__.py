"""The ``reid`` command. Each subcommand lives in its own module of this package.

A module listed in :data:`SUBCOMMANDS` defines ``add_parser(subparsers)``, which adds its parser
and sets ``func`` (called with the parsed arguments, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import ReidError

#: module names under reid_core.cli, in the order ``reid --help`` shows them
SUBCOMMANDS = ["demo", "models", "eval", "extract", "index", "train", "bench", "rank", "gradcam", "tsne", "export"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reid", description="Person re-identification model zoo.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``reid`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ReidError as e:
        print(f"reid {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
