"""`rtpose bench loopback` on the simulated DAQ with a known injected output latency: both methods
recover it, skipped frames do not mis-pair edges, and the report and plots come out right."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rtpose.bench.loopback import analyse_run, find_wiring
from rtpose.bench.loopback_analysis import Exposures, LoopbackError, edge_latency, feature_lag
from rtpose.bench.loopback_command import sim_config_path
from rtpose.bench.loopback_plot import loopback_figure
from rtpose.camera.fly_scene import NODE_NAMES
from rtpose.cli import main
from rtpose.core.config import load_config, parse_config
from rtpose.daq.sim import SimDaq
from rtpose.record.reader import read_frames
from rtpose.session import PartOverrides, RunOptions, run

INJECTED_MS = 3.0


def loopback_toml(tmp_path: Path, fps: float, jitter_ms: float) -> Path:
    """The bundled sim loopback rig with a known latency, written where the test owns it."""
    text = sim_config_path().read_text(encoding="utf-8")
    text = text.replace("fps = 60.0", f"fps = {fps}")
    text = text.replace("output_latency_ms = 2.0", f"output_latency_ms = {INJECTED_MS}")
    text = text.replace("output_jitter_ms = 0.2", f"output_jitter_ms = {jitter_ms}")
    text = text.replace('path = "demo"', 'path = "demo"\nthreads = 1')
    path = tmp_path / "loopback.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_command_recovers_the_injected_latency_and_writes_report_and_plots(tmp_path: Path) -> None:
    config_path = loopback_toml(tmp_path, fps=60.0, jitter_ms=0.2)
    report_path, plot_path, run_dir = tmp_path / "report.json", tmp_path / "loopback.png", tmp_path / "run"
    argv = ["bench", "loopback", str(config_path), "--seconds", "4", "--quiet"]
    code = main([*argv, "--json", str(report_path), "--plot", str(plot_path), "--out", str(run_dir)])
    assert code == 0
    report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
    edge = report["edge"]
    assert edge["from_exposure_start_ms"]["count"] == report["frames_processed"] > 100
    # beyond rtpose's own exposure → write timestamps, the DAQ sees exactly the injected latency
    assert abs(edge["beyond_software_ms"]["p50"] - INJECTED_MS) <= 0.1
    assert edge["pairing_residual_ms"] < 0.5  # jitter alone: ~0.2; a mis-pairing: a frame period
    assert abs(edge["exposure_ms"] - 2.0) < 0.1
    p50 = edge["from_exposure_start_ms"]["p50"]
    assert edge["from_mid_exposure_ms"]["p50"] == pytest.approx(p50 - 1.0, abs=0.01)
    assert p50 <= edge["from_exposure_start_ms"]["p95"] <= edge["from_exposure_start_ms"]["p99"]
    # the feature method finds the same latency within one frame period (16.7 ms at 60 fps)
    assert abs(report["feature"]["lag_ms"] - p50) < 1000.0 / 60.0
    assert report["feature"]["lag_ms"] > INJECTED_MS  # the total includes rtpose's own time
    assert set(report["software_stages_ms"]) == {
        "exposure→grab",
        "wait",
        "engine",
        "identity+rules",
        "daq write",
    }
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_path.stat().st_size > 20_000

    config = load_config(config_path)
    analysed = analyse_run(run_dir, config, list(NODE_NAMES), find_wiring(config))
    figure = loopback_figure(analysed)
    histogram, course, breakdown, correlation = figure.axes[:4]
    assert histogram.get_xlabel() == "latency (ms)" and histogram.get_ylabel() == "frames"
    assert (
        course.get_xlabel() == "time since the inputs started (s)" and course.get_ylabel() == "latency (ms)"
    )
    assert breakdown.get_xlabel() == "median time (ms)"
    assert [label.get_text() for label in breakdown.get_yticklabels()] == [
        "rtpose timestamps",
        "DAQ-measured",
    ]
    assert correlation.get_xlabel() == "lag (ms)"
    assert "p50" in histogram.get_legend().get_texts()[0].get_text()


def test_skipped_frames_do_not_mis_pair_edges(tmp_path: Path) -> None:
    """A camera faster than the loop: many frames are skipped, yet every processed frame's edge
    is paired with its own exposure (a mis-pairing would be off by a 4 ms frame period)."""
    config = load_config(loopback_toml(tmp_path, fps=240.0, jitter_ms=0.0))
    daq = SimDaq(config.daq)
    result = run(
        config,
        RunOptions(
            config_dir=tmp_path,
            out=tmp_path / "run",
            seconds=3,
            show_status=False,
            overrides=PartOverrides(daq=daq),
        ),
    )
    assert result.exit_code == 0, result.error
    assert result.summary["frames_dropped"] > 50
    report = analyse_run(result.run_dir, config, list(NODE_NAMES), find_wiring(config))
    assert report.edge is not None
    frames = read_frames(result.run_dir)
    toggle_writes = [write.t_ns for write in daq.writes if write.name == "toggle_out"][1:]  # [0]: start() off
    truth_ms = (np.asarray(toggle_writes[: len(frames)]) - frames["camera_timestamp_ns"]) / 1e6 + INJECTED_MS
    error_ms = report.edge.from_exposure_start_ms - truth_ms
    assert np.max(np.abs(error_ms)) <= 2 * 1000.0 / 20_000  # within two input samples, every frame


def test_missing_wiring_is_named_before_anything_runs() -> None:
    config = parse_config(
        {"daq": {"outputs": [{"name": "t", "kind": "frame_toggle"}], "inputs": [{"name": "x"}]}}
    )
    with pytest.raises(LoopbackError, match="exposure"):
        find_wiring(config)
    config = parse_config({"daq": {"inputs": [{"name": "exposure", "sim_source": "camera_exposure"}]}})
    with pytest.raises(LoopbackError, match="frame_toggle"):
        find_wiring(config)
    with pytest.raises(LoopbackError, match=r"no \[\[daq\.inputs\]\] named 'cam'"):
        find_wiring(config, exposure_input="cam")


def test_missing_edges_are_an_error_not_a_wrong_number() -> None:
    rate = 10_000.0
    toggle = np.zeros(2000)
    toggle[500:900] = 5.0  # two edges ...
    exposures = Exposures(np.arange(10, 2000, 100, dtype=np.float64), np.full(20, 20.0))
    with pytest.raises(LoopbackError, match="2 edges for 3 processed frames"):  # ... for three frames
        edge_latency(toggle, exposures, np.array([1, 4, 7]), np.array([0, 1, 2]) * 10**7, rate)


RATE_HZ = 10_000.0
PERIOD_SAMPLES = 166.0  # ~60 fps at 10 kHz


def step_signal(
    count: int, change_at: np.ndarray, values: np.ndarray, noise: float, seed: int = 0
) -> np.ndarray:
    signal = np.zeros(count)
    for at, value in zip(np.ceil(change_at).astype(int), values, strict=True):
        signal[at:] = value
    return signal + np.random.default_rng(seed).normal(0.0, noise, count)


@pytest.mark.parametrize("trend", [False, True])
def test_feature_lag_recovers_a_known_lag(trend: bool) -> None:
    frames = 600
    starts = 50 + np.arange(frames) * PERIOD_SAMPLES
    rng = np.random.default_rng(1)
    values = rng.normal(0.0, 0.3, frames)  # frame-to-frame changes (pose noise, motion)
    if trend:
        values += np.linspace(0.0, 20.0, frames)  # a slow drift that correlates at every lag alike
    else:
        values = np.cumsum(values)
    latency = 120 + rng.normal(0.0, 10.0, frames)  # 12 ms ± 1 ms per frame
    count = int(starts[-1] + 1000)
    recorded = step_signal(count, starts + latency, values, noise=0.05)
    result = feature_lag(recorded, starts, np.arange(frames), values, RATE_HZ)
    assert abs(result.lag_ms - 12.0) < 0.5
    assert result.peak_correlation > 0.5


def toggle_trace(count: int, edge_at: list[float]) -> np.ndarray:
    trace, level, last = np.zeros(count), 0.0, 0
    for at in [*edge_at, count]:
        trace[last : int(np.ceil(at))] = level
        level, last = 5.0 - level, int(np.ceil(at))
    return trace


def test_a_watchdog_reset_between_frames_does_not_shift_the_pairing() -> None:
    frames = 10
    starts = 20 + np.arange(frames) * PERIOD_SAMPLES
    exposures = Exposures(starts, np.full(frames, 20.0))
    latency = 80.0  # samples
    edges = [float(start + latency) for start in starts]
    states = np.array([index % 2 == 0 for index in range(frames)])  # True, False, True, ...
    # after frame 4 (toggle high) the watchdog reset it low; frame 5 then toggled it high again
    reset_at = starts[4] + 120
    edges.insert(5, float(reset_at))
    states[5:] = ~states[5:]
    trace = toggle_trace(int(starts[-1] + 400), edges)
    write_ns = (starts + latency) / RATE_HZ * 1e9
    result = edge_latency(trace, exposures, np.arange(frames), write_ns, RATE_HZ, states)
    np.testing.assert_allclose(result.from_exposure_start_ms, latency / RATE_HZ * 1000, atol=0.11)
    with pytest.raises(LoopbackError, match="before their frames' exposures"):  # without the states
        edge_latency(trace, exposures, np.arange(frames), write_ns, RATE_HZ)


def test_a_missing_first_exposure_is_caught_not_reported_as_latency() -> None:
    frames = 10
    starts = 20 + np.arange(frames + 1) * PERIOD_SAMPLES
    trace = toggle_trace(int(starts[-1] + 400), [float(start + 60) for start in starts[:frames]])
    exposures = Exposures(starts[1:], np.full(frames, 20.0))  # frame 0's exposure was not recorded
    with pytest.raises(LoopbackError, match="mis-paired"):
        edge_latency(trace, exposures, np.arange(frames), starts[:frames] * 1e5, RATE_HZ)
