"""The live status line, printed from its own thread so the loop never waits on a terminal."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TextIO

import numpy as np

from rtpose.core.clock import now_ns
from rtpose.loop.hot_loop import HotLoop


class StatusThread:
    def __init__(
        self,
        loop: HotLoop,
        interval_s: float,
        extra: Callable[[], str] = lambda: "",
        stream: TextIO | None = None,
    ) -> None:
        self._loop = loop
        self._interval_s = interval_s
        self._extra = extra
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtpose-status", daemon=True)
        self._seen_frames = 0
        self._seen_ns = now_ns()

    def start(self) -> None:
        self._thread.start()

    def line(self) -> str:
        counters = self._loop.counters
        log = self._loop.timestamps
        stop = log.count
        now = now_ns()
        seconds = max((now - self._seen_ns) / 1e9, 1e-9)
        fps = (stop - self._seen_frames) / seconds
        stages = log.recent_stage_ms(self._seen_frames)
        self._seen_frames, self._seen_ns = stop, now

        def p50(name: str) -> str:
            values = stages[name]
            return f"{float(np.median(values)):.1f}" if values.size else "-"

        return (
            f"{fps:5.1f} fps | engine {p50('engine')} ms | grab-daq {p50('end_to_end')} ms | "
            f"frames {counters.frames_processed} dropped {counters.frames_dropped} | {self._extra()}"
        )

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:  # the status line must never take the run down
                text = self.line()
                self._stream.write("\r\x1b[2K" + text if self._tty else text + "\n")
                self._stream.flush()
            except Exception:
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(1.0)
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()
