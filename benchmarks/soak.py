"""Soak: the real loop for as many frames as fit in a bounded time; memory and latency over time.

The whole session (`rtpose.session.run`: grab thread, frame ring, identity, rules, output limits,
sim DAQ, record ring, the real recorder writing frames.bin, the ZeroMQ publisher, status and
watchdog) runs with two benchmark-only parts so that the loop itself is what is soaked:
`BenchmarkFixedPosesEngine` returns one fixed set of poses (no inference) and
`PrerenderedCamera` copies one of a few pre-rendered frames per grab. Policy `every`, so the
loop runs flat out and every frame is recorded.

A sampler thread reads the process's resident memory (psutil if installed, else /proc/self/statm,
else the peak from `resource`) every `--sample-s`; per-frame latency comes from the recording
afterwards (hot-thread time = engine start → DAQ write, end to end = grab → DAQ write), in
windows of `--window-s`. Results: a table appended to benchmarks/results/soak.md and a plot,
benchmarks/results/soak.png (with --write).

Run:  python benchmarks/soak.py [--frames 1000000] [--seconds 240] [--write]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from parts import PrerenderedCamera
from report import RESULTS, append_result, heading

from rtpose.camera.fly_scene import FlyScene
from rtpose.cli import demo_config_path
from rtpose.core.config import load_config, parse_config
from rtpose.core.model_metadata import read_metadata
from rtpose.core.types import Poses
from rtpose.engine import DEMO_MODEL_DIR
from rtpose.record.reader import read_frame_dtype
from rtpose.session import PartOverrides, RunOptions, run


class BenchmarkFixedPosesEngine:
    """Benchmark only: returns the same poses (the scene's two flies) for every frame, instantly."""

    def __init__(self, metadata: object, poses: Poses) -> None:
        self.metadata = metadata
        self._poses = poses

    def infer(self, frame: np.ndarray) -> Poses:
        return self._poses

    def close(self) -> None:
        pass


def resident_bytes() -> tuple[int, str]:
    """Current resident memory of this process, and how it was read."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss), "psutil"
    except ImportError:
        pass
    statm = Path("/proc/self/statm")
    if statm.exists():
        return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE"), "/proc/self/statm"
    import resource  # peak, not current: a flat line proves less

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "resource (peak)"


class MemorySampler(threading.Thread):
    def __init__(self, interval_s: float) -> None:
        super().__init__(name="soak-sampler", daemon=True)
        self.interval_s = interval_s
        self.samples: list[tuple[int, int]] = []  # (perf_counter_ns, rss bytes)
        self.source = resident_bytes()[1]
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.samples.append((time.perf_counter_ns(), resident_bytes()[0]))
            self._done.wait(self.interval_s)

    def stop(self) -> None:
        self._done.set()
        self.join()


def fixed_poses() -> Poses:
    scene = FlyScene()
    poses = Poses.empty(2, 5)
    poses.points[:] = scene.poses_at_frame(40)
    poses.point_scores[:] = 0.9
    poses.instance_scores[:] = 0.95
    poses.valid[:] = True
    poses.centroids[:] = poses.points[:, 1]
    return poses


def soak(
    frames: int, seconds: float, sample_s: float, folder: Path
) -> tuple[dict[str, object], MemorySampler]:
    scene = FlyScene()
    rendered = np.empty((16, 256, 256, 1), np.uint8)
    for index in range(len(rendered)):
        scene.render_frame(index * 11, rendered[index])
    data = load_config(demo_config_path()).model_dump(mode="json")
    data["loop"]["frame_policy"] = "every"
    data["stream"]["address"] = "tcp://127.0.0.1:5598"
    config = parse_config(data)
    overrides = PartOverrides(
        camera=PrerenderedCamera(rendered),
        engine=BenchmarkFixedPosesEngine(read_metadata(DEMO_MODEL_DIR), fixed_poses()),
    )
    sampler = MemorySampler(sample_s)
    sampler.start()
    result = run(
        config,
        RunOptions(
            out=folder / "run",
            max_frames=frames,
            seconds=seconds,
            show_status=True,
            status_stream=sys.stderr,
            overrides=overrides,
        ),
    )
    sampler.stop()
    return result.summary, sampler


def windows(run_dir: Path, window_s: float) -> list[dict[str, float]]:
    """Per window of ``window_s``: time from start, fps, hot-thread and end-to-end percentiles (µs)."""
    dtype = read_frame_dtype(run_dir)
    path = run_dir / "frames.bin"
    records = np.memmap(path, dtype=dtype, mode="r", shape=(path.stat().st_size // dtype.itemsize,))
    start = int(records["grab_ns"][0])
    done = ((records["daq_write_ns"] - start) // int(window_s * 1e9)).astype(np.int64)
    edges = np.flatnonzero(np.diff(done)) + 1
    rows = []
    for chunk_start, chunk_end in zip([0, *edges], [*edges, len(records)], strict=True):
        chunk = records[chunk_start:chunk_end]
        if len(chunk) < 2:
            continue
        hot_us = (chunk["daq_write_ns"] - chunk["engine_start_ns"]) / 1e3
        end_to_end_us = (chunk["daq_write_ns"] - chunk["grab_ns"]) / 1e3
        span_s = (int(chunk["daq_write_ns"][-1]) - int(chunk["daq_write_ns"][0])) / 1e9
        rows.append(
            {
                "t_s": (int(chunk["daq_write_ns"][0]) - start) / 1e9,
                "frames": float(len(chunk)),
                "fps": len(chunk) / span_s if span_s > 0 else 0.0,
                "hot_p50_us": float(np.percentile(hot_us, 50)),
                "hot_p99_us": float(np.percentile(hot_us, 99)),
                "hot_max_us": float(hot_us.max()),
                "e2e_p50_us": float(np.percentile(end_to_end_us, 50)),
                "e2e_p99_us": float(np.percentile(end_to_end_us, 99)),
            }
        )
    del records
    return rows


def plot(rows: list[dict[str, float]], memory: list[tuple[float, float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, middle, bottom) = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    top.plot([t for t, _ in memory], [mib for _, mib in memory], color="tab:purple")
    top.set_ylabel("resident memory (MiB)")
    top.set_ylim(bottom=0)
    t = [row["t_s"] for row in rows]
    middle.plot(t, [row["hot_p50_us"] for row in rows], label="hot thread p50")
    middle.plot(t, [row["hot_p99_us"] for row in rows], label="hot thread p99")
    middle.plot(t, [row["e2e_p99_us"] for row in rows], label="grab → DAQ write p99", alpha=0.7)
    middle.set_ylabel("latency per frame (µs)")
    middle.set_yscale("log")
    middle.legend(loc="upper right", fontsize="small")
    bottom.plot(t, [row["fps"] for row in rows], color="tab:green")
    bottom.set_ylabel("frames per second")
    bottom.set_xlabel("time since the first frame (s)")
    bottom.set_ylim(bottom=0)
    figure.suptitle(title, fontsize="medium")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=1_000_000, help="stop after this many frames")
    parser.add_argument("--seconds", type=float, default=240.0, help="or after this long (the bound)")
    parser.add_argument("--sample-s", type=float, default=1.0, help="memory sampling interval")
    parser.add_argument("--window-s", type=float, default=10.0, help="latency window")
    parser.add_argument("--write", action="store_true", help="append to results/soak.md, write soak.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(f"soak: up to {args.frames} frames or {args.seconds} s ...", file=sys.stderr)
        summary, sampler = soak(args.frames, args.seconds, args.sample_s, Path(folder))
        rows = windows(Path(folder) / "run", args.window_s)
    first_ns = sampler.samples[0][0]
    memory = [((t - first_ns) / 1e9, rss / 2**20) for t, rss in sampler.samples]
    settled = [mib for t, mib in memory if t >= min(30.0, memory[-1][0] / 4)]
    slope_mib_per_min = float(np.polyfit([t for t, _ in memory[-len(settled) :]], settled, 1)[0] * 60)
    frames = int(summary["frames_processed"])  # type: ignore[call-overload]
    lines = [
        *heading(__file__, f"memory from {sampler.source}"),
        f"{frames} frames in {summary['duration_s']} s ({summary['fps']} fps), exit "
        f"{summary['exit_reason']}; recorder dropped {summary['side_channels']['recorder']['dropped']}, "  # type: ignore[index]
        f"publisher dropped {summary['side_channels']['publisher']['dropped']}.",  # type: ignore[index]
        "",
        "| measure | first window | last window | whole run |",
        "|---|---|---|---|",
        f"| resident memory MiB | {settled[0]:.1f} (after warm-up) | {memory[-1][1]:.1f} | "
        f"max {max(m for _, m in memory):.1f}; slope {slope_mib_per_min:+.3f} MiB/min |",
    ]
    for key, label in (
        ("fps", "frames per second"),
        ("hot_p50_us", "hot thread p50 µs"),
        ("hot_p99_us", "hot thread p99 µs"),
        ("e2e_p99_us", "grab → DAQ write p99 µs"),
    ):
        values = [row[key] for row in rows]
        lines.append(
            f"| {label} | {values[0]:.1f} | {values[-1]:.1f} | median of windows {np.median(values):.1f} |"
        )
    lines += ["", f"Windows of {args.window_s} s: {len(rows)}. Plot: soak.png."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        plot(rows, memory, RESULTS / "soak.png", f"Soak: {frames} frames, fixed-poses engine, every frame")
        append_result("soak", text, "Soak: memory and latency over a long run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
