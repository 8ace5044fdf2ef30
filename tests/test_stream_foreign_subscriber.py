"""A subscriber written from docs/wire-format.md alone (zmq, msgpack and numpy; no rtpose) decodes
every pose and event of a short demo run: frame ids complete from the moment it joined, except
losses it counted from ``seq`` gaps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import demo_test_config

from rtpose.camera.fly_scene import NODE_NAMES
from rtpose.record.reader import read_events, read_frames
from rtpose.session import RunOptions, run

# Follows docs/wire-format.md, "Reading it without rtpose"; prints one JSON line per message.
SUBSCRIBER = r"""
import json, sys
import msgpack, numpy as np, zmq

sub = zmq.Context().socket(zmq.SUB)
sub.setsockopt(zmq.RCVHWM, 100000)
sub.connect(sys.argv[1])
sub.setsockopt(zmq.SUBSCRIBE, b"")          # pose.*, event.* and meta.*
print(json.dumps({"ready": True}), flush=True)
got_pose, lost, last_seq = False, 0, None
while sub.poll(3000 if got_pose else 60000):
    topic, header, *payload = sub.recv_multipart()
    h = msgpack.unpackb(header)              # a map with str keys; h["v"] == 1
    assert h["v"] == 1
    kind = topic.decode().split(".", 1)[0]
    if kind == "pose":
        got_pose = True
        if last_seq is not None:
            lost += h["seq"] - last_seq - 1
        last_seq = h["seq"]
        arrays = {}
        for spec, buf in zip(h["arrays"], payload):
            arrays[spec["name"]] = np.frombuffer(buf, np.dtype(spec["dtype"])).reshape(spec["shape"])
        info = arrays["frame_info"]            # frame_id, dropped_before, camera_timestamp_ns, ...
        assert info[0] == h["frame_id"] and info[3] == h["t_grab_ns"]
        print(json.dumps({"pose": h["frame_id"], "seq": h["seq"], "points": arrays["points"].tolist(),
                          "valid": arrays["valid"].tolist(), "identities": arrays["identities"].tolist(),
                          "output_on": arrays["output_on"].tolist()}), flush=True)
    elif kind == "event":
        print(json.dumps({"event": [h["kind"], h["name"], h["frame_id"], h["value"], h["detail"]],
                          "seq": h["seq"]}), flush=True)
    elif kind == "meta":
        print(json.dumps({"meta": {k: h[k] for k in ("node_names", "animal_names", "rule_names",
                                                      "output_names", "max_instances")}}), flush=True)
assert "rtpose" not in sys.modules
print(json.dumps({"lost": lost}), flush=True)
"""

FPS = 30.0
FRAMES = 135  # 4.5 s: the demo's first approach makes the rule fire


def test_document_only_subscriber_decodes_a_demo_run(tmp_path: Path) -> None:
    config = demo_test_config(camera={"fps": FPS}, loop={"frame_policy": "every"})
    process = subprocess.Popen(
        [sys.executable, "-c", SUBSCRIBER, config.stream.address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert json.loads(process.stdout.readline()) == {"ready": True}
        result = run(config, RunOptions(out=tmp_path / "run", max_frames=FRAMES, show_status=False))
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert result.exit_code == 0, result.error
    lines = [json.loads(line) for line in stdout.splitlines()]
    poses = [line for line in lines if "pose" in line]
    events = [line["event"] for line in lines if "event" in line]
    metas = [line["meta"] for line in lines if "meta" in line]
    lost = lines[-1]["lost"]

    frames = read_frames(result.run_dir)
    assert len(frames) == FRAMES
    first = poses[0]["pose"]
    assert first < FRAMES // 2  # joined early (what came before the subscription is not seen)
    expected_ids = [int(i) for i in frames["frame_id"] if i >= first]
    received_ids = [pose["pose"] for pose in poses]
    assert len(expected_ids) - len(received_ids) == lost  # every loss is counted ...
    assert lost == 0  # ... and on loopback there is none
    assert received_ids == expected_ids
    by_id = {int(f["frame_id"]): f for f in frames}
    for pose in poses:
        record = by_id[pose["pose"]]
        np.testing.assert_array_equal(np.array(pose["points"], np.float32), record["points"])
        assert pose["valid"] == record["valid"].tolist()
        assert pose["identities"] == record["identities"].tolist()
        assert pose["output_on"] == record["output_on"].tolist()

    recorded = [
        [e["kind"], e["name"], int(e["frame_id"]), float(e["value"]), e["detail"]]
        for e in read_events(result.run_dir)
        if int(e["frame_id"]) >= first
    ]
    assert any(event[0] == "rule" for event in recorded)
    assert events == recorded
    assert metas and metas[0]["node_names"] == list(NODE_NAMES)
    assert metas[0]["rule_names"] == [rule.name for rule in config.rules]
    assert metas[0]["output_names"] == [output.name for output in config.daq.outputs]
