"""The Basler backend against pylon's camera emulator (PYLON_CAMEMU=1), fed known frames from files.

pypylon reads PYLON_CAMEMU when it enumerates devices (not at import), so setting it with
monkeypatch before the camera is opened is enough. The emulator plays a folder of images in name
order, cycling: frame n shows file n mod count. It has no timestamps and tops out near 90 fps.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np
import pytest

from rtpose.core.config import BaslerCameraConfig, FramePolicy
from rtpose.core.errors import CameraError, ConfigError

pytest.importorskip("pypylon", reason="pypylon is not installed: pip install 'rtpose[basler]'")

from rtpose.camera.basler import _pylon

pylon = _pylon()

FRAME_COUNT = 7
SIZE = 64


def write_frames(folder: Path, frames: list[np.ndarray]) -> Path:
    """Write Mono8 frames as PNG files the emulator plays in name order."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        image = pylon.PylonImage()
        image.AttachArray(np.ascontiguousarray(frame), pylon.PixelType_Mono8)
        image.Save(pylon.ImageFileFormat_Png, str(folder / f"frame_{index:05d}.png"))
        image.Release()
    return folder


def numbered_frames(count: int = FRAME_COUNT, size: int = SIZE) -> list[np.ndarray]:
    """Frames whose pixels say which frame they are (and differ everywhere from each other)."""
    rng = np.random.default_rng(1)
    return [
        ((rng.integers(0, 200, (size, size)) + 7 * index) % 256).astype(np.uint8) for index in range(count)
    ]


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYLON_CAMEMU", "1")


