"""Latency from DAQ loopback recordings: pure functions over arrays (no I/O, no plotting).

Everything is measured on the DAQ's sample clock (sample indices, converted to ms with the
rate), so the numbers do not depend on rtpose's own timestamps.

Edge method: the camera's exposure signal gives one rising edge per camera frame; the k-th
exposure edge since the inputs started is frame id k (the camera starts after the DAQ inputs).
A ``frame_toggle`` output changes state once per processed frame, so its edges belong to the
record's frames in order; a watchdog cut that reset a high toggle between two frames adds one
edge, which the record shows (the toggle's recorded state did not change between those frames)
and the pairing accounts for. Each processed frame's latency is then (its output edge) − (the
exposure edge of its frame id): frames the loop skipped have exposures but no output edge, and
do not shift the pairing. A consistency check compares the intervals between output edges with
the intervals between the record's own write timestamps; a mis-pairing shows up as a frame
period.

Feature method (as in the SLEAP paper): the feature the loop wrote to an analog output, recorded
on an input, is cross-correlated with the same feature computed offline from the recorded poses
and placed at each frame's exposure time; the lag of the correlation peak is the latency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtpose.core.errors import RtposeError

FloatArray = npt.NDArray[np.float64]


class LoopbackError(RtposeError):
    """The recorded signals cannot be analysed (not wired, too few edges, inconsistent)."""


def crossings(trace: npt.NDArray[np.floating], threshold: float, direction: str) -> FloatArray:
    """Fractional sample indices where ``trace`` crosses ``threshold`` ("rising", "falling" or
    "both"), linearly interpolated between the two samples around each crossing."""
    high = trace > threshold
    change = high[1:] != high[:-1]
    if direction == "rising":
        change &= high[1:]
    elif direction == "falling":
        change &= ~high[1:]
    index = np.flatnonzero(change)
    before, after = trace[index].astype(np.float64), trace[index + 1].astype(np.float64)
    span = after - before
    fraction = np.where(span != 0, (threshold - before) / np.where(span != 0, span, 1.0), 0.5)
    result: FloatArray = index + np.clip(fraction, 0.0, 1.0)
    return result


def midpoint_threshold(trace: npt.NDArray[np.floating]) -> float:
    """Half-way between the signal's low and high levels (1st / 99.9th percentiles: robust to
    noise spikes, and still sees exposures that are high for only a few % of the time)."""
    low, high = np.percentile(trace, [1, 99.9])  # short exposures are high ~1 % of the time
    if high - low < 1e-3:
        raise LoopbackError(
            "a loopback input never changes level: check that it is wired to the output (or the "
            "camera's exposure line) and that the run processed frames"
        )
    return float((low + high) / 2)


@dataclass(frozen=True)
class Exposures:
    """The camera's exposures on the DAQ clock, in samples (frame id k = index k)."""

    starts: FloatArray
    widths: FloatArray


def find_exposures(trace: npt.NDArray[np.floating]) -> Exposures:
    threshold = midpoint_threshold(trace)
    starts = crossings(trace, threshold, "rising")
    ends = crossings(trace, threshold, "falling")
    widths = np.full(len(starts), np.nan)
    if len(starts):
        following = np.searchsorted(ends, starts)
        has_end = following < len(ends)
        widths[has_end] = ends[following[has_end]] - starts[has_end]
    return Exposures(starts, widths)


@dataclass(frozen=True)
class EdgeLatency:
    """Per processed frame (record order): frame id and latencies in ms."""

    frame_ids: npt.NDArray[np.int64]
    from_exposure_start_ms: FloatArray
    from_mid_exposure_ms: FloatArray
    exposure_ms: float
    output_edge_ms: FloatArray
    """Each frame's output edge, ms since the first sample (for time-course plots)."""
    pairing_residual_ms: float
    """Median |interval between output edges − interval between the record's write times|: near
    0 when edges are paired with the right frames (a mis-pairing shows up as a frame period)."""


