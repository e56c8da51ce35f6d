"""``reid bench NAME ...``: performance benchmarks, one module each under :mod:`reid_core.benchmarks`."""

from __future__ import annotations

import argparse
import importlib

#: benchmark names, each the module ``reid_core.benchmarks.<name>``
BENCHMARKS = ["eval", "extract", "index", "train"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a performance benchmark")
    inner = p.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name in BENCHMARKS:
        module = importlib.import_module(f"reid_core.benchmarks.{name}")
        q = inner.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(q)
        q.set_defaults(func=module.run)
