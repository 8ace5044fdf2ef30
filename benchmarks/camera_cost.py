"""Per-frame host cost of the camera paths: Basler (pypylon's emulator) and video decode.

- Basler: `grab_into` on the emulator, one by one, at the given frame sizes (Mono8). The emulator
  delivers ~90 fps, so most of each call is waiting (pypylon releases the GIL meanwhile); what
  matters for the loop is the CPU the grab thread spends per frame (`time.thread_time_ns`: the
  retrieve, the one copy into rtpose's buffer, the bookkeeping), reported with the wall time.
- Video: decode rate of an H.264 MP4 (PyAV) written here from the synthetic scene, as fast as
  possible (realtime off), gray output.

Run:  PYLON_CAMEMU=1 python benchmarks/camera_cost.py [--frames 300] [--write]
(--write appends the table to benchmarks/results/camera_cost.md). Needs rtpose[basler,video].
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from report import append_result, heading

os.environ.setdefault("PYLON_CAMEMU", "1")

import numpy as np

from rtpose.camera.fly_scene import FlyScene
from rtpose.core.config import BaslerCameraConfig, FramePolicy, VideoCameraConfig


def _write_pngs(folder: Path, size: int, count: int) -> None:
    from rtpose.camera.basler import _pylon

    pylon = _pylon()
    scene = FlyScene((size, size))
    frame = np.empty((size, size, 1), np.uint8)
    for index in range(count):
        scene.render_frame(index, frame)
        image = pylon.PylonImage()
        image.AttachArray(np.ascontiguousarray(frame[..., 0]), pylon.PixelType_Mono8)
        image.Save(pylon.ImageFileFormat_Png, str(folder / f"frame_{index:05d}.png"))
        image.Release()


def basler_cost(size: int, frames: int) -> dict[str, float]:
    from rtpose.camera.basler import BaslerCamera

    with tempfile.TemporaryDirectory() as folder:
        _write_pngs(Path(folder), size, 8)
        config = BaslerCameraConfig(width=size, height=size, emulator_image_folder=folder)
        camera = BaslerCamera(config, FramePolicy.EVERY, 1, Path("."))
        buffer = np.empty(camera.frame_shape, np.uint8)
        camera.start()
        camera.grab_into(buffer, 2.0)
        cpu_ns, wall_ns = [], []
        for _ in range(frames):
            cpu, wall = time.thread_time_ns(), time.perf_counter_ns()
            camera.grab_into(buffer, 2.0)
            cpu_ns.append(time.thread_time_ns() - cpu)
            wall_ns.append(time.perf_counter_ns() - wall)
        camera.stop()
        camera.close()
    cpu_us, wall_ms = np.array(cpu_ns) / 1e3, np.array(wall_ns) / 1e6
    return {
        "cpu_us_p50": float(np.percentile(cpu_us, 50)),
        "cpu_us_p99": float(np.percentile(cpu_us, 99)),
        "wall_ms_p50": float(np.percentile(wall_ms, 50)),
        "fps": float(1e3 / wall_ms.mean()),
    }


def video_decode_rate(size: int, frames: int) -> dict[str, float]:
    import av

    from rtpose.camera.video import VideoCamera

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "flies.mp4"
        scene = FlyScene((size, size))
        image = np.empty((size, size, 1), np.uint8)
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=60)
            stream.width = stream.height = size
            stream.pix_fmt = "yuv420p"
            for index in range(frames):
                scene.render_frame(index, image)
                gray = av.VideoFrame.from_ndarray(image[..., 0], format="gray")
                container.mux(stream.encode(gray.reformat(format="yuv420p")))
            container.mux(stream.encode())
        camera = VideoCamera(VideoCameraConfig(path=str(path), realtime=False), 1, Path("."))
        buffer = np.empty(camera.frame_shape, np.uint8)
        camera.start()
        started = time.perf_counter()
        decoded = 0
        from rtpose.core.errors import EndOfStream

        try:
            while True:
                camera.grab_into(buffer, 2.0)
                decoded += 1
        except EndOfStream:
            pass
        elapsed = time.perf_counter() - started
        camera.close()
    return {
        "frames": float(decoded),
        "decode_fps": decoded / elapsed,
        "ms_per_frame": 1e3 * elapsed / decoded,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows = []
    for size in (256, 1024):
        print(f"basler emulator {size}x{size} ...", file=sys.stderr)
        rows.append((f"basler emulator {size}x{size} Mono8", basler_cost(size, args.frames)))
        print(f"video decode {size}x{size} ...", file=sys.stderr)
        rows.append((f"video H.264 {size}x{size} decode", video_decode_rate(size, args.frames)))
    lines = [
        *heading(__file__, env="PYLON_CAMEMU=1"),
        "| path | figures |",
        "|---|---|",
    ]
    lines += [f"| {name} | {', '.join(f'{k} {v:.1f}' for k, v in values.items())} |" for name, values in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        append_result("camera_cost", text, "Camera path cost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