def edge_latency(
    toggle_trace: npt.NDArray[np.floating],
    exposures: Exposures,
    frame_ids: npt.NDArray[np.integer],
    write_ns: npt.NDArray[np.integer],
    rate_hz: float,
    toggle_states: npt.NDArray[np.bool_] | None = None,
) -> EdgeLatency:
    """Pair each processed frame's output edge with its frame's exposure (module docstring).

    ``toggle_states`` is the toggle's recorded state after each frame (the record's
    ``output_on`` column); without it every frame is assumed to add exactly one edge."""
    frames = len(frame_ids)
    if frames == 0:
        raise LoopbackError("the run processed no frames")
    edge_index = np.arange(frames)
    if toggle_states is not None:
        states = np.asarray(toggle_states, bool)
        previous = np.concatenate([[False], states[:-1]])
        edge_index = np.cumsum(np.where(states != previous, 1, 2)) - 1  # 2: a reset came between
    all_edges = crossings(toggle_trace, midpoint_threshold(toggle_trace), "both")
    if len(all_edges) < edge_index[-1] + 1:
        raise LoopbackError(
            f"the toggle input shows {len(all_edges)} edges for {frames} processed frames "
            f"({edge_index[-1] + 1} expected): edges are missing (input sample rate too low for the "
            "frame rate, or the input is not wired to the frame_toggle output)"
        )
    edges = all_edges[edge_index]  # a final all_off may add one more edge after the last frame
    last_frame = int(np.max(frame_ids))
    if last_frame >= len(exposures.starts):
        raise LoopbackError(
            f"the exposure input shows {len(exposures.starts)} exposures but the record reaches "
            f"frame id {last_frame}: exposures are missing (was the camera started before the DAQ "
            "inputs, or is the exposure line not wired?)"
        )
    samples_per_ms = rate_hz / 1000.0
    exposure_starts = exposures.starts[np.asarray(frame_ids, np.int64)]
    from_start_ms = (edges - exposure_starts) / samples_per_ms
    early = int(np.sum(from_start_ms < -2.0 / samples_per_ms))
    if early:
        raise LoopbackError(
            f"{early} output edges come before their frames' exposures: exposures and frames are "
            "mis-paired (an exposure recorded before the camera's frame 0, or extra pulses on the "
            "exposure line)"
        )
    widths = exposures.widths[np.isfinite(exposures.widths)]
    exposure_ms = float(np.median(widths) / samples_per_ms) if len(widths) else 0.0
    residual_ms = 0.0
    if frames > 2:
        daq_intervals_ms = np.diff(edges) / samples_per_ms
        record_intervals_ms = np.diff(np.asarray(write_ns, np.float64)) / 1e6
        residual_ms = float(np.median(np.abs(daq_intervals_ms - record_intervals_ms)))
    return EdgeLatency(
        np.asarray(frame_ids, np.int64),
        from_start_ms,
        from_start_ms - exposure_ms / 2,
        exposure_ms,
        edges / samples_per_ms,
        residual_ms,
    )


@dataclass(frozen=True)
class FeatureLag:
    lag_ms: float
    peak_correlation: float
    lags_ms: FloatArray
    correlation: FloatArray


