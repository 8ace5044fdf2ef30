"""``rtpose bench loopback``: run the rig's loop while the DAQ records the camera's exposure signal
and rtpose's own outputs, then report the closed loop's latency as measured on the DAQ clock.

Wiring (a rig; the sim DAQ models the same wires, see configs/loopback_sim.toml):

- the camera's exposure-active output (or whatever triggers the camera) → an analog input
  (``--exposure-input``, default: the input named "exposure" or seeing "camera_exposure");
- edge method: a ``frame_toggle`` output → an analog input (``--toggle-input``, default: the
  input named "toggle" or seeing the frame_toggle output);
- feature method: an ``analog_feature`` output → an analog input (``--feature-input``, default:
  the input named "feature" or seeing that output).

Either method may be absent; at least one must be wired. Everything is checked before the run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.bench.loopback_analysis import (
    EdgeLatency,
    Exposures,
    FeatureLag,
    LoopbackError,
    distribution,
    edge_latency,
    feature_lag,
    find_exposures,
)
from rtpose.core.config import RigConfig
from rtpose.core.daq_config import (
    CAMERA_EXPOSURE,
    AnalogFeatureOutputConfig,
    AnalogInputConfig,
    FrameToggleOutputConfig,
)
from rtpose.core.frame_record import NO_CAMERA_TIMESTAMP
from rtpose.core.types import Poses
from rtpose.record.analog import AnalogRecord, read_analog
from rtpose.record.reader import read_frames
from rtpose.triggers.expression import compile_value
from rtpose.triggers.rule_set import feature_environment

SOFTWARE_STAGES = {
    # name: (from, to) frame record timestamps; "camera" starts at the camera's exposure timestamp
    "exposure→grab": ("camera_timestamp_ns", "grab_ns"),
    "wait": ("grab_ns", "engine_start_ns"),
    "engine": ("engine_start_ns", "engine_end_ns"),
    "identity+rules": ("engine_end_ns", "rules_end_ns"),
    "daq write": ("rules_end_ns", "daq_write_ns"),
}


@dataclass(frozen=True)
class LoopbackWiring:
    exposure: AnalogInputConfig
    toggle: AnalogInputConfig | None
    feature: AnalogInputConfig | None
    feature_output: AnalogFeatureOutputConfig | None
    toggle_output: str = ""


def _pick(
    inputs: list[AnalogInputConfig], wanted: str | None, default_name: str, source: str | None
) -> AnalogInputConfig | None:
    names = [channel.name for channel in inputs]
    if wanted is not None:
        if wanted not in names:
            raise LoopbackError(f"no [[daq.inputs]] named {wanted!r} (inputs: {names or 'none'})")
        return inputs[names.index(wanted)]
    for channel in inputs:
        if channel.name == default_name or (source is not None and channel.sim_source == source):
            return channel
    return None


def find_wiring(
    config: RigConfig,
    exposure_input: str | None = None,
    toggle_input: str | None = None,
    feature_input: str | None = None,
) -> LoopbackWiring:
    """Which inputs see the exposure, the frame toggle and the feature output; LoopbackError naming
    what is missing and how to add it."""
    daq = config.daq
    inputs = list(daq.inputs)
    toggles = [o for o in daq.outputs if isinstance(o, FrameToggleOutputConfig)]
    features = [o for o in daq.outputs if isinstance(o, AnalogFeatureOutputConfig)]
    exposure = _pick(inputs, exposure_input, "exposure", CAMERA_EXPOSURE)
    if exposure is None:
        raise LoopbackError(
            'no analog input records the camera\'s exposure: add [[daq.inputs]] name = "exposure" '
            '(wired to the camera\'s exposure-active line; sim: sim_source = "camera_exposure")'
        )
    toggle = _pick(inputs, toggle_input, "toggle", toggles[0].name if toggles else None) if toggles else None
    feature = (
        _pick(inputs, feature_input, "feature", features[0].name if features else None) if features else None
    )
    if toggle is None and feature is None:
        raise LoopbackError(
            'nothing to measure: add a [[daq.outputs]] with kind = "frame_toggle" and an input '
            'wired to it (name = "toggle") for the edge method, and/or an "analog_feature" output '
            'with an input wired to it (name = "feature") for the feature method'
        )
    feature_output = None
    if feature is not None:
        by_name = {o.name: o for o in features}
        feature_output = by_name.get(feature.sim_source or "", features[0])
    toggle_output = ""
    if toggle is not None:
        toggle_names = [o.name for o in toggles]
        toggle_output = toggle.sim_source if toggle.sim_source in toggle_names else toggle_names[0]
    return LoopbackWiring(exposure, toggle, feature, feature_output, toggle_output)


@dataclass
class LoopbackReport:
    run_dir: Path
    frames: int
    exposures: int
    edge: EdgeLatency | None = None
    feature: FeatureLag | None = None
    software_ms: dict[str, np.ndarray] = field(default_factory=dict)
    """Per stage, per processed frame (ms), from rtpose's own frame timestamps."""
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "run_dir": str(self.run_dir),
            "frames_processed": self.frames,
            "exposures_recorded": self.exposures,
            "notes": self.notes,
            "software_stages_ms": {name: distribution(v) for name, v in self.software_ms.items() if len(v)},
        }
        if self.edge is not None:
            edge = self.edge
            result["edge"] = {
                "from_exposure_start_ms": distribution(edge.from_exposure_start_ms),
                "from_mid_exposure_ms": distribution(edge.from_mid_exposure_ms),
                "exposure_ms": round(edge.exposure_ms, 4),
                "pairing_residual_ms": round(edge.pairing_residual_ms, 4),
            }
            software = self.software_total_ms()
            if software is not None:
                result["edge"]["beyond_software_ms"] = distribution(edge.from_exposure_start_ms - software)
        if self.feature is not None:
            result["feature"] = {
                "lag_ms": round(self.feature.lag_ms, 3),
                "peak_correlation": round(self.feature.peak_correlation, 4),
            }
        return result

    def software_total_ms(self) -> np.ndarray | None:
        """Exposure → output write per frame from rtpose's timestamps (None without camera times)."""
        stages = [self.software_ms.get(name) for name in SOFTWARE_STAGES]
        if any(stage is None or len(stage) != self.frames for stage in stages):
            return None
        total: np.ndarray = np.sum([stage for stage in stages if stage is not None], axis=0)
        return total

    def text(self) -> str:
        lines = [f"loopback latency, {self.frames} frames processed, {self.exposures} exposures recorded"]
        if self.edge is not None:
            for label, values in (
                ("exposure start → output", self.edge.from_exposure_start_ms),
                ("mid-exposure → output", self.edge.from_mid_exposure_ms),
            ):
                stats = distribution(values)
                lines.append(
                    f"  edge method, {label}: p50 {stats['p50']:.2f}  p95 {stats['p95']:.2f}  "
                    f"p99 {stats['p99']:.2f}  max {stats['max']:.2f} ms"
                )
        if self.feature is not None:
            lines.append(
                f"  feature method: lag {self.feature.lag_ms:.2f} ms "
                f"(peak correlation {self.feature.peak_correlation:.2f})"
            )
        if self.software_ms:
            parts = [f"{name} {np.median(v):.2f}" for name, v in self.software_ms.items() if len(v)]
            lines.append("  rtpose's own timestamps, p50 ms: " + ", ".join(parts))
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def analyse_run(
    run_dir: Path, config: RigConfig, node_names: list[str], wiring: LoopbackWiring
) -> LoopbackReport:
    """Analyse a run folder recorded with the loopback wiring (see the module docstring)."""
    frames = read_frames(run_dir)
    analog = read_analog(run_dir)
    if len(frames) == 0:
        raise LoopbackError(f"{run_dir}: the run processed no frames")
    _check_record_complete(run_dir, len(frames))
    exposures = find_exposures(analog.channel(wiring.exposure.name))
    report = LoopbackReport(run_dir, len(frames), len(exposures.starts))
    report.software_ms = _software_stages(frames)
    if wiring.toggle is not None:
        toggle_index = [o.name for o in config.daq.outputs].index(wiring.toggle_output)
        report.edge = edge_latency(
            analog.channel(wiring.toggle.name),
            exposures,
            frames["frame_id"],
            frames["daq_write_ns"],
            analog.rate_hz,
            frames["output_on"][:, toggle_index].astype(bool),
        )
        residual_ms = report.edge.pairing_residual_ms
        if residual_ms > 1.0:
            report.notes.append(
                f"output edges and the record's write times disagree by {residual_ms:.2f} ms (median): "
                "edges may be mis-paired (an output cut mid-run adds an edge)"
            )
    if wiring.feature is not None and wiring.feature_output is not None:
        report.feature = _feature_method(analog, exposures, frames, config, node_names, wiring)
    return report


