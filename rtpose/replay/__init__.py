"""Offline replay of a recorded video through the same engine, identity and rules: ``rtpose replay``.

Given a run folder, the replay uses that run's resolved config (``config.json``) and model,
processes exactly the frames the live run processed, each with the time the live run used
(``rtpose.replay.camera``), and compares the decisions frame by frame (``rtpose.replay.compare``).
Given a rig config instead, it runs every frame of the video and writes a run folder, with nothing
to compare. Either way: policy ``every`` (no frame skipped), as fast as the engine goes, the
simulated DAQ (a replay never drives real outputs), no streaming, no control socket, no video
recording. The replay's own run folder gets ``replay.json`` (sources, model hashes, comparison).

Relative paths in a run folder's config (plugin rules, a model given by a relative path) are
resolved against the working directory; if they do not resolve, replay from the rig config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from rtpose.camera.video import VideoCamera
from rtpose.convert.run_data import RunData, read_run, read_video_frame_ids
from rtpose.core.config import RigConfig, VideoCameraConfig, load_config, parse_config
from rtpose.core.errors import ConfigError
from rtpose.core.model_metadata import read_metadata
from rtpose.daq.sim import SimDaq
from rtpose.engine import resolve_model_path
from rtpose.record.layout import video_frame_ids_path
from rtpose.replay.camera import ReplayCamera
from rtpose.replay.compare import ReplayComparison, compare_runs
from rtpose.session import PartOverrides, RunOptions, RunResult, run

REPLAY_FILE = "replay.json"


@dataclass
class ReplayResult:
    result: RunResult
    comparison: ReplayComparison | None
    """None when replaying a rig config (no live run to compare with)."""
    model_same: bool | None
    """Whether the replay's model graph has the live run's sha256 (None without a live run)."""


def replay(
    source: Path,
    video: Path,
    out: Path | None = None,
    show_status: bool = False,
    status_stream: TextIO | None = None,
) -> ReplayResult:
    """Replay ``video`` through the pipeline of ``source`` (a run folder or a rig config)."""
    source, video = Path(source), Path(video)
    if not video.is_file():
        raise ConfigError(f"--video {video}: no such file")
    live: RunData | None = None
    if source.is_dir():
        live = read_run(source)
        data = _run_config(source)
        config_dir = Path(".")
        out = out if out is not None else _free_sibling(source)
    elif source.is_file():
        data = load_config(source).model_dump(mode="json")
        config_dir = source.parent
    else:
        raise ConfigError(f"{source}: no such run folder or rig config")
    config = _replay_config(data, video)
    model_path = resolve_model_path(config.model.path, config_dir)
    metadata = read_metadata(model_path)
    sidecar = video_frame_ids_path(video)
    video_ids = read_video_frame_ids(video) if sidecar.is_file() else None
    schedule = None
    if live is not None:
        schedule = dict(zip(live.frames["frame_id"].tolist(), live.frame_times_ns.tolist(), strict=True))
    assert isinstance(config.camera, VideoCameraConfig)
    camera = ReplayCamera(
        VideoCamera(config.camera, metadata.input.channels, config_dir), video_ids, schedule
    )
    overrides = PartOverrides(camera=camera, daq=SimDaq(config.daq))
    options = RunOptions(
        config_dir=config_dir,
        out=out,
        show_status=show_status,
        status_stream=status_stream,
        overrides=overrides,
    )
    result = run(config, options)
    comparison = model_same = None
    if live is not None:
        comparison = compare_runs(live, read_run(result.run_dir))
        model_same = _model_hash(live.run_dir) == metadata.files.onnx_sha256
    record: dict[str, Any] = {
        "source": str(source.resolve()),
        "video": str(video.resolve()),
        "video_frame_ids": str(sidecar.resolve()) if video_ids is not None else None,
        "frames_skipped_in_video": camera.frames_skipped,
        "model_sha256": metadata.files.onnx_sha256,
        "model_same_as_live": model_same,
        "comparison": None if comparison is None else comparison.to_dict(),
    }
    (result.run_dir / REPLAY_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return ReplayResult(result, comparison, model_same)


def _run_config(run_dir: Path) -> dict[str, Any]:
    """The live run's resolved config, with its model pointed at the package it ran."""
    data: dict[str, Any] = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    model = json.loads((run_dir / "model.json").read_text(encoding="utf-8"))
    if data.get("model", {}).get("path") != "demo":
        package = Path(str(model.get("package_path", "")))
        if not package.is_dir():
            raise ConfigError(
                f"{run_dir}: the model package the run used ({package}) is not found from here; replay "
                "from the rig config instead: rtpose replay RIG.toml --video VIDEO"
            )
        data["model"]["path"] = str(package.resolve())
    return data


def _replay_config(data: dict[str, Any], video: Path) -> RigConfig:
    data = {**data}
    data["camera"] = {"backend": "video", "path": str(video.resolve()), "realtime": False, "loop": False}
    data["loop"] = {**data.get("loop", {}), "frame_policy": "every"}
    data["stream"] = {**data.get("stream", {}), "enabled": False}
    data["control"] = {"enabled": False}
    data["record"] = {**data.get("record", {}), "video": False}
    return parse_config(data, "the replayed run's config")


def _model_hash(run_dir: Path) -> str | None:
    model = json.loads((run_dir / "model.json").read_text(encoding="utf-8"))
    files = model.get("files") or {}
    value = files.get("onnx_sha256")
    return None if value is None else str(value)


def _free_sibling(run_dir: Path) -> Path:
    """``<run>-replay``, or ``<run>-replay-2``, ... : a folder next to the run not yet recorded into."""
    base = run_dir.resolve()
    for suffix in range(1, 1000):
        candidate = base.with_name(f"{base.name}-replay" + (f"-{suffix}" if suffix > 1 else ""))
        if not (candidate / "frames.bin").exists():
            return candidate
    raise ConfigError(f"{run_dir}: too many replays next to it; give --out")


__all__ = ["ReplayComparison", "ReplayResult", "compare_runs", "replay"]
