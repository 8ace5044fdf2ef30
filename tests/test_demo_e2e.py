"""The whole closed loop on the embedded default: rule decisions against the scripted
episodes, the ZeroMQ stream against the recording, and `rtpose demo` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq
from conftest import demo_test_config

from rtpose.camera.fly_scene import NODE_NAMES, FlyScene
from rtpose.core.types import Poses
from rtpose.record.reader import read_events, read_frames
from rtpose.session import RunOptions, run
from rtpose.triggers import build_rule, feature_environment

FPS = 30.0
SCENE_SECONDS = 17.0  # two complete scripted episodes (2–6 s and 10–14 s)


def _edges(active: np.ndarray) -> tuple[list[int], list[int]]:
    change = np.diff(active.astype(np.int8), prepend=0)
    return np.flatnonzero(change == 1).tolist(), np.flatnonzero(change == -1).tolist()


@pytest.fixture(scope="module")
def every_frame_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    config = demo_test_config(camera={"fps": FPS}, loop={"frame_policy": "every"})
    out = tmp_path_factory.mktemp("e2e") / "run"
    received: list[list[bytes]] = []
    subscriber = zmq.Context.instance().socket(zmq.SUB)
    subscriber.connect(config.stream.address)
    subscriber.setsockopt(zmq.SUBSCRIBE, b"")
    stop = threading.Event()

    def listen() -> None:
        poller = zmq.Poller()
        poller.register(subscriber, zmq.POLLIN)
        while not stop.is_set():
            if poller.poll(50):
                received.append(subscriber.recv_multipart())

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    result = run(config, RunOptions(out=out, max_frames=int(SCENE_SECONDS * FPS), show_status=False))
    import time

    time.sleep(0.3)
    stop.set()
    thread.join()
    subscriber.close(linger=0)
    return config, result, received


def test_rule_fires_with_the_scripted_approaches(every_frame_run) -> None:  # type: ignore[no-untyped-def]
    config, result, _ = every_frame_run
    assert result.exit_code == 0, result.error
    frames = read_frames(result.run_dir)
    assert frames["frame_id"].tolist() == list(range(int(SCENE_SECONDS * FPS)))
    predicted = frames["rule_active"][:, 0].astype(bool)

    # the same rule on the ground-truth poses, with the same frame times
    scene = FlyScene(seed=config.camera.seed, fps=FPS)
    assert config.rules[0].kind == "courtship"
    rule = build_rule(0, config.rules[0], feature_environment(config, list(NODE_NAMES)))
    truth = np.zeros(len(frames), bool)
    for index, frame in enumerate(frames):
        poses = Poses.empty(2, len(NODE_NAMES))
        poses.points[:] = scene.poses_at_frame(int(frame["frame_id"]))
        poses.valid[:] = True
        poses.identities[:] = [0, 1]
        truth[index] = rule.update(poses, int(frame["camera_timestamp_ns"]))

    true_on, true_off = _edges(truth)
    predicted_on, predicted_off = _edges(predicted)
    episodes = scene.episodes_until(SCENE_SECONDS)
    assert len(true_on) == len(episodes) == 2
    for onset, episode in zip(true_on, episodes, strict=True):
        assert episode.start_s <= onset / FPS <= episode.end_s
    assert len(predicted_on) == len(true_on) and len(predicted_off) == len(true_off)
    assert np.max(np.abs(np.subtract(predicted_on, true_on))) <= 3
    assert np.max(np.abs(np.subtract(predicted_off, true_off))) <= 3

    # the output followed the rule, and the summary counts both activations
    assert np.array_equal(frames["output_on"][:, 0].astype(bool), predicted)
    assert result.summary["rules"]["male_approach"]["activations"] == 2
    assert result.summary["outputs"]["opto"]["activations"] == 2
    rule_events = [e for e in read_events(result.run_dir) if e["kind"] == "rule"]
    assert [int(e["frame_id"]) for e in rule_events] == sorted(predicted_on + predicted_off)


def test_summary_has_what_users_rely_on(every_frame_run) -> None:  # type: ignore[no-untyped-def]
    _, result, _ = every_frame_run
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["frames_processed"] == int(SCENE_SECONDS * FPS)
    assert summary["frames_dropped"] == 0  # policy "every"
    assert summary["fps"] > 0 and summary["duration_s"] > 0
    for stage in ("wait", "engine", "identity_rules", "daq", "end_to_end"):
        assert summary["latency_ms"][stage]["p50"] <= summary["latency_ms"][stage]["p99"]
    assert summary["latency_ms"]["end_to_end"]["p50"] >= summary["latency_ms"]["engine"]["p50"]
    assert summary["rules"]["male_approach"]["active_ms"] > 1000
    assert summary["outputs_off_at_exit"] is True
    recorder = summary["side_channels"]["recorder"]
    assert recorder["dropped"] == 0 and recorder["handled"] == summary["frames_processed"]
    assert 0 < recorder["max_lag_ms"] < 10_000  # how far behind the record was, at worst
    for name in ("config.json", "model.json", "frames.json", "frames.bin", "events.jsonl"):
        assert (result.run_dir / name).is_file()


def test_stream_carries_the_recorded_poses(every_frame_run) -> None:  # type: ignore[no-untyped-def]
    _, result, received = every_frame_run
    frames = read_frames(result.run_dir)
    by_id = {int(f["frame_id"]): f for f in frames}
    poses = [m for m in received if m[0] == b"pose.cam0"]
    assert len(poses) >= 0.9 * len(frames)  # a slow joiner may miss the first few
    assert any(m[0] == b"meta.cam0" for m in received)
    assert any(m[0] == b"event.male_approach" for m in received)
    for message in poses[:: max(len(poses) // 20, 1)]:
        header = msgpack.unpackb(message[1])
        assert header["v"] == 1
        record = by_id[header["frame_id"]]
        arrays = {
            spec["name"]: np.frombuffer(payload, spec["dtype"]).reshape(spec["shape"])
            for spec, payload in zip(header["arrays"], message[2:], strict=True)
        }
        np.testing.assert_array_equal(arrays["points"], record["points"])
        np.testing.assert_array_equal(arrays["identities"], record["identities"])
        assert header["t_grab_ns"] == record["grab_ns"]


def test_rtpose_demo_command(tmp_path: Path) -> None:
    out = tmp_path / "demo-run"
    process = subprocess.run(
        [sys.executable, "-m", "rtpose", "demo", "--seconds", "4", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exit_reason"] == "completed"
    assert summary["frames_processed"] > 30
    assert summary["outputs_off_at_exit"] is True
    assert "frames:" in process.stdout and "latency ms" in process.stdout
    assert "fps" in process.stderr  # the live status line
