"""Every frame is accounted for under the closed-loop policy when the camera outruns the loop:
processed + dropped covers every id the camera produced up to the last processed frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import demo_test_config

from rtpose.record.reader import read_frames
from rtpose.session import RunOptions, run


def test_drops_are_id_gaps_and_add_up(tmp_path: Path) -> None:
    config = demo_test_config(camera={"fps": 400.0})  # faster than the model: the loop must skip
    result = run(config, RunOptions(out=tmp_path / "run", seconds=2.0, show_status=False))
    assert result.exit_code == 0, result.error
    summary = result.summary
    frames = read_frames(result.run_dir)
    ids = frames["frame_id"].astype(np.int64)
    assert summary["frames_dropped"] > 0
    assert np.all(np.diff(ids) >= 1)
    assert int(frames["dropped_before"].sum()) == summary["frames_dropped"]
    assert np.array_equal(frames["dropped_before"][1:], np.diff(ids) - 1)
    assert summary["frames_processed"] + summary["frames_dropped"] == int(ids[-1]) + 1
    drops = summary["drops"]
    produced = drops["frames_produced_by_camera"]
    assert produced >= int(ids[-1]) + 1
    # every produced frame was grabbed or skipped by the camera; every grabbed one was processed,
    # replaced in the ring by a newer one, or still waiting in the ring when the run stopped
    assert drops["frames_grabbed"] + drops["skipped_by_camera"] == produced
    assert (
        summary["frames_processed"] + drops["skipped_in_ring"] + drops["left_in_ring_at_stop"]
        == drops["frames_grabbed"]
    )
    assert drops["left_in_ring_at_stop"] <= 1  # under "latest" only the newest frame can wait
