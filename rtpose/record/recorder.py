"""Appends frame records and events to a run folder (see ``rtpose.record.layout``).

Durability: what this recorder has been given is handed to the operating system at least every
``flush_interval_s`` (checked on each call, and by ``flush_if_due`` when the consumer is idle);
``close()`` also fsyncs, which covers a power loss after a clean stop. A killed run therefore
loses the last ``flush_interval_s`` of what reached the recorder *plus whatever was still queued
for it*: the side-channel queue holds up to ``record.queue_size`` frames (4096 by default, over a
minute at 60 fps) when the recorder falls behind, e.g. on a slow or saturated disk. While it
keeps up, the queue is empty and the loss is about ``flush_interval_s``. Whether it keeps up on a
rig shows in a test run: ``max_lag_ms`` here, and in ``summary.json`` the recorder channel's
``side_channels.recorder.dropped`` (frames its full queue turned away) against ``handled``.

Threading: one consumer thread only (the recording side channel), never the hot loop. Disk
errors (e.g. a full disk) raise ``OSError`` from the call that hit them.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.core.clock import now_ns
from rtpose.core.frame_record import Event
from rtpose.record.layout import EVENTS_FILE, FRAMES_FILE, FRAMES_LAYOUT_FILE, describe_dtype

_BUFFER_BYTES = 1 << 20


class Recorder:
    """Records one run's frames (``frames.bin`` + ``frames.json``) and events (``events.jsonl``).

    ``run_dir`` is created if needed; it must not already hold a recording. ``labels`` (names
    behind the record's indices, see ``rtpose.record.layout``) go into ``frames.json``. Counters:
    ``frames_written`` / ``events_written`` (accepted), ``frames_flushed`` / ``events_flushed``
    (handed to the operating system, so they survive a killed process). ``max_lag_ms``: the
    longest a frame waited between its DAQ write (the end of its loop iteration) and this
    recorder, i.e. how far behind the recorder ran; a killed run loses up to that plus
    ``flush_interval_s``.
    """

    def __init__(
        self,
        run_dir: Path,
        dtype: np.dtype,
        flush_interval_s: float = 0.2,
        labels: dict[str, list[str]] | None = None,
    ) -> None:
        if flush_interval_s <= 0:
            raise ValueError("flush_interval_s must be positive")
        layout = describe_dtype(dtype)
        if labels is not None:
            layout["labels"] = labels
        layout["clock"] = {"unix_time_s": time.time(), "clock_ns": now_ns()}
        self.run_dir = Path(run_dir)
        self.dtype = dtype
        self.flush_interval_s = flush_interval_s
        self.frames_written = 0
        self.events_written = 0
        self.frames_flushed = 0
        self.events_flushed = 0
        self.max_lag_ms = 0.0
        self._timed = dtype.names is not None and "daq_write_ns" in dtype.names
        self._closed = False
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.run_dir / FRAMES_LAYOUT_FILE, "x", encoding="utf-8") as layout_file:
                json.dump(layout, layout_file, indent=2)
                layout_file.write("\n")
            self._frames = open(self.run_dir / FRAMES_FILE, "xb", buffering=_BUFFER_BYTES)  # noqa: SIM115
            self._events = open(  # noqa: SIM115
                self.run_dir / EVENTS_FILE, "x", encoding="utf-8", newline="\n", buffering=_BUFFER_BYTES
            )
        except FileExistsError as error:
            raise FileExistsError(
                f"{error.filename} already exists: {self.run_dir} already holds a recording; "
                "record each run into a new folder"
            ) from None
        self._next_flush_s = time.monotonic() + flush_interval_s

    def handle_frame(self, record: np.void | np.ndarray[Any, np.dtype[np.void]]) -> None:
        """Append one frame record (a row of ``dtype``; copied, so the caller may reuse it)."""
        if record.dtype != self.dtype:
            raise ValueError(f"frame record dtype {record.dtype} does not match the recorder's {self.dtype}")
        self._frames.write(record.data)
        self.frames_written += 1
        if self._timed and (written_ns := int(record["daq_write_ns"])) > 0:
            self.max_lag_ms = max(self.max_lag_ms, (now_ns() - written_ns) / 1e6)
        self.flush_if_due()

    def handle_event(self, event: Event) -> None:
        """Append one event as a line of ``events.jsonl``."""
        line = json.dumps(
            {
                "kind": event.kind,
                "name": event.name,
                "frame_id": event.frame_id,
                "t_ns": event.t_ns,
                "value": event.value,
                "detail": event.detail,
            }
        )
        self._events.write(line + "\n")
        self.events_written += 1
        self.flush_if_due()

    def flush_if_due(self) -> None:
        """Flush if ``flush_interval_s`` has passed since the last flush; call it when idle too."""
        if time.monotonic() >= self._next_flush_s:
            self.flush()

    def flush(self) -> None:
        """Hand everything written so far to the operating system."""
        self._frames.flush()
        self._events.flush()
        self.frames_flushed = self.frames_written
        self.events_flushed = self.events_written
        self._next_flush_s = time.monotonic() + self.flush_interval_s

    def close(self) -> None:
        """Flush, fsync and close. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.flush()
            os.fsync(self._frames.fileno())
            os.fsync(self._events.fileno())
        finally:
            self._frames.close()
            self._events.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
