"""``rtpose bench``: measurements a user runs on their own machine (``rtpose bench KIND --help``).

Each kind is a module with ``add_parser(kinds)`` that registers its sub-command and sets
``handler`` (a function of the parsed arguments returning the exit code); ``add_bench_parser``
registers them all under ``rtpose bench``.
"""

from __future__ import annotations

from typing import Any

from rtpose.bench import engine


def add_bench_parser(commands: Any) -> None:
    bench = commands.add_parser(
        "bench",
        help="measure rtpose on this machine (`rtpose bench engine PACKAGE`)",
        description="Measure parts of rtpose on this machine; results describe the machine they ran on.",
    )
    kinds = bench.add_subparsers(dest="bench_kind", required=True, metavar="KIND")
    engine.add_parser(kinds)
