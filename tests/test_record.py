from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import rtpose
from rtpose.core.clock import now_ns
from rtpose.core.frame_record import Event, frame_record_dtype
from rtpose.record import Recorder, RunFolderError, read_events, read_frame_dtype, read_frames

DTYPE = frame_record_dtype(max_instances=2, num_nodes=3, num_rules=1, num_outputs=2)

# Records frames and events as fast as it can, reporting what it has flushed, until killed.
WRITER = r"""
import itertools, sys, time
from pathlib import Path
import numpy as np
from rtpose.core.frame_record import Event, frame_record_dtype
from rtpose.record import Recorder

recorder = Recorder(Path(sys.argv[1]), frame_record_dtype(2, 3, 1, 2), flush_interval_s=0.02)
row = np.zeros((), recorder.dtype)
reported = 0
for frame_id in itertools.count():
    row["frame_id"] = frame_id
    row["points"] = frame_id / 8
    recorder.handle_frame(row)
    recorder.handle_event(Event("rule", "courtship", frame_id, frame_id * 10, 1.0, "x" * (frame_id % 5)))
    if recorder.frames_flushed != reported:
        reported = recorder.frames_flushed
        print(recorder.frames_flushed, recorder.events_flushed, flush=True)
    time.sleep(0.0002)
"""


def writer_environment() -> dict[str, str]:
    """The environment for a child that imports this same rtpose, installed or not."""
    source_root = str(Path(rtpose.__file__).resolve().parents[1])
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")])),
    }


def make_rows(count: int) -> np.ndarray:
    rows = np.zeros(count, DTYPE)
    rows["frame_id"] = np.arange(count)
    rows["dropped_before"] = np.arange(count) % 3
    rows["camera_timestamp_ns"] = -1
    rows["grab_ns"] = np.arange(count) * 1_000_000
    rows["points"] = np.arange(count, dtype=np.float32)[:, None, None, None] + 0.25
    rows["points"][:, 1] = np.nan
    rows["valid"][:, 0] = True
    rows["identities"] = [1, -1]
    rows["rule_active"][::2] = 1
    rows["output_on"][:, 1] = 1
    return rows


def assert_same_records(actual: np.ndarray, expected: np.ndarray) -> None:
    """Byte-for-byte equality (NaN points compare unequal in NumPy's structured comparison)."""
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    assert actual.tobytes() == expected.tobytes()


def test_round_trip(tmp_path: Path) -> None:
    rows = make_rows(50)
    events = [
        Event("rule", "courtship", 3, 42, 1.0),
        Event("limit", "laser", 9, 99, 0.0, "max_on_ms: ünïcode"),
    ]
    with Recorder(tmp_path / "run", DTYPE) as recorder:
        for row in rows:
            recorder.handle_frame(row)
        recorder.handle_frame(np.array(rows[0]))  # a 0-d array row works too
        for event in events:
            recorder.handle_event(event)
    frames = read_frames(tmp_path / "run")
    assert frames.dtype == DTYPE
    assert_same_records(frames, np.concatenate([rows, rows[:1]]))
    assert read_events(tmp_path / "run") == [
        {"kind": "rule", "name": "courtship", "frame_id": 3, "t_ns": 42, "value": 1.0, "detail": ""},
        {
            "kind": "limit",
            "name": "laser",
            "frame_id": 9,
            "t_ns": 99,
            "value": 0.0,
            "detail": "max_on_ms: ünïcode",
        },
    ]


def test_frames_json_describes_every_field(tmp_path: Path) -> None:
    Recorder(tmp_path, DTYPE).close()
    layout = json.loads((tmp_path / "frames.json").read_text())
    assert layout["format"] == "rtpose-frames"
    assert layout["format_version"] == 1
    assert layout["record_size_bytes"] == DTYPE.itemsize
    fields = {field["name"]: field for field in layout["fields"]}
    assert list(fields) == list(DTYPE.names or ())
    assert fields["points"] == {"name": "points", "dtype": "<f4", "shape": [2, 3, 2], "offset": 60}
    assert fields["frame_id"] == {"name": "frame_id", "dtype": "<u8", "shape": [], "offset": 0}
    assert fields["valid"]["dtype"] == "|b1"
    assert read_frame_dtype(tmp_path) == DTYPE
    assert len(read_frames(tmp_path)) == 0
    assert read_events(tmp_path) == []


