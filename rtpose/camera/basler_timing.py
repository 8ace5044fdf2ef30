"""Frame ids from block ids, and camera timestamps mapped onto the process clock (Basler)."""

from __future__ import annotations

from collections.abc import Callable

from rtpose.core.clock import now_ns

BLOCK_ID_UNAVAILABLE = 2**64 - 1
"""What pylon reports as BlockID when the transport layer has none."""


class FrameIdCounter:
    """Turns the grab results' block ids into frame ids that count from 0 at ``start()``.

    The camera numbers every frame it sends (BlockID): a gap between consecutive results is
    frames the camera or pylon dropped. GigE block ids are 16 bit and wrap from 65535 to 1
    (``wrap`` = 65535); USB3 ids are 64 bit. The first result's skipped count tells how many
    frames came before it (LatestImageOnly), so those count as dropped too.
    """

    def __init__(self, wrap: int | None = None) -> None:
        self.wrap = wrap
        self.reset()

    def reset(self) -> None:
        self.last_block_id: int | None = None
        self.last_frame_id = -1
        self.skipped_by_id_gap = 0
        self.skipped_reported = 0
        """Sum of pylon's per-result skipped counts (GetNumberOfSkippedImages)."""

    def next(self, block_id: int, skipped: int) -> int:
        self.skipped_reported += skipped
        if block_id == BLOCK_ID_UNAVAILABLE or self.last_block_id is None:
            step = skipped + 1  # the first frame, or no block ids: trust pylon's skipped count
        else:
            step = block_id - self.last_block_id
            if self.wrap is not None and step <= 0:
                step += self.wrap
        if block_id != BLOCK_ID_UNAVAILABLE:
            self.last_block_id = block_id
        self.skipped_by_id_gap += max(step - 1, 0)
        self.last_frame_id += max(step, 1)
        return self.last_frame_id


class CameraClock:
    """Maps camera timestamps (ticks) to the process clock by latching the camera's counter.

    ``latch`` makes the camera sample its counter and returns the value. The host time of the
    latch is taken as the midpoint of the host clock read before and after it (the error is at most
    half the latch's round trip, a few hundred µs on USB3). The camera's oscillator drifts against
    the host's (tens of ppm), so the mapping is re-latched every ``resync_interval_s``.
    """

    def __init__(self, latch: Callable[[], int], ticks_per_s: float, resync_interval_s: float = 1.0) -> None:
        self._latch = latch
        self._ns_per_tick = 1e9 / ticks_per_s
        self._resync_ns = round(resync_interval_s * 1e9)
        self._offset_ns = 0.0
        self._synced_at_ns: int | None = None

    def sync(self) -> None:
        before = now_ns()
        ticks = self._latch()
        after = now_ns()
        self._offset_ns = (before + after) / 2 - ticks * self._ns_per_tick
        self._synced_at_ns = after

    def sync_if_due(self) -> None:
        if self._synced_at_ns is None or now_ns() - self._synced_at_ns >= self._resync_ns:
            self.sync()

    def to_process_ns(self, ticks: int) -> int:
        return round(ticks * self._ns_per_tick + self._offset_ns)
