"""A run as an NWB file with ndx-pose, written with pynwb: ``pip install 'rtpose[convert]'``.

Layout (processing module ``behavior``):
- ``Skeletons``: one skeleton per animal (the model's nodes and edges).
- one ``PoseEstimation`` per animal (named after it), holding one ``PoseEstimationSeries`` per
  node: x, y in frame pixels (origin at the top-left pixel's centre, as in SLEAP), NaN where the
  animal or the node was not found, and its confidence (the confidence-map peak, 0 when missing).
  Instances with no identity go to ``unidentified_slot<k>`` (only when there are any).
- ``rule_active`` and ``output_on``: TimeSeries (frames × rules, frames × outputs; 0/1), the
  state after each frame, in the order their descriptions list.
Every series shares one set of timestamps: each frame's time (camera timestamp, else grab time),
in seconds from the session start, which is when recording started (``frames.json``'s clock),
or the first frame for recordings without that clock. The recorded video, when there is one,
is the pose estimations' ``original_videos``.
"""

from __future__ import annotations

import datetime
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from rtpose import __version__
from rtpose.convert.run_data import RunData
from rtpose.core.extras import require
from rtpose.core.types import NO_IDENTITY

REFERENCE_FRAME = (
    "(0, 0) is the centre of the top-left pixel of the camera frame; x to the right, y down (pixels)"
)
CONFIDENCE_DEFINITION = "peak value of the node's confidence map (0 where the node was not found)"


def write_nwb(run: RunData, path: Path) -> Path:
    """Write ``run`` to ``path`` as NWB (see the module docstring); returns the path."""
    pynwb = require("pynwb", "convert", "Conversion to NWB")
    ndx_pose = require("ndx_pose", "convert", "Conversion to NWB")
    start, timestamps = _session_time(run)
    nwbfile = pynwb.NWBFile(
        session_description=(
            f"rtpose closed-loop run {run.run_dir.name}: poses of {', '.join(run.animal_names)} "
            f"({run.model_name}), rule states and outputs per frame"
        ),
        identifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"rtpose:{run.run_dir.resolve()}:{start.isoformat()}")),
        session_start_time=start,
        source_script=f"rtpose {__version__} (rtpose convert --to nwb)",
        source_script_file_name="rtpose",
    )
    camera = nwbfile.create_device(name="camera", description="the rig camera the poses were estimated on")
    behavior = nwbfile.create_processing_module("behavior", "poses, rule states and outputs from rtpose")
    groups = _instance_groups(run)
    skeletons = {
        name: ndx_pose.Skeleton(
            name=f"{name}_skeleton",
            nodes=list(run.node_names),
            edges=np.array(run.edges, dtype=np.uint8).reshape(-1, 2),
        )
        for name in groups
    }
    behavior.add(ndx_pose.Skeletons(skeletons=list(skeletons.values())))
    shared_timestamps: Any = timestamps
    device_argument = _device_argument(ndx_pose, camera)
    for name, (points, scores) in groups.items():
        series = []
        for node_index, node in enumerate(run.node_names):
            series.append(
                ndx_pose.PoseEstimationSeries(
                    name=node,
                    description=f"{node} of {name}",
                    data=points[:, node_index, :],
                    unit="pixels",
                    reference_frame=REFERENCE_FRAME,
                    timestamps=shared_timestamps,
                    confidence=scores[:, node_index],
                    confidence_definition=CONFIDENCE_DEFINITION,
                )
            )
            if shared_timestamps is timestamps:
                shared_timestamps = series[-1]  # the others link to the first series' timestamps
        behavior.add(
            ndx_pose.PoseEstimation(
                name=name,
                pose_estimation_series=series,
                description=f"poses of {name} estimated live by rtpose",
                original_videos=[str(run.video_path.resolve())] if run.video_path else None,
                **device_argument,
                scorer=run.model_name,
                source_software="rtpose",
                source_software_version=__version__,
                skeleton=skeletons[name],
            )
        )
    for field, names, what in (
        ("rule_active", run.rule_names, "rule"),
        ("output_on", run.output_names, "output"),
    ):
        if names:
            behavior.add(
                pynwb.TimeSeries(
                    name=field,
                    data=run.frames[field].astype(np.uint8),
                    unit="n.a.",
                    timestamps=shared_timestamps,
                    description=f"1 while the {what} was on after the frame; columns: {', '.join(names)}",
                )
            )
    with pynwb.NWBHDF5IO(str(path), mode="w") as io:
        io.write(nwbfile)
    return Path(path)


def _device_argument(ndx_pose: Any, camera: Any) -> dict[str, Any]:
    """ndx-pose 0.2 takes ``devices=[camera]``; 0.3+ ``device=camera`` (``devices`` is deprecated)."""
    arguments = {argument["name"] for argument in ndx_pose.PoseEstimation.__init__.__docval__["args"]}
    return {"device": camera} if "device" in arguments else {"devices": [camera]}


def _session_time(run: RunData) -> tuple[datetime.datetime, np.ndarray]:
    """The session start (aware datetime) and each frame's time in seconds from it."""
    times_ns = run.frame_times_ns.astype(np.int64)
    if run.clock is not None:
        origin_ns, origin_unix_s = int(run.clock["clock_ns"]), float(run.clock["unix_time_s"])
    else:
        origin_ns = int(times_ns[0]) if len(times_ns) else 0
        origin_unix_s = (run.run_dir / "frames.bin").stat().st_mtime - (
            (int(times_ns[-1]) - origin_ns) / 1e9 if len(times_ns) else 0.0
        )
    start = datetime.datetime.fromtimestamp(origin_unix_s, tz=datetime.timezone.utc).astimezone()
    return start, ((times_ns - origin_ns) / 1e9).astype(np.float64)


def _instance_groups(run: RunData) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per animal (and per unidentified slot, if any): points T×J×2 and scores T×J (NaN, 0 if absent)."""
    frames = run.frames
    count, slots = len(frames), frames["points"].shape[1]
    joints = len(run.node_names)
    valid = frames["valid"].astype(bool)
    identities = frames["identities"].astype(np.int64)
    groups: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for animal_index, name in enumerate(run.animal_names):
        points = np.full((count, joints, 2), np.nan, np.float32)
        scores = np.zeros((count, joints), np.float32)
        for slot in range(slots):
            rows = valid[:, slot] & (identities[:, slot] == animal_index)
            points[rows] = frames["points"][rows, slot]
            scores[rows] = frames["point_scores"][rows, slot]
        groups[name] = (points, scores)
    unknown = valid & ((identities == NO_IDENTITY) | (identities >= len(run.animal_names)))
    for slot in np.flatnonzero(unknown.any(axis=0)).tolist():
        rows = unknown[:, slot]
        points = np.full((count, joints, 2), np.nan, np.float32)
        scores = np.zeros((count, joints), np.float32)
        points[rows] = frames["points"][rows, slot]
        scores[rows] = frames["point_scores"][rows, slot]
        groups[f"unidentified_slot{slot}"] = (points, scores)
    return groups
