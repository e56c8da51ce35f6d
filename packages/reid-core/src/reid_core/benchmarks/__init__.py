"""Benchmarks behind ``reid bench``.

Each benchmark is one module of this package, named after its subcommand, defining ``HELP`` (one
line), ``add_arguments(parser)`` and ``run(args) -> int``; :mod:`reid_core.cli.bench` lists them.
"""