def test_frames_json_names_the_indices_and_places_the_clock(tmp_path: Path) -> None:
    from rtpose.core.clock import now_ns

    labels = {"nodes": ["a", "b", "c"], "animals": ["female", "male"], "rules": ["r"], "outputs": ["x", "y"]}
    before_ns, before_s = now_ns(), time.time()
    Recorder(tmp_path, DTYPE, labels=labels).close()
    layout = json.loads((tmp_path / "frames.json").read_text())
    assert layout["labels"] == labels
    assert before_ns <= layout["clock"]["clock_ns"] <= now_ns()
    assert before_s <= layout["clock"]["unix_time_s"] <= time.time()
    assert read_frame_dtype(tmp_path) == DTYPE  # readers that ignore them still work


def test_class_probs_are_recorded_only_for_models_with_classes() -> None:
    assert "class_probs" not in (frame_record_dtype(2, 3, 1, 1).names or ())
    with_classes = frame_record_dtype(2, 3, 1, 1, num_classes=4)
    assert with_classes["class_probs"].shape == (2, 4)
    assert with_classes.names[-1] == "class_probs"  # appended: the other offsets do not move
    without = frame_record_dtype(2, 3, 1, 1)
    assert all(with_classes.fields[name][1] == without.fields[name][1] for name in without.names or ())


def test_flushes_at_the_interval(tmp_path: Path) -> None:
    with Recorder(tmp_path, DTYPE, flush_interval_s=0.05) as recorder:
        rows = make_rows(3)
        recorder.handle_frame(rows[0])
        assert recorder.frames_flushed == 0
        assert len(read_frames(tmp_path)) == 0
        time.sleep(0.06)
        recorder.flush_if_due()
        assert recorder.frames_flushed == 1
        assert len(read_frames(tmp_path)) == 1
        time.sleep(0.06)
        recorder.handle_frame(rows[1])
        assert len(read_frames(tmp_path)) == 2


def test_lag_says_how_far_behind_the_loop_the_recorder_ran(tmp_path: Path) -> None:
    rows = make_rows(3)
    rows["daq_write_ns"] = [now_ns() - 50_000_000, now_ns() - 250_000_000, 0]  # 0: never written
    with Recorder(tmp_path, DTYPE) as recorder:
        assert recorder.max_lag_ms == 0.0
        for row in rows:
            recorder.handle_frame(row)
    # the frame that waited 250 ms bounds what a kill would have lost beyond the flush interval
    assert 250.0 <= recorder.max_lag_ms < 250.0 + 5_000.0


def test_truncated_last_record_and_line_are_ignored(tmp_path: Path) -> None:
    with Recorder(tmp_path, DTYPE) as recorder:
        for row in make_rows(5):
            recorder.handle_frame(row)
        for frame_id in range(3):
            recorder.handle_event(Event("rule", "r", frame_id, 0, 1.0))
    with open(tmp_path / "frames.bin", "r+b") as frames:
        frames.truncate(4 * DTYPE.itemsize + 17)
    with open(tmp_path / "events.jsonl", "r+b") as events:
        events.truncate(events.seek(0, os.SEEK_END) - 5)
    assert_same_records(read_frames(tmp_path), make_rows(4))
    assert [event["frame_id"] for event in read_events(tmp_path)] == [0, 1]


def test_refuses_to_overwrite_a_recording(tmp_path: Path) -> None:
    Recorder(tmp_path, DTYPE).close()
    with pytest.raises(FileExistsError, match="already holds a recording"):
        Recorder(tmp_path, DTYPE)