def feature_lag(
    recorded_feature: npt.NDArray[np.floating],
    exposure_starts: FloatArray,
    frame_ids: npt.NDArray[np.integer],
    frame_values: npt.NDArray[np.floating],
    rate_hz: float,
    max_lag_ms: float = 200.0,
) -> FeatureLag:
    """Lag (ms) at which the recorded feature best matches the offline feature placed at each
    frame's exposure start (held until the next processed frame).

    Only the middle of the run is compared: the reference starts ``max_lag_ms`` after the first
    processed frame and ends ``max_lag_ms`` before the last, so that every lag looks at the
    signal while the loop was writing it (not the off level before the first write or after the
    last). The latency must therefore be below ``max_lag_ms``."""
    count = len(recorded_feature)
    values = np.asarray(frame_values, np.float64)
    known = np.isfinite(values)
    if known.sum() < 10:
        raise LoopbackError("fewer than 10 frames have a measurable feature: nothing to correlate")
    starts = exposure_starts[np.asarray(frame_ids, np.int64)][known]
    values = values[known]
    max_lag = int(max_lag_ms * rate_hz / 1000.0)
    positions = np.clip(np.ceil(starts).astype(np.int64), 0, count)
    low, high = int(positions[0]) + max_lag, int(positions[-1]) - max_lag
    if high - low < max_lag:
        raise LoopbackError(
            f"the run is too short for the feature method: it needs more than {3 * max_lag_ms / 1000:.1f} s "
            "of processed frames"
        )
    reference = np.zeros(count)
    for begin, end, value in zip(positions, [*positions[1:], count], values, strict=True):
        reference[begin:end] = value
    # keep the frame-to-frame changes, drop the slow trend (it correlates at every lag alike)
    smoothing = max(int(10 * np.median(np.diff(positions))), 3)
    reference = _high_pass(reference, smoothing)
    signal_full = _high_pass(np.asarray(recorded_feature, np.float64), smoothing)
    window = reference[low:high].copy()
    signal = signal_full[low : high + max_lag].copy()
    for begin, end in _stalls(positions, max_lag):  # a stalled loop's outputs were cut: leave it out
        window[max(begin - low, 0) : max(end - low, 0)] = 0.0
        signal[max(begin - low, 0) : max(end - low, 0)] = 0.0
    size = 1 << int(np.ceil(np.log2(len(signal) + len(window))))
    spectrum = np.fft.rfft(signal, size) * np.conj(np.fft.rfft(window, size))
    correlation = np.fft.irfft(spectrum, size)[: max_lag + 1]
    span = len(window)
    energy = np.concatenate([[0.0], np.cumsum(signal**2)])
    signal_norm = np.sqrt(energy[span : span + max_lag + 1] - energy[: max_lag + 1])
    norm = np.sqrt(np.sum(window**2)) * signal_norm
    correlation = correlation / np.where(norm > 0, norm, 1.0)
    peak = int(np.argmax(correlation))
    refined = float(peak)
    if 0 < peak < max_lag:
        left, centre, right = correlation[peak - 1 : peak + 2]
        curvature = left - 2 * centre + right
        if curvature < 0:
            refined = peak + 0.5 * (left - right) / curvature
    lags_ms: FloatArray = np.arange(max_lag + 1, dtype=np.float64) * (1000.0 / rate_hz)
    return FeatureLag(refined * 1000.0 / rate_hz, float(correlation[peak]), lags_ms, correlation)


def _high_pass(values: FloatArray, width: int) -> FloatArray:
    """``values`` minus their centred moving average over ``width`` samples (edges: shorter)."""
    sums = np.concatenate([[0.0], np.cumsum(values)])
    index = np.arange(len(values))
    begin = np.clip(index - width // 2, 0, len(values))
    end = np.clip(index + width // 2 + 1, 0, len(values))
    result: FloatArray = values - (sums[end] - sums[begin]) / (end - begin)
    return result


def _stalls(positions: npt.NDArray[np.int64], max_lag: int) -> list[tuple[int, int]]:
    """Sample spans around long pauses between processed frames (the watchdog may have cut the
    outputs there): from the frame before the pause to ``max_lag`` after the frame after it."""
    intervals = np.diff(positions)
    if len(intervals) == 0:
        return []
    limit = max(10 * float(np.median(intervals)), 0.25 * max_lag)
    return [
        (int(positions[index]), int(positions[index + 1]) + max_lag)
        for index in np.flatnonzero(intervals > limit)
    ]


def distribution(values_ms: npt.NDArray[np.floating]) -> dict[str, float]:
    """p50, p95, p99, max, mean and count of a latency sample (ms)."""
    values = np.asarray(values_ms, np.float64)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "count": len(values),
        "p50": round(float(p50), 4),
        "p95": round(float(p95), 4),
        "p99": round(float(p99), 4),
        "max": round(float(values.max()), 4),
        "mean": round(float(values.mean()), 4),
    }
