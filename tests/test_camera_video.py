"""The video backend: replay of a file written here with the same library (PyAV), and a run that
ends normally at the end of the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rtpose.core.config import VideoCameraConfig
from rtpose.core.errors import CameraError, ConfigError, EndOfStream

av = pytest.importorskip("av", reason="PyAV is not installed: pip install 'rtpose[video]'")


def level(index: int) -> int:
    return (20 + 15 * index) % 230


def write_video(path: Path, count: int, fps: int = 30, size: tuple[int, int] = (64, 80)) -> Path:
    """An MP4/H.264 (libx264, lossless) video whose frame i is flat grey ``level(i)`` with a mark."""
    height, width = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
        stream.options = {"qp": "0"}
        for index in range(count):
            image = np.full((height, width, 3), level(index), np.uint8)
            image[:8, :8] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def open_video(path: Path, channels: int = 1, **fields: object):  # type: ignore[no-untyped-def]
    from rtpose.camera.video import VideoCamera

    return VideoCamera(VideoCameraConfig(path=str(path), **fields), channels)  # type: ignore[arg-type]


def test_frames_and_ids_in_order(tmp_path: Path) -> None:
    camera = open_video(write_video(tmp_path / "clip.mp4", 6), realtime=False)
    assert camera.frame_shape == (64, 80, 1) and camera.nominal_fps == pytest.approx(30)
    out = np.zeros(camera.frame_shape, np.uint8)
    camera.start()
    stamps = []
    for index in range(6):
        frame_id, stamp = camera.grab_into(out, 1.0)
        assert frame_id == index
        assert abs(int(np.median(out[16:, 16:])) - level(index)) <= 2  # lossless up to colour conversion
        assert out[:8, :8].min() >= 250
        stamps.append(stamp)
    with pytest.raises(EndOfStream, match="end of file after 6 frames"):
        camera.grab_into(out, 1.0)
    camera.close()
    camera.close()
    assert np.diff(stamps) == pytest.approx(1e9 / 30, abs=1e5)  # recorded times, on the process clock


def test_loop_keeps_ids_increasing_and_colour(tmp_path: Path) -> None:
    camera = open_video(write_video(tmp_path / "clip.mp4", 3), channels=3, realtime=False, loop=True)
    out = np.zeros(camera.frame_shape, np.uint8)
    camera.start()
    ids = [camera.grab_into(out, 1.0)[0] for _ in range(7)]
    assert ids == list(range(7))
    assert out.shape == (64, 80, 3) and abs(int(np.median(out[16:, 16:, 0])) - level(0)) <= 2
    camera.close()


def test_realtime_paces_and_times_out(tmp_path: Path) -> None:
    camera = open_video(write_video(tmp_path / "slow.mp4", 3, fps=2), realtime=True)
    out = np.zeros(camera.frame_shape, np.uint8)
    camera.start()
    camera.grab_into(out, 1.0)
    with pytest.raises(CameraError, match=r"no frame within 0\.1 s"):
        camera.grab_into(out, 0.1)
    camera.close()


def test_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"camera.path: video file .* does not exist"):
        open_video(tmp_path / "none.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(ConfigError, match=r"camera.path: .* is not a readable video"):
        open_video(tmp_path / "junk.mp4")


def test_run_ends_normally_at_end_of_video(tmp_path: Path) -> None:
    from conftest import demo_config_dict

    from rtpose.core.config import parse_config
    from rtpose.session import RunOptions, run

    write_video(tmp_path / "clip.mp4", 25, size=(256, 256))
    data = demo_config_dict(stream={"enabled": False}, loop={"frame_policy": "every"})
    data["camera"] = {"backend": "video", "path": "clip.mp4", "realtime": False}
    result = run(parse_config(data), RunOptions(config_dir=tmp_path, out=tmp_path / "run", show_status=False))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert result.exit_code == 0 and summary["exit_reason"] == "completed" and summary["error"] is None
    assert summary["frames_processed"] == 25 and summary["frames_dropped"] == 0
    assert summary["drops"]["frames_produced_by_camera"] == 25
