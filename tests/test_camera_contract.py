"""The Camera contract, run on every backend: synthetic, Basler (pylon's emulator) and video.

Each backend gives two cameras: one that delivers frames, and one that cannot deliver a frame within
a short timeout (a slow synthetic camera, a hardware-triggered emulator never triggered, a slow
video), so that a timeout's CameraError is tested too.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rtpose.camera import Camera, open_camera
from rtpose.core.config import (
    BaslerCameraConfig,
    FramePolicy,
    SyntheticCameraConfig,
    VideoCameraConfig,
)
from rtpose.core.errors import CameraError

Factory = Callable[[bool], Camera]  # slow=True: a camera that times out


def _needs(module: str, extra: str) -> Any:
    return pytest.mark.skipif(
        importlib.util.find_spec(module) is None,
        reason=f"{module} is not installed: pip install 'rtpose[{extra}]'",
    )


def _synthetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Factory:
    def make(slow: bool) -> Camera:
        return open_camera(SyntheticCameraConfig(fps=1.0 if slow else 200.0, frame_size=(48, 64)))

    return make


def _basler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Factory:
    monkeypatch.setenv("PYLON_CAMEMU", "1")

    def make(slow: bool) -> Camera:
        trigger = {"mode": "hardware", "line": "Line1"} if slow else {"mode": "free_run"}
        config = BaslerCameraConfig.model_validate({"width": 64, "height": 48, "trigger": trigger})
        return open_camera(config, FramePolicy.EVERY)

    return make


def _video(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Factory:
    from test_camera_video import write_video

    fast = write_video(tmp_path / "fast.mp4", 12, fps=30, size=(48, 64))
    slow_clip = write_video(tmp_path / "slow.mp4", 3, fps=1, size=(48, 64))

    def make(slow: bool) -> Camera:
        path = slow_clip if slow else fast
        return open_camera(VideoCameraConfig(path=str(path), realtime=slow))

    return make


@pytest.fixture(
    params=[
        pytest.param(_synthetic, id="synthetic"),
        pytest.param(_basler, id="basler-emulator", marks=_needs("pypylon", "basler")),
        pytest.param(_video, id="video", marks=_needs("av", "video")),
    ]
)
def make_camera(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Factory:
    factory: Callable[[Path, pytest.MonkeyPatch], Factory] = request.param
    return factory(tmp_path, monkeypatch)


def test_is_a_camera_with_fixed_uint8_frames(make_camera: Factory) -> None:
    camera = make_camera(False)
    try:
        assert isinstance(camera, Camera)
        assert camera.frame_shape == (48, 64, 1)
        assert all(isinstance(size, int) for size in camera.frame_shape)
        camera.start()
        out = np.zeros(camera.frame_shape, np.uint8)
        frame_id, stamp = camera.grab_into(out, 2.0)
        assert isinstance(frame_id, int) and frame_id >= 0
        assert stamp is None or isinstance(stamp, int)
        with pytest.raises(CameraError):
            camera.grab_into(np.zeros((48, 64, 3), np.uint8), 2.0)
        camera.stop()
    finally:
        camera.close()


def test_ids_increase(make_camera: Factory) -> None:
    camera = make_camera(False)
    try:
        camera.start()
        out = np.zeros(camera.frame_shape, np.uint8)
        ids = [camera.grab_into(out, 2.0)[0] for _ in range(8)]
        camera.stop()
        assert all(b > a for a, b in itertools.pairwise(ids))
        camera.start()  # ids count from 0 again after start()
        assert camera.grab_into(out, 2.0)[0] < ids[-1]
        camera.stop()
    finally:
        camera.close()


def test_timeout_raises_camera_error(make_camera: Factory) -> None:
    camera = make_camera(True)
    try:
        camera.start()
        out = np.zeros(camera.frame_shape, np.uint8)
        with pytest.raises(CameraError):
            for _ in range(2):  # a slow free-running camera may have its first frame ready at once
                camera.grab_into(out, 0.1)
    finally:
        camera.close()


def test_close_is_idempotent_at_any_point(make_camera: Factory) -> None:
    make_camera(False).close()  # never started
    camera = make_camera(False)
    camera.close()
    camera.close()
    camera = make_camera(False)
    camera.start()
    camera.close()  # while acquiring, without stop()
    camera.close()


def test_close_after_failed_grab_and_failed_start(make_camera: Factory) -> None:
    camera = make_camera(True)
    with pytest.raises(CameraError):
        camera.grab_into(np.zeros(camera.frame_shape, np.uint8), 0.1)  # before start()
    camera.close()
    with contextlib.suppress(CameraError):  # start() after close() may refuse; the synthetic camera works
        camera.start()
    camera.close()
    camera.close()
