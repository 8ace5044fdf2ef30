"""The video recorder on its own: overflow is counted (never waited for, never silent), the
sidecar names exactly the frames in the video, and failures say what went wrong."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from rtpose.convert.run_data import read_video_frame_ids
from rtpose.record.video import VideoRecorder


def _frame(value: int) -> np.ndarray:
    frame = np.zeros((64, 96, 1), np.uint8)
    frame[:, : value % 96] = 200
    frame[0, 0] = value % 256
    return frame


def test_overflow_is_counted_and_the_sidecar_matches_the_video(tmp_path: Path) -> None:
    recorder = VideoRecorder(tmp_path / "video.mkv", (64, 96, 1), 100.0, queue_frames=2)
    offered = list(range(5, 305))
    for frame_id in offered:
        recorder.offer(frame_id, _frame(frame_id))  # far faster than any encoder: slots run out
    recorder.close()
    assert recorder.dropped > 0 and recorder.error is None
    assert recorder.frames_written + recorder.dropped == len(offered)
    ids = read_video_frame_ids(tmp_path / "video.mkv")
    assert len(ids) == recorder.frames_written
    assert set(ids.tolist()) <= set(offered) and np.all(np.diff(ids.astype(np.int64)) > 0)
    with av.open(str(tmp_path / "video.mkv")) as container:
        decoded = [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]
    assert len(decoded) == len(ids)
    for image, frame_id in zip(decoded, ids, strict=True):
        np.testing.assert_array_equal(image, _frame(int(frame_id))[:, :, 0])  # lossless, right frame
    assert recorder.stats()["dropped"] == recorder.dropped


def test_rgb_frames_are_lossless(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 32, 48, 3), dtype=np.uint8)
    recorder = VideoRecorder(tmp_path / "video.mkv", (32, 48, 3), None, queue_frames=4)
    for frame_id, frame in enumerate(frames):
        recorder.offer(frame_id, frame)
    recorder.close()
    with av.open(str(tmp_path / "video.mkv")) as container:
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    np.testing.assert_array_equal(np.stack(decoded), frames)


def test_failures_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"could not start writing .*missing"):
        VideoRecorder(tmp_path / "missing" / "video.mkv", (8, 8, 1), 30.0)
    VideoRecorder(tmp_path / "video.mkv", (8, 8, 1), 30.0).close()
    with pytest.raises(FileExistsError, match="already exists"):
        VideoRecorder(tmp_path / "video.mkv", (8, 8, 1), 30.0)
