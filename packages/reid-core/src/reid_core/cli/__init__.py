"""The ``reid`` command. Each subcommand lives in its own module of this package.

A module listed in :data:`SUBCOMMANDS` defines ``add_parser(subparsers)``, which adds its parser
and sets ``func`` (called with the parsed arguments, returning an exit code). Options that several
commands share are defined once, in :mod:`reid_core.cli._options`.

Only the module of the command being run is imported: ``reid --help`` lists the others from
:data:`COMMANDS` without importing them (nor torch).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import warnings

from ..errors import ReidError
from ._options import Parser, resolve

#: module names under reid_core.cli, in the order ``reid --help`` shows them
SUBCOMMANDS = ["demo", "models", "eval", "extract", "index", "train", "bench", "rank", "gradcam", "tsne", "export"]

#: command -> (its module, its one-line help), for listing commands without importing their modules.
#: A module of SUBCOMMANDS with no entry here is imported for every ``reid`` call (correct, slower).
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "train a small model on the synthetic dataset and show before/after (minutes, CPU)"),
    "list": ("models", "list installed models"),
    "info": ("models", "show a model's metadata, licence and published weights"),
    "download": ("models", "download a model's weights into the cache"),
    "eval": ("eval", "evaluate a model on a dataset and print the metrics table row"),
    "extract": ("extract", "extract features of a folder of images into a .npz file"),
    "index": ("index", "build, extend and search a persistent gallery index (FAISS + SQLite)"),
    "train": ("train", "train a model with its family's recipe (yacs config)"),
    "export-weights": ("train", "write a training checkpoint's model weights as a plain state dict"),
    "bench": ("bench", "run a performance benchmark"),
    "rank": ("rank", "draw rank lists: each query and its top-k gallery matches"),
    "gradcam": ("gradcam", "draw rank lists with Grad-CAM overlays on the query and on each match"),
    "tsne": ("tsne", "draw a t-SNE map of gallery features, coloured by identity"),
    "export": ("export", "export a model to ONNX or TorchScript and check it against PyTorch"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``reid`` parser.

    Without ``command`` every subcommand module is imported. With one, only that command's
    module is, and the other commands are listed by name and help only (enough for
    ``reid --help`` and for argparse's "invalid choice" message).
    """
    parser = Parser(prog="reid", description="Person re-identification model zoo.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = None if command is None else COMMANDS.get(command, (None,))[0]
    for module in SUBCOMMANDS:
        listed = [name for name, (m, _) in COMMANDS.items() if m == module]
        if command is None or module == wanted or not listed:
            importlib.import_module(f"{__name__}.{module}").add_parser(sub)
        else:
            for name in listed:
                sub.add_parser(name, help=COMMANDS[name][1], add_help=False)
    return parser


def _command_in(argv: list[str]) -> str:
    """The command that ``argv`` asks for, or ``""`` (then only the command list is needed)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return ""


def _one_line_warnings(command: str):  # noqa: ANN202
    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        print(f"reid {command}: warning: {message}", file=sys.stderr if file is None else file)

    return show


_WORKER_TRACE = re.compile(r"Original Traceback \(most recent call last\):.*\n(?:\w+\.)*\w+: (.*)$", re.S)


def one_line(error: BaseException) -> str:
    """The message of ``error`` without the worker traceback that DataLoader wraps around it."""
    text = str(error)
    m = _WORKER_TRACE.search(text)
    return m.group(1).strip() if m else text


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``reid`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = resolve(build_parser(_command_in(argv)).parse_args(argv))
    except SystemExit as e:  # a mistake (2, its one line printed) or --help (0): a code for in-process callers too
        return e.code if isinstance(e.code, int) else 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(args.command)
            return int(args.func(args) or 0)
    except ReidError as e:
        print(f"reid {args.command}: error: {one_line(e)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader of our output went away (`reid list | head`): nothing left to say, and
        # Python must not complain again when it flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # what a shell reports for a command ended by SIGPIPE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
