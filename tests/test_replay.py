"""Video recording and replay on a real closed-loop run: the demo rig under the closed-loop
policy `latest`, with `record.video` on, replayed offline through the same engine, identity and
rules; then the replay's decisions must equal the live run's, frame by frame.

The live engine is slowed (``SlowedEngine``, a test double around the real engine) so that the
loop is slower than the camera and `latest` skips frames for certain: the video then holds frames
the live loop never processed, which the replay must leave out."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import demo_test_config

from rtpose.camera.fly_scene import FlyScene
from rtpose.cli import main
from rtpose.convert import convert_run, read_run
from rtpose.core.errors import ConfigError
from rtpose.core.types import Poses
from rtpose.engine import DEMO_MODEL_DIR
from rtpose.engine import load as load_engine
from rtpose.record.video import VideoRecorder
from rtpose.replay import compare_runs, replay
from rtpose.session import PartOverrides, RunOptions, run

EPISODES = {"approach_period_s": 2.5, "approach_duration_s": 1.0}  # an episode at 2–3 s
SCENE = {"fps": 90.0, **EPISODES}


class SlowedEngine:
    """The real demo engine, plus a sleep per frame: slower than the 90 fps camera."""

    def __init__(self, sleep_s: float) -> None:
        self._engine = load_engine(DEMO_MODEL_DIR)
        self.metadata = self._engine.metadata
        self._sleep_s = sleep_s

    def infer(self, frame: np.ndarray) -> Poses:
        time.sleep(self._sleep_s)
        return self._engine.infer(frame)

    def close(self) -> None:
        self._engine.close()


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = demo_test_config(camera=SCENE, record={"video": True, "video_queue_frames": 340})
    out = tmp_path_factory.mktemp("live") / "run"
    overrides = PartOverrides(engine=SlowedEngine(0.012))
    result = run(config, RunOptions(out=out, seconds=3.6, show_status=False, overrides=overrides))
    assert result.exit_code == 0, result.error
    assert result.summary["frames_dropped"] > 0  # the loop skipped frames (policy latest)
    return out


def test_video_holds_every_grabbed_frame_with_its_frame_id(live_run: Path) -> None:
    summary = json.loads((live_run / "summary.json").read_text())
    assert summary["video"]["dropped"] == 0 and summary["video"]["error"] is None
    run_data = read_run(live_run)
    ids = run_data.video_frame_ids
    assert ids is not None and len(ids) == summary["drops"]["frames_grabbed"]
    assert summary["video"]["frames_written"] == len(ids)
    assert np.all(np.diff(ids.astype(np.int64)) > 0)
    assert set(run_data.frames["frame_id"].tolist()) <= set(ids.tolist())  # every processed frame
    with av.open(str(live_run / "video.mkv")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "ffv1"
        decoded = [frame.to_ndarray(format="gray") for frame in container.decode(stream)]
    assert len(decoded) == len(ids)
    scene, expected = FlyScene(seed=0, fps=SCENE["fps"], **EPISODES), np.zeros((256, 256, 1), np.uint8)
    for index in (0, len(ids) // 2, len(ids) - 1):
        scene.render_frame(int(ids[index]), expected)
        np.testing.assert_array_equal(decoded[index], expected[:, :, 0])  # lossless


def _episodes() -> dict[str, float]:
    return {
        "approach_period_s": SCENE["approach_period_s"],
        "approach_duration_s": SCENE["approach_duration_s"],
    }


def test_replay_reproduces_the_live_decisions_exactly(
    live_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "replay"
    code = main(
        ["replay", str(live_run), "--video", str(live_run / "video.mkv"), "--out", str(out), "--quiet"]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "IDENTICAL" in printed
    live, replayed = read_run(live_run), read_run(out)
    assert live.summary is not None and live.summary["rules"]["male_approach"]["activations"] >= 1
    np.testing.assert_array_equal(replayed.frames["frame_id"], live.frames["frame_id"])
    np.testing.assert_array_equal(replayed.frame_times_ns, live.frame_times_ns)
    np.testing.assert_array_equal(replayed.frames["dropped_before"], live.frames["dropped_before"])
    np.testing.assert_array_equal(replayed.frames["rule_active"], live.frames["rule_active"])
    np.testing.assert_array_equal(replayed.frames["output_on"], live.frames["output_on"])
    assert replayed.frames["points"].tobytes() == live.frames["points"].tobytes()
    record = json.loads((out / "replay.json").read_text())
    assert record["comparison"]["identical"] is True and record["model_same_as_live"] is True
    grabbed, processed = live.summary["drops"]["frames_grabbed"], live.summary["frames_processed"]
    assert record["frames_skipped_in_video"] == grabbed - processed > 0  # frames the live loop skipped


def test_a_changed_decision_is_reported_with_its_frame_ids(live_run: Path) -> None:
    live = read_run(live_run)
    altered = read_run(live_run)
    rows = [3, 7]
    for row in rows:
        altered.frames["rule_active"][row, 0] ^= 1
    comparison = compare_runs(live, altered)
    assert not comparison.identical
    [difference] = comparison.differences
    assert difference.kind == "rule" and difference.name == "male_approach" and difference.frames == 2
    assert difference.first_frame_ids == live.frames["frame_id"][rows].tolist()
    assert "differs on 2 frames" in comparison.describe()


def test_a_video_that_is_not_the_runs_is_reported(
    live_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = tmp_path / "other.mkv"
    recorder = VideoRecorder(foreign, (256, 256, 1), 30.0, queue_frames=4)
    for frame_id in range(10**6, 10**6 + 3):
        recorder.offer(frame_id, np.zeros((256, 256, 1), np.uint8))
    recorder.close()
    code = main(["replay", str(live_run), "--video", str(foreign), "--out", str(tmp_path / "r"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    assert "not this run's video" in captured.err
    assert "were not replayed" in captured.out


def test_replay_of_a_config_runs_every_video_frame(live_run: Path, tmp_path: Path) -> None:
    config = tmp_path / "rig.toml"
    config.write_text('[stream]\nenabled = false\n[record]\nroot = "runs"\n', encoding="utf-8")
    outcome = replay(config, live_run / "video.mkv", tmp_path / "from-config")
    assert outcome.comparison is None and outcome.result.exit_code == 0
    ids = read_run(live_run).video_frame_ids
    assert ids is not None
    np.testing.assert_array_equal(read_run(outcome.result.run_dir).frames["frame_id"], ids)


def test_slp_references_the_recorded_video(live_run: Path, tmp_path: Path) -> None:
    sio = pytest.importorskip("sleap_io")
    path, _ = convert_run(live_run, "slp", tmp_path / "live.slp")
    labels = sio.load_slp(str(path))
    assert Path(labels.video.filename) == (live_run / "video.mkv").resolve()
    run_data = read_run(live_run)
    index_of = run_data.video_index_by_frame_id()
    first = run_data.frames[0]
    frame = next(f for f in labels if f.frame_idx == index_of[int(first["frame_id"])])
    np.testing.assert_allclose(frame.instances[0].numpy(), first["points"][0], atol=1e-4)


def test_a_run_whose_model_is_gone_says_to_replay_from_the_config(live_run: Path, tmp_path: Path) -> None:
    moved = tmp_path / "moved-run"
    shutil.copytree(live_run, moved)
    config = json.loads((moved / "config.json").read_text())
    config["model"]["path"] = "models/flies"
    (moved / "config.json").write_text(json.dumps(config))
    model = json.loads((moved / "model.json").read_text())
    model["package_path"] = str(tmp_path / "gone")
    (moved / "model.json").write_text(json.dumps(model))
    with pytest.raises(ConfigError, match=r"is not found from here; replay from the rig config"):
        replay(moved, moved / "video.mkv")
    with pytest.raises(ConfigError, match="no such file"):
        replay(live_run, tmp_path / "nope.mkv")


def test_stalls_and_control_commands_of_the_live_run_are_named_when_decisions_differ(
    live_run: Path, tmp_path: Path
) -> None:
    stalled = tmp_path / "stalled"
    shutil.copytree(live_run, stalled)
    summary = json.loads((stalled / "summary.json").read_text(encoding="utf-8"))
    summary["watchdog_stalls"] = 2
    (stalled / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    frame_id = int(read_run(live_run).frames["frame_id"][5])
    command = {"kind": "control", "name": "male_approach", "frame_id": frame_id, "t_ns": 0, "value": 0.0}
    with open(stalled / "events.jsonl", "a", encoding="utf-8") as events:
        events.write(json.dumps({**command, "detail": "disarm (was armed)"}) + "\n")
    live, replayed = read_run(stalled), read_run(live_run)
    live.frames["output_on"][5:, :] = 0  # what the latched-off outputs would have recorded
    comparison = compare_runs(live, replayed)
    assert comparison.watchdog_stalls_live == 2 and comparison.control_commands_live == 1
    text = comparison.describe()
    assert "stalled 2 times" in text and "1 control-socket commands" in text
    assert text.endswith("DIFFER from the live run")
    plain = compare_runs(read_run(live_run), replayed)  # the untouched live run says neither
    assert plain.watchdog_stalls_live == plain.control_commands_live == 0
    assert "stalled" not in plain.describe() and "control-socket" not in plain.describe()
