"""`rtpose convert`: a run folder to SLEAP (.slp, read back with sleap-io), NWB (ndx-pose, checked
with pynwb's validator, the schema validator NWB provides) and CSV (read back exactly).

The run is written with the real recorder and run header, with values chosen to exercise what
converters get wrong: missing nodes (NaN), instances without identity, empty slots and frames,
a dropped frame and rule/output states.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import demo_config_dict

from rtpose.cli import main
from rtpose.convert import convert_run, read_run
from rtpose.core.config import parse_config
from rtpose.core.errors import ConfigError
from rtpose.core.frame_record import frame_record_dtype
from rtpose.core.model_metadata import read_metadata
from rtpose.engine import DEMO_MODEL_DIR
from rtpose.record import Recorder, RunFolderError
from rtpose.run_folder import write_run_header

NODES = ["head", "thorax", "abdomen", "wing_left", "wing_right"]
FRAMES = 40


def make_records() -> np.ndarray:
    rows = np.zeros(FRAMES, frame_record_dtype(2, len(NODES), 1, 1))
    ids = np.arange(FRAMES) + (np.arange(FRAMES) >= 10)  # frame id 10 was dropped
    rows["frame_id"] = ids
    rows["dropped_before"][10] = 1
    rows["camera_timestamp_ns"] = 5_000_000_000 + ids * 16_666_667
    rows["grab_ns"] = rows["camera_timestamp_ns"] + 1_000_000
    rng = np.random.default_rng(3)
    rows["points"] = rng.uniform(0, 256, rows["points"].shape).astype(np.float32)
    rows["point_scores"] = rng.uniform(0.2, 1, rows["point_scores"].shape).astype(np.float32)
    rows["instance_scores"] = rng.uniform(0.3, 1, rows["instance_scores"].shape).astype(np.float32)
    rows["valid"] = True
    rows["identities"] = [0, 1]
    rows["identities"][5] = [1, 0]  # swapped slots
    rows["identities"][7] = [0, -1]  # an instance without identity
    rows["valid"][12, 1] = False  # one animal missing
    rows["points"][12, 1] = np.nan
    rows["point_scores"][12, 1] = 0
    rows["identities"][12, 1] = -1
    rows["valid"][20] = False  # nobody found
    rows["points"][20] = np.nan
    rows["points"][3, 0, 4] = np.nan  # a node not found
    rows["point_scores"][3, 0, 4] = 0
    rows["rule_active"][15:25, 0] = 1
    rows["output_on"][16:25, 0] = 1
    return rows


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    config = parse_config(demo_config_dict())
    run = tmp_path / "run-1"
    run.mkdir()
    write_run_header(run, config, read_metadata(DEMO_MODEL_DIR), DEMO_MODEL_DIR)
    labels = {"nodes": NODES, "animals": ["female", "male"], "rules": ["male_approach"], "outputs": ["opto"]}
    with Recorder(run, frame_record_dtype(2, len(NODES), 1, 1), labels=labels) as recorder:
        for row in make_records():
            recorder.handle_frame(row)
    return run


def test_csv_round_trips(run_dir: Path) -> None:
    path, _ = convert_run(run_dir, "csv")
    assert path == run_dir / "run-1.csv"
    records = make_records()
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == FRAMES * 2
    for row in rows:
        frame, slot = divmod(rows.index(row), 2)
        record = records[frame]
        assert int(row["frame_id"]) == record["frame_id"] and int(row["slot"]) == slot
        assert int(row["dropped_before"]) == record["dropped_before"]
        assert int(row["grab_ns"]) == record["grab_ns"]
        assert float(row["time_s"]) == pytest.approx((record["frame_id"]) * 0.016666667, abs=1e-9)
        assert row["valid"] == ("1" if record["valid"][slot] else "0")
        identity = int(record["identities"][slot])
        assert row["animal"] == ("" if identity < 0 else ["female", "male"][identity])
        for index, node in enumerate(NODES):
            for axis, name in enumerate(("x", "y")):
                value = np.float32(float(row[f"{node}_{name}"]))
                np.testing.assert_array_equal(value, record["points"][slot, index, axis])
            assert np.float32(float(row[f"{node}_score"])) == record["point_scores"][slot, index]
        assert np.float32(float(row["instance_score"])) == record["instance_scores"][slot]
        assert int(row["rule_male_approach"]) == record["rule_active"][0]
        assert int(row["output_opto"]) == record["output_on"][0]


def test_slp_loads_in_sleap_io_with_tracks_scores_and_missing_nodes(run_dir: Path) -> None:
    sio = pytest.importorskip("sleap_io")
    path, _ = convert_run(run_dir, "slp", run_dir / "out.slp")
    labels = sio.load_slp(str(path))
    records = make_records()
    assert [node.name for node in labels.skeleton.nodes] == NODES
    assert len(labels.skeleton.edges) == 4
    assert [track.name for track in labels.tracks] == ["female", "male"]
    assert len(labels) == FRAMES - 1  # frame 20 has no instance
    assert sum(len(frame.instances) for frame in labels) == int(records["valid"].sum())
    assert labels.video.filename.endswith("no-video-recorded.mkv")  # no video was recorded
    by_id = {frame.frame_idx: frame for frame in labels}
    assert 10 not in by_id and 21 not in by_id  # dropped; empty (record 20)
    for record in records:
        frame_id = int(record["frame_id"])
        if frame_id == 21:  # record 20 holds frame id 21: nobody found
            continue
        frame = by_id[frame_id]
        for instance, slot in zip(frame.instances, np.flatnonzero(record["valid"]), strict=True):
            np.testing.assert_allclose(instance.numpy(), record["points"][slot], rtol=0, atol=1e-4)
            np.testing.assert_allclose(instance.score, record["instance_scores"][slot], rtol=1e-6)
            scores = np.array([point["score"] for point in instance.points])
            np.testing.assert_allclose(scores, record["point_scores"][slot], rtol=1e-6)
            identity = int(record["identities"][slot])
            assert (instance.track.name if instance.track else None) == (
                None if identity < 0 else ["female", "male"][identity]
            )
    assert np.isnan(by_id[3].instances[0].numpy()[4]).all()  # the node not found stays missing
    assert by_id[7].instances[1].track is None


def test_nwb_validates_and_holds_the_poses_per_animal(run_dir: Path) -> None:
    pynwb = pytest.importorskip("pynwb")
    pytest.importorskip("ndx_pose")
    path, _ = convert_run(run_dir, "nwb")
    assert pynwb.validate(path=str(path)) == []
    records = make_records()
    with pynwb.NWBHDF5IO(str(path), mode="r") as io:
        nwbfile = io.read()
        behavior = nwbfile.processing["behavior"]
        assert set(behavior.data_interfaces) == {
            "Skeletons",
            "female",
            "male",
            "unidentified_slot1",
            "rule_active",
            "output_on",
        }
        male = behavior["male"]
        assert list(male.skeleton.nodes[:]) == NODES
        head = male.pose_estimation_series["head"]
        timestamps = head.timestamps[:]
        assert len(timestamps) == FRAMES and np.all(np.diff(timestamps) > 0)
        np.testing.assert_allclose(np.diff(timestamps), np.diff(records["camera_timestamp_ns"]) / 1e9)
        data = head.data[:]
        slot_of_male = np.argmax(records["identities"] == 1, axis=1)
        male_valid = records["valid"][np.arange(FRAMES), slot_of_male]
        has_male = (records["identities"] == 1).any(axis=1) & male_valid
        expected = records["points"][np.arange(FRAMES), slot_of_male, 0]
        np.testing.assert_array_equal(data[has_male], expected[has_male])
        assert np.isnan(data[~has_male]).all()
        assert np.isnan(male.pose_estimation_series["head"].data[7]).all()  # no male at record 7
        unknown = behavior["unidentified_slot1"].pose_estimation_series["thorax"].data[:]
        np.testing.assert_array_equal(unknown[7], records["points"][7, 1, 1])
        assert np.isnan(unknown[8]).all()
        np.testing.assert_array_equal(behavior["rule_active"].data[:, 0], records["rule_active"][:, 0])
        assert "male_approach" in behavior["rule_active"].description


def test_cli_convert_and_bad_input(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(run_dir), "--to", "csv", "-o", str(tmp_path / "x.csv")]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "x.csv").is_file()
    assert main(["convert", str(tmp_path / "nope"), "--to", "csv"]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert main(["convert", str(tmp_path), "--to", "csv"]) == 2
    assert "frames.json is missing" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"must end in \.nwb"):
        convert_run(run_dir, "nwb", tmp_path / "x.h5")


def test_names_that_do_not_fit_the_record_are_refused(run_dir: Path) -> None:
    layout = json.loads((run_dir / "frames.json").read_text())
    layout["labels"]["nodes"] = ["head"]
    (run_dir / "frames.json").write_text(json.dumps(layout))
    with pytest.raises(RunFolderError, match="holds 5 nodes but the run's metadata names 1"):
        read_run(run_dir)


def test_a_killed_run_converts_up_to_its_last_complete_record(run_dir: Path) -> None:
    size = (run_dir / "frames.bin").stat().st_size
    with open(run_dir / "frames.bin", "r+b") as frames:
        frames.truncate(size - 7)
    run = read_run(run_dir)
    assert len(run.frames) == FRAMES - 1 and run.summary is None
    _, description = convert_run(run_dir, "csv")
    assert description.startswith(f"{FRAMES - 1} frames")
