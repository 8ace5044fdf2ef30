"""Loop parts: latency statistics, side channels that never block and survive a hung consumer."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from rtpose.core.frame_record import Event, frame_record_dtype
from rtpose.loop.side_channel import RecordRing, SideChannel
from rtpose.loop.stats import TimestampLog


def test_latency_summary_matches_exact_percentiles_within_resolution() -> None:
    rng = np.random.default_rng(0)
    log = TimestampLog(window=64)
    engine_ns = rng.lognormal(np.log(5e6), 0.3, size=5000).astype(np.int64)
    grab = np.cumsum(np.full(5000, 20_000_000))
    for g, e in zip(grab, engine_ns, strict=True):
        start = int(g) + 100_000
        log.append(int(g), start, start + int(e), start + int(e) + 20_000, start + int(e) + 50_000)
    summary = log.latency_summary()["engine"]
    for q in (50, 99):
        exact = np.percentile(engine_ns, q) / 1e6
        assert abs(summary[f"p{q}"] - exact) / exact < 0.025
    assert summary["max"] == round(engine_ns.max() / 1e6, 4)
    assert log.latency_summary()["wait"]["p50"] == pytest.approx(0.1, rel=0.02)
    assert len(log.recent_stage_ms(0)["engine"]) == 64  # the window, not the whole run


class _BlockingConsumer:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.frames: list[int] = []
        self.closed = False

    def handle_frame(self, record: np.ndarray) -> None:
        self.release.wait()
        self.frames.append(int(record["frame_id"]))

    def handle_event(self, event: Event) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _ring() -> RecordRing:
    return RecordRing(frame_record_dtype(2, 3, 1, 1), capacity=64)


def test_full_queue_drops_and_counts_without_blocking() -> None:
    ring, consumer = _ring(), _BlockingConsumer()
    channel = SideChannel("slow", consumer, ring, queue_size=4)
    started = time.perf_counter()
    for frame_id in range(40):
        ring.next_slot()["frame_id"] = frame_id
        channel.submit_frame(ring.commit())
    assert time.perf_counter() - started < 0.05
    assert channel.dropped >= 40 - 4 - 1
    consumer.release.set()
    assert channel.close(timeout_s=5.0)
    assert consumer.closed
    assert len(consumer.frames) + channel.dropped == 40


def test_close_gives_up_on_a_hung_consumer_without_touching_it() -> None:
    ring, consumer = _ring(), _BlockingConsumer()
    channel = SideChannel("hung", consumer, ring, queue_size=2)
    for _ in range(5):
        channel.submit_frame(ring.commit())
    started = time.perf_counter()
    assert channel.close(timeout_s=0.3) is False
    assert time.perf_counter() - started < 2.0
    assert consumer.closed is False  # never closed from a second thread while in use
    assert isinstance(channel.error, TimeoutError)
    consumer.release.set()