def _check_record_complete(run_dir: Path, frames: int) -> None:
    """Edges are paired by position: a frame missing from the record would shift every later one."""
    summary_path = run_dir / "summary.json"
    if not summary_path.exists():
        raise LoopbackError(f"{run_dir} has no summary.json: the run did not finish")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    dropped = summary.get("side_channels", {}).get("recorder", {}).get("dropped", 0)
    if dropped or summary.get("frames_processed") != frames:
        raise LoopbackError(
            f"the recorder dropped {dropped} frame records ({frames} recorded of "
            f"{summary.get('frames_processed')} processed): edges cannot be paired; "
            "raise record.queue_size or use a faster disk"
        )


def _software_stages(frames: np.ndarray) -> dict[str, np.ndarray]:
    stages: dict[str, np.ndarray] = {}
    has_camera_time = frames["camera_timestamp_ns"] != NO_CAMERA_TIMESTAMP
    for name, (begin, end) in SOFTWARE_STAGES.items():
        values = (frames[end].astype(np.int64) - frames[begin].astype(np.int64)) / 1e6
        if begin == "camera_timestamp_ns" and not has_camera_time.all():
            continue
        stages[name] = values
    return stages


def _feature_method(
    analog: AnalogRecord,
    exposures: Exposures,
    frames: np.ndarray,
    config: RigConfig,
    node_names: list[str],
    wiring: LoopbackWiring,
) -> FeatureLag:
    assert wiring.feature is not None and wiring.feature_output is not None
    output = wiring.feature_output
    feature = compile_value(output.feature, feature_environment(config, node_names))
    values = np.empty(len(frames))
    for index, record in enumerate(frames):
        poses = Poses(
            record["points"],
            record["point_scores"],
            record["instance_scores"],
            record["valid"].astype(bool),
            record["centroids"],
            record["identities"],
        )
        camera_ns = int(record["camera_timestamp_ns"])  # the time the live loop's rules used
        values[index] = feature.evaluate(
            poses, camera_ns if camera_ns != NO_CAMERA_TIMESTAMP else int(record["grab_ns"])
        )
    # the volts the output was driven to (as OutputController computes them), compared in volts
    expected_volts = np.where(
        np.isnan(values), output.off_volts, output.offset_volts + output.volts_per_unit * values
    )
    expected_volts = np.clip(expected_volts, output.min_volts, output.max_volts)
    recorded_volts = analog.channel(wiring.feature.name).astype(np.float64)
    return feature_lag(recorded_volts, exposures.starts, frames["frame_id"], expected_volts, analog.rate_hz)


def write_json(report: LoopbackReport, path: Path) -> None:
    data = report.to_json()
    path.write_text(json.dumps(data, indent=2, default=_json_default) + "\n", encoding="utf-8")


def _json_default(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
