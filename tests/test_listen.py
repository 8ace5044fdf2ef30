"""`rtpose listen` prints what a publisher sends and writes it as JSON lines."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from test_stream_publisher import make_publisher, record_for

from rtpose.core.frame_record import Event
from rtpose.stream import PosePublisher
from rtpose.stream.listen import listen


def publish_while(
    publisher: PosePublisher, alive: threading.Thread | subprocess.Popen[str], frames: int = 2000
) -> None:
    with publisher:
        for frame_id in range(frames):
            running = alive.is_alive() if isinstance(alive, threading.Thread) else alive.poll() is None
            if not running:
                return
            publisher.handle_frame(record_for(publisher, frame_id))
            if frame_id % 50 == 0:
                publisher.handle_event(Event("rule", "courtship", frame_id, time.perf_counter_ns(), 1.0))
            time.sleep(0.002)


def test_listen_prints_and_records(tmp_path: Path) -> None:
    output = io.StringIO()
    out = tmp_path / "stream.jsonl"
    publisher = make_publisher(meta_interval_s=0.2)
    address = publisher.endpoint
    result = {}
    thread = threading.Thread(
        target=lambda: result.update(listener=listen(address, out=out, seconds=1.5, output=output))
    )
    thread.start()
    publish_while(publisher, thread)
    thread.join()
    text = output.getvalue()
    assert "Hz  frame" in text and "event rule courtship = 1" in text
    assert "meta cam0: nodes ['head', 'thorax', 'abdomen']" in text
    records = [json.loads(line) for line in out.read_text().splitlines()]
    kinds = {record["type"] for record in records}
    assert kinds == {"pose", "event", "meta"}
    pose = next(record for record in records if record["type"] == "pose")
    assert pose["points"][1][0] == [None, None]  # NaN written as null
    assert len(pose["frame_info"]) == 9
    assert result["listener"].poses == sum(record["type"] == "pose" for record in records)
    assert "lost 0 poses" in text


def test_listen_command(tmp_path: Path) -> None:
    out = tmp_path / "cli.jsonl"
    publisher = make_publisher(meta_interval_s=0.2)
    address = publisher.endpoint
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rtpose",
            "listen",
            address,
            "--topics",
            "pose.",
            "--seconds",
            "2",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    publish_while(publisher, process)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "received" in stdout
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records and {record["type"] for record in records} == {"pose"}
