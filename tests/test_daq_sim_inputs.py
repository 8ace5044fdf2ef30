"""The sim DAQ's analog world: inputs that see the outputs (latency, jitter, noise), the camera's
exposure signal, pulse trains, analog feature outputs in the loop, and the run folder's record."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from conftest import demo_test_config

from rtpose.camera.synthetic import SyntheticCamera
from rtpose.core.clock import now_ns
from rtpose.core.config import SyntheticCameraConfig, parse_config
from rtpose.core.daq_config import DaqConfig
from rtpose.daq.sim import SimDaq
from rtpose.record.analog import AnalogRecorder, read_analog
from rtpose.record.reader import read_frames
from rtpose.session import PartOverrides, RunOptions, run

RATE_HZ = 20_000.0


def sim_config(
    sim: dict[str, object], outputs: list[dict[str, object]], inputs: list[dict[str, object]]
) -> DaqConfig:
    return parse_config(
        {
            "daq": {
                "outputs": outputs,
                "inputs": inputs,
                "sim": sim,
                "input_rate_hz": RATE_HZ,
                "input_block_samples": 200,
            }
        }
    ).daq


def recorded(tmp_path: Path, daq: SimDaq, config: DaqConfig) -> AnalogRecorder:
    recorder = AnalogRecorder(tmp_path, list(config.inputs))
    daq.set_input_sink(recorder)
    return recorder


def rising_edges_ns(trace: np.ndarray, times_ns: np.ndarray, threshold: float = 2.5) -> np.ndarray:
    high = trace > threshold
    index = np.flatnonzero(high[1:] & ~high[:-1]) + 1
    return times_ns[index]


def test_an_input_sees_its_output_after_the_configured_latency(tmp_path: Path) -> None:
    config = sim_config(
        {"output_latency_ms": 3.0},
        [{"name": "laser"}],
        [{"name": "loop", "sim_source": "laser"}, {"name": "idle"}],
    )
    daq = SimDaq(config)
    recorder = recorded(tmp_path, daq, config)
    daq.start()
    on_ns = []
    for _ in range(5):
        time.sleep(0.02)
        on_ns.append(daq.write_output(0, True))
        time.sleep(0.01)
        daq.write_output(0, False)
    time.sleep(0.02)
    daq.close()
    recorder.close()
    record = read_analog(tmp_path)
    edges = rising_edges_ns(record.channel("loop"), record.sample_times_ns())
    assert len(edges) == 5
    sample_ns = 1e9 / RATE_HZ
    lag_ns = edges - np.asarray(on_ns) - 3e6
    assert np.all((lag_ns >= 0) & (lag_ns <= sample_ns))  # the first sample at or after the change
    assert record.channel("loop").max() == 5.0
    assert np.all(record.channel("idle") == 0.0)
    assert recorder.gaps == 0
    covered_s = len(record.samples) / RATE_HZ
    assert covered_s > 0.15  # sampling covered the whole session, including the final off


def test_jitter_and_noise_have_the_configured_spread(tmp_path: Path) -> None:
    config = sim_config(
        {"output_latency_ms": 2.0, "output_jitter_ms": 0.5, "noise_volts": 0.05, "seed": 3},
        [{"name": "laser"}],
        [{"name": "loop", "sim_source": "laser"}],
    )
    daq = SimDaq(config)
    recorder = recorded(tmp_path, daq, config)
    daq.start()
    on_ns = []
    for _ in range(40):
        on_ns.append(daq.write_output(0, True))
        time.sleep(0.006)
        daq.write_output(0, False)
        time.sleep(0.006)
    time.sleep(0.01)
    daq.close()
    recorder.close()
    record = read_analog(tmp_path)
    trace = record.channel("loop")
    edges = rising_edges_ns(trace, record.sample_times_ns())
    assert len(edges) == 40
    delays_ms = (edges - np.asarray(on_ns)) / 1e6
    assert abs(np.median(delays_ms) - 2.0) < 0.25
    assert 0.3 < np.std(delays_ms) < 0.75
    low = trace[trace < 2.5]
    assert 0.04 < np.std(low) < 0.06


def test_the_camera_exposure_signal_follows_the_frames(tmp_path: Path) -> None:
    config = sim_config({"exposure_ms": 4.0}, [], [{"name": "exposure", "sim_source": "camera_exposure"}])
    camera = SyntheticCamera(SyntheticCameraConfig(fps=100.0))
    daq = SimDaq(config)
    daq.watch_camera(camera)
    recorder = recorded(tmp_path, daq, config)
    daq.start()
    camera.start()
    frame = np.zeros(camera.frame_shape, np.uint8)
    frame_times = [camera.grab_into(frame, 1.0)[1] for _ in range(20)]
    daq.close()
    recorder.close()
    record = read_analog(tmp_path)
    trace, times = record.channel("exposure"), record.sample_times_ns()
    edges = rising_edges_ns(trace, times)
    sample_ns = 1e9 / RATE_HZ
    for frame_ns in frame_times:
        assert np.min(np.abs(edges - frame_ns)) <= sample_ns
    high_fraction = np.mean(trace[times > frame_times[0]] > 2.5)
    assert math.isclose(high_fraction, 0.4, abs_tol=0.03)  # 4 ms of every 10 ms


def test_a_pulse_train_appears_as_its_pulses(tmp_path: Path) -> None:
    config = sim_config(
        {},
        [
            {
                "name": "train",
                "kind": "pulse_train",
                "frequency_hz": 200,
                "pulse_width_ms": 1,
                "pulse_count": 5,
            }
        ],
        [{"name": "loop", "sim_source": "train"}],
    )
    daq = SimDaq(config)
    recorder = recorded(tmp_path, daq, config)
    daq.start()
    start_ns = daq.write_output(0, True)
    time.sleep(0.06)  # longer than the 25 ms train: it ends by itself (finite)
    daq.close()
    recorder.close()
    record = read_analog(tmp_path)
    trace = record.channel("loop")
    edges = rising_edges_ns(trace, record.sample_times_ns())
    assert len(edges) == 5
    assert np.allclose(np.diff(edges), 5e6, atol=1e9 / RATE_HZ)
    assert abs(edges[0] - start_ns) <= 1e9 / RATE_HZ
    assert math.isclose(np.sum(trace > 2.5) / RATE_HZ, 0.005, abs_tol=0.0005)  # 5 × 1 ms high


def test_analog_feature_output_follows_the_feature_in_the_loop(tmp_path: Path) -> None:
    feature_output = {
        "name": "distance",
        "kind": "analog_feature",
        "channel": "Dev1/ao1",
        "feature": "distance(female.thorax, male.thorax)",
        "volts_per_unit": 0.02,
        "max_volts": 10.0,
    }
    daq_section = {
        "outputs": [{"name": "opto"}, feature_output],
        "inputs": [
            {"name": "feature", "sim_source": "distance"},
            {"name": "exposure", "sim_source": "camera_exposure"},
        ],
        "input_rate_hz": 5000,
    }
    config = demo_test_config(daq=daq_section)
    daq = SimDaq(config.daq)
    result = run(
        config,
        RunOptions(out=tmp_path / "run", seconds=1.5, show_status=False, overrides=PartOverrides(daq=daq)),
    )
    assert result.exit_code == 0, result.error
    frames = read_frames(result.run_dir)
    female, male = 0, 1
    thorax = 1
    expected = [0.0]  # the output starts at off_volts; then one write per change
    for record in frames:
        slots = {int(identity): slot for slot, identity in enumerate(record["identities"]) if identity >= 0}
        if female in slots and male in slots:
            a, b = record["points"][slots[female], thorax], record["points"][slots[male], thorax]
            volts = min(max(0.02 * math.hypot(float(a[0] - b[0]), float(a[1] - b[1])), 0.0), 10.0)
        else:
            volts = 0.0  # not measurable: off_volts
        if not math.isclose(volts, expected[-1], abs_tol=1e-9):
            expected.append(volts)
    written = [float(write.value) for write in daq.writes if write.name == "distance"]
    during_run = written[1 : len(expected)]
    np.testing.assert_allclose(during_run, expected[1:], rtol=1e-4)
    assert written[0] == 0.0 and all(value == 0.0 for value in written[len(expected) :])  # off at exit
    assert len(during_run) >= len(frames) // 2
    analog = read_analog(result.run_dir)
    assert analog.names == ["feature", "exposure"]
    duration_s = len(analog.samples) / analog.rate_hz
    assert duration_s > 1.4
    assert result.summary["analog_inputs"]["gaps"] == 0
    assert result.summary["analog_inputs"]["error"] is None
    assert np.max(analog.channel("feature")) > 0.5  # the loopback saw the feature's voltage
    assert np.sum(np.diff((analog.channel("exposure") > 2.5).astype(int)) == 1) >= 0.9 * 1.4 * 60


def test_sampling_stops_cleanly_and_never_blocks_writes(tmp_path: Path) -> None:
    config = sim_config({}, [{"name": "laser"}], [{"name": "loop", "sim_source": "laser"}])
    daq = SimDaq(config)
    recorder = recorded(tmp_path, daq, config)
    daq.start()
    worst_ns = 0
    for index in range(2000):
        before = now_ns()
        daq.write_output(0, index % 2 == 0)
        worst_ns = max(worst_ns, now_ns() - before)
    daq.close()
    recorder.close()
    assert daq.input_error is None
    assert worst_ns < 50e6  # writes never wait on a sampling pass (generous: shared CI cores)
