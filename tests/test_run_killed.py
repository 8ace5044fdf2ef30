"""A real `rtpose run` killed with SIGKILL mid-run (no cleanup of any kind runs) leaves a record
that reads back completely up to a bounded moment before the kill (docs/decisions/0008).

POSIX only: SIGKILL does not exist on Windows (TerminateProcess is the equivalent there). The
loss is measured on the process clock: ``time.perf_counter_ns`` is CLOCK_MONOTONIC on Linux, one
clock for every process, so the test's kill time and the child's timestamps compare directly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import free_tcp_address

from rtpose.cli import demo_config_path
from rtpose.convert import convert_run, read_run
from rtpose.core.frame_record import frame_record_dtype
from rtpose.record import read_events

LOSS_BOUND_S = 0.5
"""The bound for a recorder that keeps up, as the demo rig's does: frames processed more than this
before the kill are on disk (flush interval 0.2 s, plus scheduling on a loaded machine). A
recorder that falls behind (a slow disk) also loses what its queue held, up to
``record.queue_size`` frames; the docstring of ``rtpose.record.recorder`` states the general
bound."""


def _environment() -> dict[str, str]:
    source_root = str(Path(__file__).resolve().parents[1])
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")])),
    }


@pytest.mark.skipif(not hasattr(signal, "SIGKILL") or sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_run_leaves_a_complete_record_up_to_the_bound(tmp_path: Path) -> None:
    text = demo_config_path().read_text(encoding="utf-8")
    text = text.replace("tcp://127.0.0.1:5555", free_tcp_address())
    text = text.replace('root = "runs"', 'root = "runs"\nvideo = true')
    config = tmp_path / "rig.toml"
    config.write_text(text, encoding="utf-8")
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "rtpose", "run", str(config), "--out", str(out), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_environment(),
    )
    record_size = frame_record_dtype(2, 5, 1, 1).itemsize
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            frames_bin = out / "frames.bin"
            if frames_bin.exists() and frames_bin.stat().st_size >= 60 * record_size:
                break
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()[1]
        time.sleep(0.33)  # land somewhere inside a flush interval
        killed_ns = time.perf_counter_ns()
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL

    run = read_run(out)  # reads despite the missing summary and any partial last record
    assert run.summary is None
    frames = run.frames
    ids = frames["frame_id"].astype(np.int64)
    assert len(ids) >= 60
    # consecutive: no hole in the record; every gap in frame ids is a drop the record itself states
    np.testing.assert_array_equal(frames["dropped_before"][1:], np.diff(ids) - 1)
    assert frames["dropped_before"][0] == ids[0]
    loss_s = (killed_ns - int(frames["daq_write_ns"][-1])) / 1e9
    assert 0 <= loss_s <= LOSS_BOUND_S, f"lost the last {loss_s:.3f} s"
    read_events(out)  # a partial last line, if any, is ignored

    # the video decodes up to where the kill cut it (a replay maps its frames through the sidecar
    # and ends where either ends)
    ids_in_video = run.video_frame_ids
    assert ids_in_video is not None and len(ids_in_video) >= 30
    with av.open(str(out / "video.mkv")) as container:
        assert sum(1 for _ in container.decode(video=0)) >= 30
    # and the killed run converts
    path, description = convert_run(out, "csv")
    assert description.startswith(f"{len(frames)} frames") and path.stat().st_size > 0
