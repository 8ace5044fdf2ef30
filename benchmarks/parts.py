"""Parts several benchmarks use (benchmark-only doubles, never used by rtpose itself).

Benchmarks run as scripts (`python benchmarks/NAME.py`), so they import this as `parts`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rtpose.cli import demo_config_path
from rtpose.core.config import RigConfig
from rtpose.session import RunOptions, run


def run_demo(config: RigConfig, out: Path, seconds: float) -> dict[str, Any]:
    """Run ``config`` (the demo's, possibly changed) for ``seconds`` quietly; its summary."""
    options = RunOptions(config_dir=demo_config_path().parent, out=out, seconds=seconds, show_status=False)
    return run(config, options).summary


class PrerenderedCamera:
    """Cycles through frames rendered beforehand: a grab costs one copy."""

    def __init__(self, frames: np.ndarray) -> None:
        self._frames = frames
        self.frame_shape = tuple(frames.shape[1:])
        self.nominal_fps = None
        self._next = 0

    def start(self) -> None:
        self._next = 0

    def grab_into(self, out: np.ndarray, timeout_s: float) -> tuple[int, int | None]:
        np.copyto(out, self._frames[self._next % len(self._frames)])
        self._next += 1
        return self._next - 1, None

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass
