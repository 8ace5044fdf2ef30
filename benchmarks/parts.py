"""Parts several benchmarks use (benchmark-only doubles, never used by rtpose itself).

Benchmarks run as scripts (`python benchmarks/NAME.py`), so they import this as `parts`.
"""

from __future__ import annotations

import numpy as np


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
