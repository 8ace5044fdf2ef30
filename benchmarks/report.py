"""What every benchmark's recorded result starts with, and where it goes.

Benchmarks run as scripts (`python benchmarks/NAME.py`), so they import this as `report`.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def heading(script: str, setup: str = "", env: str = "") -> list[str]:
    """The '## date — `command`' line and the machine line (plus ``setup``, e.g. frames and rates)."""
    command = " ".join(part for part in (env, "python", f"benchmarks/{Path(script).name}") if part)
    arguments = shlex.join(sys.argv[1:])
    machine = f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    return [
        f"## {time.strftime('%Y-%m-%d %H:%M')} — `{command}{' ' + arguments if arguments else ''}`",
        "",
        machine + (f"; {setup}" if setup else ""),
        "",
    ]


def append_result(name: str, text: str, title: str) -> Path:
    """Append ``text`` to benchmarks/results/NAME.md (created with ``title`` as its heading)."""
    path = RESULTS / f"{name}.md"
    header = "" if path.exists() else f"# {title}\n\n"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(header + text + "\n")
    print(f"appended to {path}", file=sys.stderr)
    return path
