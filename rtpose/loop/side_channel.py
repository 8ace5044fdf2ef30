"""Side channels: consumers (publisher, recorder) on their own threads behind bounded queues.

The loop writes each frame's record into a preallocated ring (``RecordRing``) and puts only the
record's sequence number on each channel's queue: no per-frame allocation, and a full queue drops
the frame for that channel and counts it; the loop never waits.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Protocol

import numpy as np

from rtpose.core.frame_record import Event


class FrameConsumer(Protocol):
    def handle_frame(self, record: Any) -> object:
        """Called on the channel's thread with a private copy of one record (0-d structured)."""

    def handle_event(self, event: Event) -> object: ...

    def close(self) -> None: ...


class RecordRing:
    """A ring of frame records written by the loop; ``written`` counts records ever written."""

    def __init__(self, dtype: np.dtype, capacity: int) -> None:
        self.records = np.zeros(capacity, dtype)
        self.capacity = capacity
        self.written = 0

    def next_slot(self) -> np.ndarray:
        """The 0-d view the loop fills for the next frame (commit with ``commit``)."""
        slot: np.ndarray = self.records[self.written % self.capacity]
        return slot

    def commit(self) -> int:
        sequence = self.written
        self.written += 1
        return sequence


_STOP = object()
IDLE_POLL_S = 0.1
"""A consumer with ``flush_if_due`` is called this often when no frames arrive."""


class SideChannel:
    def __init__(self, name: str, consumer: FrameConsumer, ring: RecordRing, queue_size: int) -> None:
        self.name = name
        self._consumer = consumer
        self._ring = ring
        self._queue: queue.Queue[object] = queue.Queue(maxsize=min(queue_size, ring.capacity // 2))
        self._record = np.zeros((), ring.records.dtype)
        self.dropped = 0
        """Frames this channel never handled: its queue was full, the ring lapped it, or the
        consumer had failed."""
        self.events_dropped = 0
        self.handled = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"rtpose-{name}", daemon=True)
        self._thread.start()

    @property
    def consumer(self) -> FrameConsumer:
        """The consumer (read its statistics; only this channel's thread calls it)."""
        return self._consumer

    def submit_frame(self, sequence: int) -> None:
        """Loop: offer a committed record. Never blocks."""
        try:
            self._queue.put_nowait(sequence)
        except queue.Full:
            self.dropped += 1

    def submit_event(self, event: Event, block_s: float = 0.0) -> None:
        """Offer an event; waits up to ``block_s`` for room (0 in the loop, > 0 at shutdown)."""
        try:
            if block_s > 0:
                self._queue.put(event, timeout=block_s)
            else:
                self._queue.put_nowait(event)
        except queue.Full:
            self.events_dropped += 1

    def _run(self) -> None:
        on_idle = getattr(self._consumer, "flush_if_due", None)  # the recorder flushes when idle too
        while True:
            try:
                item = self._queue.get(timeout=IDLE_POLL_S)
            except queue.Empty:
                if on_idle is not None and self.error is None:
                    try:
                        on_idle()
                    except Exception as error:
                        self.error = error
                continue
            if item is _STOP:
                return
            if self.error is not None:
                if not isinstance(item, Event):
                    self.dropped += 1
                continue  # a failed consumer keeps draining so the loop is never held up
            try:
                if isinstance(item, Event):
                    self._consumer.handle_event(item)
                    continue
                assert isinstance(item, int)
                self._record[()] = self._ring.records[item % self._ring.capacity]
                if self._ring.written - item >= self._ring.capacity:
                    self.dropped += 1  # overwritten while we copied it
                    continue
                self._consumer.handle_frame(self._record)
                self.handled += 1
            except Exception as error:
                self.error = error

    def close(self, timeout_s: float = 10.0) -> bool:
        """Drain what is queued, then close the consumer; False if the consumer hung.

        A hung consumer is left to its (daemon) thread: closing it from here would use it from
        two threads at once.
        """
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            self.error = self.error or TimeoutError(f"{self.name} did not drain its queue in {timeout_s} s")
            return False
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self.error = self.error or TimeoutError(f"{self.name} did not finish within {timeout_s} s")
            return False
        try:
            self._consumer.close()
        except Exception as error:
            self.error = self.error or error
            return False
        return True
