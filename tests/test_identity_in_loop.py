"""A top-down ID package drives identity in the loop: the recorded identities are the optimal
class assignment of the engine's class probabilities, and rules on named animals use them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import free_tcp_address
from sleapnn_fakes import FakeModel, write_fake_model_folder

from export.cli import main as export_main
from rtpose.camera.video import VideoCamera
from rtpose.core.config import VideoCameraConfig, parse_config
from rtpose.core.errors import EndOfStream
from rtpose.engine import load as load_engine
from rtpose.identity import ClassIdentity
from rtpose.record.reader import read_frames
from rtpose.session import RunOptions, run

av = pytest.importorskip("av", reason="PyAV is not installed: pip install 'rtpose[video]'")
CLASSES = ["female", "male"]


def _id_package(folder: Path) -> Path:
    write_fake_model_folder(folder / "centroid", FakeModel(model_type="centroid"))
    instance = replace(FakeModel(model_type="multi_class_topdown", crop_size=16, seed=1), classes=CLASSES)
    write_fake_model_folder(folder / "instance", instance)
    package = folder / "package"
    args = ["sleap-nn", str(folder / "centroid"), str(folder / "instance"), "-o", str(package), "--quiet"]
    assert export_main([*args, "--onnx-only"]) == 0
    return package


def _noise_video(path: Path, count: int) -> Path:
    rng = np.random.default_rng(3)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 80, 64, "yuv444p"
        stream.options = {"qp": "0"}
        for _ in range(count):
            gray = rng.integers(0, 256, (64, 80, 1), np.uint8).repeat(3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(gray, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_class_probabilities_name_the_animals_in_the_loop(tmp_path: Path) -> None:
    package = _id_package(tmp_path)
    video = _noise_video(tmp_path / "noise.mp4", 24)
    config = parse_config(
        {
            "camera": {"backend": "video", "path": str(video), "realtime": False},
            "model": {"path": str(package)},
            "identity": {"method": "classes", "animals": CLASSES},
            "rules": [
                {
                    "name": "together",
                    "from_point": "male.head",
                    "to_point": "female.head",
                    "max_distance_px": 10_000.0,
                    "output": "opto",
                }
            ],
            "daq": {"outputs": [{"name": "opto"}]},
            "stream": {"address": free_tcp_address()},
            "loop": {"frame_policy": "every"},
        }
    )
    result = run(config, RunOptions(out=tmp_path / "run", show_status=False))
    assert result.exit_code == 0, result.error
    frames = read_frames(result.run_dir)
    assert len(frames) == 24

    # the same frames through the engine and the class assignment, outside the loop
    engine = load_engine(package)
    camera = VideoCamera(VideoCameraConfig(path=str(video), realtime=False), 1)
    image = np.zeros(camera.frame_shape, np.uint8)
    identity = ClassIdentity(CLASSES, list(engine.metadata.class_names))
    camera.start()
    both_named = 0
    for record in frames:
        frame_id, _ = camera.grab_into(image, 1.0)
        assert frame_id == record["frame_id"]
        poses = engine.infer(image)
        identity.assign(poses)
        np.testing.assert_array_equal(record["identities"], poses.identities)
        both_named += int(sorted(poses.identities[poses.valid].tolist()) == [0, 1])
    with pytest.raises(EndOfStream):
        camera.grab_into(image, 1.0)
    assert both_named > 0, "no frame had both animals, so the test proves nothing"
    assert result.summary["rules"]["together"]["activations"] >= 1