@pytest.fixture
def frames_dir(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    frames = numbered_frames()
    return write_frames(tmp_path / "frames", frames), frames


def open_emulator(folder: Path | None, policy: FramePolicy = FramePolicy.EVERY, channels: int = 1, **fields):  # type: ignore[no-untyped-def]
    from rtpose.camera.basler import BaslerCamera

    fields = {"width": SIZE, "height": SIZE, **fields}
    config = BaslerCameraConfig(emulator_image_folder=None if folder is None else str(folder), **fields)
    return BaslerCamera(config, policy, channels)


def grab(camera, count: int, pause_s: float = 0.0) -> list[tuple[int, int | None, np.ndarray]]:  # type: ignore[no-untyped-def]
    out = np.zeros(camera.frame_shape, np.uint8)
    got = []
    for _ in range(count):
        if pause_s:
            time.sleep(pause_s)
        frame_id, stamp = camera.grab_into(out, 2.0)
        got.append((frame_id, stamp, out.copy()))
    return got


def test_every_policy_delivers_the_files_in_order(
    emulator: None, frames_dir: tuple[Path, list[np.ndarray]]
) -> None:
    folder, frames = frames_dir
    camera = open_emulator(folder)
    try:
        assert camera.is_emulator and camera.frame_shape == (SIZE, SIZE, 1)
        camera.start()
        got = grab(camera, 2 * FRAME_COUNT + 3)
        camera.stop()
    finally:
        camera.close()
    assert [frame_id for frame_id, _, _ in got] == list(range(len(got)))
    for frame_id, stamp, image in got:
        assert stamp is None  # the emulator has no timestamps
        np.testing.assert_array_equal(image[..., 0], frames[frame_id % FRAME_COUNT])
    assert camera.frames_skipped_by_id_gap == camera.frames_skipped_reported == 0


def test_latest_policy_counts_skipped_frames_from_id_gaps(
    emulator: None, frames_dir: tuple[Path, list[np.ndarray]]
) -> None:
    folder, frames = frames_dir
    camera = open_emulator(folder, FramePolicy.LATEST)
    try:
        camera.start()
        got = grab(camera, 6, pause_s=0.05)  # ~90 fps: about 4 frames skipped per grab
    finally:
        camera.close()
    ids = [frame_id for frame_id, _, _ in got]
    gaps = sum(b - a - 1 for a, b in itertools.pairwise(ids)) + ids[0]
    assert gaps > 0
    assert camera.frames_skipped_by_id_gap == gaps == camera.frames_skipped_reported
    assert camera.frames_produced == ids[-1] + 1
    for frame_id, _, image in got:  # the id really names the frame that was delivered
        np.testing.assert_array_equal(image[..., 0], frames[frame_id % FRAME_COUNT])


def test_software_trigger_gives_exactly_one_frame_per_trigger(
    emulator: None, frames_dir: tuple[Path, list[np.ndarray]]
) -> None:
    folder, frames = frames_dir
    camera = open_emulator(folder, FramePolicy.LATEST, trigger={"mode": "software"})
    try:
        camera.start()
        got = grab(camera, 5, pause_s=0.06)  # a free-running camera would skip frames meanwhile
        time.sleep(0.1)
        pending = camera._camera.RetrieveResult(100, pylon.TimeoutHandling_Return)
        assert not pending.IsValid()  # nothing was exposed without a trigger
        pending.Release()
    finally:
        camera.close()
    assert [frame_id for frame_id, _, _ in got] == [0, 1, 2, 3, 4]
    for frame_id, _, image in got:
        np.testing.assert_array_equal(image[..., 0], frames[frame_id])
    assert camera.frames_skipped_reported == 0


def test_colour_conversion_and_channels(emulator: None, frames_dir: tuple[Path, list[np.ndarray]]) -> None:
    folder, frames = frames_dir
    camera = open_emulator(folder, channels=3)
    try:
        camera.start()
        (frame_id, _, image), *_ = grab(camera, 1)
    finally:
        camera.close()
    assert image.shape == (SIZE, SIZE, 3)
    for channel in range(3):  # Mono8 broadcast to the model's three channels
        np.testing.assert_array_equal(image[..., channel], frames[frame_id])
    camera = open_emulator(folder, pixel_format="RGB8Packed")  # converted on the host to Mono8
    try:
        camera.start()
        (_, _, image), *_ = grab(camera, 1)
    finally:
        camera.close()
    assert image.shape == (SIZE, SIZE, 1) and image.dtype == np.uint8


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"pixel_format": "Mono9"}, r"camera.pixel_format = 'Mono9' is not supported .*allowed: \['Mono8'"),
        ({"width": 5000}, r"camera.width = 5000 .* larger than the sensor \(4096 px\)"),
        ({"offset_y": 4090}, r"camera.height = 64 with camera.offset_y = 4090 is larger than the sensor"),
        ({"fps": 6000.0}, r"camera.fps = 6000.0 is out of range for this camera: allowed 0.01–5000.0 fps"),
        ({"exposure_us": 0.5}, r"camera.exposure_us = 0.5 is out of range .*allowed 1.0–10000000.0 µs"),
        ({"gain_db": 60.0}, r"camera.gain_db = 60.0 is out of range"),
        (
            {"trigger": {"mode": "hardware", "line": "Line9"}},
            r"camera.trigger.line = 'Line9' is not supported",
        ),
        (
            {"serial_number": "12345678"},
            r"camera.serial_number: no Basler camera '12345678' \(found: \['Emulation",
        ),
    ],
)
def test_bad_settings_fail_at_open_naming_value_and_range(emulator: None, fields: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_emulator(None, **fields)


def test_missing_image_folder_and_timeout(emulator: None, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"emulator_image_folder: .* is not a folder"):
        open_emulator(tmp_path / "nope")
    camera = open_emulator(None, trigger={"mode": "hardware", "line": "Line1"})
    try:
        camera.start()
        with pytest.raises(CameraError, match=r"no frame within 0\.2 s"):
            camera.grab_into(np.zeros(camera.frame_shape, np.uint8), 0.2)
    finally:
        camera.close()
        camera.close()


def _emulator_rig(tmp_path: Path, policy: str, **camera: object) -> Path:
    from rtpose.camera.fly_scene import FlyScene

    scene, frame = FlyScene((256, 256)), np.zeros((256, 256, 1), np.uint8)
    rendered = []
    for index in range(40):
        scene.render_frame(index, frame)
        rendered.append(frame[..., 0].copy())
    write_frames(tmp_path / "fly_frames", rendered)
    from conftest import demo_config_dict

    data = demo_config_dict(
        camera={
            "backend": "basler",
            "width": 256,
            "height": 256,
            "emulator_image_folder": "fly_frames",
            **camera,
        },
        stream={"enabled": False},
        loop={"frame_policy": policy},
    )
    del data["camera"]["fps"], data["camera"]["frame_size"], data["camera"]["seed"]  # type: ignore[attr-defined]
    path = tmp_path / "rig.toml"
    path.write_text(_to_toml(data), encoding="utf-8")
    return path


def _to_toml(data: dict) -> str:  # small writer for the demo config's shapes (no TOML writer in stdlib)
    lines: list[str] = []
    for key, value in data.items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            lines.append(f"[[{key}]]" if isinstance(value, list) else f"[{key}]")
            nested = {
                k: v
                for k, v in item.items()
                if isinstance(v, dict) or (v and isinstance(v, list) and isinstance(v[0], dict))
            }
            lines += [f"{k} = {json.dumps(v)}" for k, v in item.items() if k not in nested]
            for sub_key, sub_value in nested.items():
                for sub_item in sub_value if isinstance(sub_value, list) else [sub_value]:
                    lines.append(
                        f"[[{key}.{sub_key}]]" if isinstance(sub_value, list) else f"[{key}.{sub_key}]"
                    )
                    lines += [f"{k} = {json.dumps(v)}" for k, v in sub_item.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("policy", ["latest", "every"])
def test_rtpose_run_on_the_emulator_accounts_for_every_frame(
    emulator: None, tmp_path: Path, policy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from rtpose.cli import main

    rig = _emulator_rig(tmp_path, policy)
    assert main(["check", str(rig)]) == 0
    assert main(["run", str(rig), "--seconds", "1.5", "--quiet", "--out", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    drops = summary["drops"]
    assert summary["exit_reason"] == "completed" and summary["error"] is None
    assert summary["frames_processed"] > 30
    processed, grabbed = summary["frames_processed"], drops["frames_grabbed"]
    # every frame the camera produced was grabbed or skipped by the camera (id gaps) ...
    assert drops["frames_produced_by_camera"] == grabbed + drops["skipped_by_camera"]
    # ... and every grabbed frame was processed, replaced in the ring, or still in the ring at stop
    left_in_ring = grabbed - processed - drops["skipped_in_ring"]
    assert 0 <= left_in_ring <= (3 if policy == "latest" else 8)
    # the loop saw as id gaps exactly the frames it never got
    assert processed + summary["frames_dropped"] <= drops["frames_produced_by_camera"]
    if policy == "every":
        assert summary["frames_dropped"] == 0 and drops["skipped_by_camera"] == 0
        assert drops["skipped_in_ring"] == 0


def test_rtpose_check_opens_the_camera(
    emulator: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rtpose.cli import main

    assert main(["check", str(_emulator_rig(tmp_path, "latest", pixel_format="Mono9"))]) == 2
    assert "camera.pixel_format = 'Mono9' is not supported" in capsys.readouterr().err
    assert main(["check", str(_emulator_rig(tmp_path, "latest", width=128))]) == 2
    assert "set camera.width = 256 and camera.height = 256" in capsys.readouterr().err
