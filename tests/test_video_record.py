"""The video recorder on its own: overflow is counted (never waited for, never silent), the
sidecar names exactly the frames in the video, and failures say what went wrong."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from pydantic import ValidationError

from rtpose.convert.run_data import read_video_frame_ids
from rtpose.core.config import RecordConfig
from rtpose.record.video import STALE_AFTER_S, VideoRecorder, sweep_stale_memory
from rtpose.record.video_encoder import attach


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


def _shared_memory_exists(name: str) -> bool:
    try:
        attach(name).close()  # without registering it with this process's resource tracker
    except FileNotFoundError:
        return False
    return True


def test_shared_memory_is_named_for_rtpose_and_released_at_close(tmp_path: Path) -> None:
    recorder = VideoRecorder(tmp_path / "video.mkv", (8, 8, 1), 30.0, queue_frames=2)
    name = recorder._memory.name.lstrip("/")
    assert name.startswith(f"rtpose-{os.getpid()}-") and len(name) <= 30  # macOS allows 31 with "/"
    recorder.close()
    assert not _shared_memory_exists(name)


def test_an_encoder_that_hangs_on_exit_is_killed_and_the_memory_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = VideoRecorder(tmp_path / "video.mkv", (8, 8, 1), 30.0, queue_frames=2)
    name = recorder._memory.name.lstrip("/")
    process = recorder._process
    real_wait = process.wait

    def hangs_until_killed(timeout: float | None = None) -> int:
        if timeout is not None:
            raise subprocess.TimeoutExpired(process.args, timeout)
        return real_wait()

    monkeypatch.setattr(process, "wait", hangs_until_killed)
    recorder.close(timeout_s=5.0)
    assert process.returncode is not None
    assert not _shared_memory_exists(name)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sweep is Linux only")
def test_stale_blocks_of_gone_processes_are_swept(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    gone_pid = int(gone.stdout)
    old = time.time() - 2 * STALE_AFTER_S
    blocks = {
        "stale": f"rtpose-{gone_pid}-0123abcd",
        "young": f"rtpose-{gone_pid}-4567abcd",  # maybe a process in another pid namespace, starting
        "alive": f"rtpose-{os.getpid()}-89abcdef",
        "foreign": f"rtpose-{gone_pid}-not-ours",
        "other": f"psm_{gone_pid}",
    }
    for key, name in blocks.items():
        (tmp_path / name).write_bytes(b"x")
        if key != "young":
            os.utime(tmp_path / name, (old, old))
    assert sweep_stale_memory(tmp_path) == [blocks["stale"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(v for k, v in blocks.items() if k != "stale")


@pytest.mark.parametrize("platform", ["win32", "linux"])
def test_windows_caps_the_video_queue_at_what_its_pipe_holds(
    platform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    assert RecordConfig(video_queue_frames=340).video_queue_frames == 340
    if platform == "win32":
        with pytest.raises(ValidationError, match="at most 340 on Windows"):
            RecordConfig(video_queue_frames=341)
    else:
        assert RecordConfig(video_queue_frames=4096).video_queue_frames == 4096