def test_rejects_a_foreign_row(tmp_path: Path) -> None:
    with Recorder(tmp_path, DTYPE) as recorder, pytest.raises(ValueError, match="does not match"):
        recorder.handle_frame(np.zeros((), frame_record_dtype(1, 3, 1, 2)))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_killed_writer_leaves_everything_flushed_before_the_kill(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        frames_flushed = events_flushed = flushes = 0
        while frames_flushed < 300 or flushes < 3:
            line = process.stdout.readline()
            assert line, f"the writer exited early: {process.communicate()[1]}"
            frames_flushed, events_flushed = map(int, line.split())
            flushes += 1
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL

    frames = read_frames(run_dir)
    assert len(frames) >= frames_flushed
    np.testing.assert_array_equal(frames["frame_id"], np.arange(len(frames)))
    np.testing.assert_array_equal(frames["points"][:, 1, 2, 1], np.arange(len(frames), dtype=np.float32) / 8)
    events = read_events(run_dir)
    assert len(events) >= events_flushed
    assert [event["frame_id"] for event in events] == list(range(len(events)))
    assert events[7] == {
        "kind": "rule",
        "name": "courtship",
        "frame_id": 7,
        "t_ns": 70,
        "value": 1.0,
        "detail": "xx",
    }


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda run: (run / "frames.json").unlink(), "frames.json is missing"),
        (lambda run: (run / "frames.bin").unlink(), "frames.bin is missing"),
        (lambda run: (run / "frames.json").write_text("{"), "frames.json is not valid JSON"),
        (lambda run: (run / "frames.json").write_text("[]"), "frames.json: expected a JSON object"),
        (lambda run: edit_layout(run, format_version=2), "format_version 2 is not supported"),
        (lambda run: edit_layout(run, format="other"), "'format' is 'other'"),
        (lambda run: edit_layout(run, record_size_bytes=-1), "'record_size_bytes'"),
        (lambda run: edit_layout(run, record_size_bytes=10), "do not form a valid record layout"),
        (lambda run: edit_field(run, dtype="nope"), "field 0 is invalid"),
        (lambda run: edit_field(run, shape="x"), "field 0 is invalid"),
    ],
)
def test_bad_run_folder_errors_name_the_file(tmp_path: Path, damage: object, problem: str) -> None:
    Recorder(tmp_path, DTYPE).close()
    damage(tmp_path)  # type: ignore[operator]
    with pytest.raises(RunFolderError, match=problem.replace("(", r"\(")) as error:
        read_frames(tmp_path)
    assert str(tmp_path) in str(error.value)


def test_bad_events_file(tmp_path: Path) -> None:
    Recorder(tmp_path, DTYPE).close()
    (tmp_path / "events.jsonl").write_text('{"kind": "rule"}\nnot json\n{"kind": "rule"}\n')
    with pytest.raises(RunFolderError, match=r"events.jsonl, line 2: not a valid JSON event"):
        read_events(tmp_path)
    (tmp_path / "events.jsonl").write_text("[1]\n")
    with pytest.raises(RunFolderError, match="line 1: expected a JSON object"):
        read_events(tmp_path)
    (tmp_path / "events.jsonl").unlink()
    with pytest.raises(RunFolderError, match=r"events\.jsonl is missing"):
        read_events(tmp_path)


def test_missing_run_folder(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="no such directory"):
        read_frames(tmp_path / "nope")


def edit_layout(run_dir: Path, **changes: object) -> None:
    path = run_dir / "frames.json"
    layout = json.loads(path.read_text())
    layout.update(changes)
    path.write_text(json.dumps(layout))


def edit_field(run_dir: Path, **changes: object) -> None:
    path = run_dir / "frames.json"
    layout = json.loads(path.read_text())
    layout["fields"][0].update(changes)
    path.write_text(json.dumps(layout))
