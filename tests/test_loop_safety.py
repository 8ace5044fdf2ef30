"""Every exit path leaves the DAQ outputs off: an exception in the engine, the rules or the
camera, a stalled loop, and Ctrl-C / SIGTERM on a real `rtpose run` process.

The faults are injected by small wrappers around the real parts (named ``Faulty*``: test
doubles, used only here). The rule is set to fire on every frame so the output is ON when the
fault strikes: "off at exit" is then a real transition, not the idle state.
"""

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
from conftest import demo_config_dict, demo_test_config, free_tcp_address

from rtpose.camera.fly_scene import NODE_NAMES
from rtpose.camera.synthetic import SyntheticCamera
from rtpose.core.config import SyntheticCameraConfig
from rtpose.core.errors import CameraError
from rtpose.core.types import Poses
from rtpose.daq.sim import SimDaq
from rtpose.engine import DEMO_MODEL_DIR
from rtpose.engine import load as load_engine
from rtpose.record.reader import read_events, read_frames
from rtpose.session import PartOverrides, RunOptions, run
from rtpose.triggers.rule_set import RuleSet, build_rule_set

ALWAYS_ON_RULE = {
    "kind": "distance_below",
    "from_point": "male.head",
    "to_point": "female.abdomen",
    "max_distance_px": 10_000.0,
    "min_duration_ms": 0.0,
}


def _always_on_rule(demo_rule: object) -> dict[str, object]:
    """The demo rule's name and output, with a condition that holds on every frame."""
    assert isinstance(demo_rule, dict)
    return {"name": demo_rule["name"], "output": demo_rule["output"], **ALWAYS_ON_RULE}


def _always_on_config(**sections: dict[str, object]):  # type: ignore[no-untyped-def]
    rules = demo_config_dict()["rules"]
    assert isinstance(rules, list)
    return demo_test_config(rules=[_always_on_rule(rules[0])], **sections)


class FaultyEngine:
    """Wraps the real demo engine; raises (or stalls) on one frame."""

    def __init__(self, fail_at: int, stall_s: float = 0.0) -> None:
        self._engine = load_engine(DEMO_MODEL_DIR)
        self.metadata = self._engine.metadata
        self._fail_at, self._stall_s, self._calls = fail_at, stall_s, 0

    def infer(self, frame: np.ndarray) -> Poses:
        self._calls += 1
        if self._calls == self._fail_at:
            if self._stall_s:
                time.sleep(self._stall_s)
            else:
                raise RuntimeError("injected engine fault")
        return self._engine.infer(frame)

    def close(self) -> None:
        self._engine.close()


class FaultyRule:
    name = "faulty"

    def __init__(self, fail_at: int) -> None:
        self._fail_at, self._calls = fail_at, 0

    def update(self, poses: Poses, t_ns: int) -> bool:
        self._calls += 1
        if self._calls == self._fail_at:
            raise ZeroDivisionError("injected rule fault")
        return False


class FaultyCamera(SyntheticCamera):
    def __init__(self, fail_at: int) -> None:
        super().__init__(SyntheticCameraConfig(fps=60.0))
        self._fail_at, self._calls = fail_at, 0

    def grab_into(self, out: np.ndarray, timeout_s: float) -> tuple[int, int | None]:
        self._calls += 1
        if self._calls == self._fail_at:
            raise CameraError("injected camera loss")
        return super().grab_into(out, timeout_s)


def _run(tmp_path: Path, overrides: PartOverrides, config=None, seconds: float = 20.0):  # type: ignore[no-untyped-def]
    config = config or _always_on_config()
    daq = overrides.daq or SimDaq(config.daq)
    overrides.daq = daq
    result = run(
        config, RunOptions(out=tmp_path / "run", seconds=seconds, show_status=False, overrides=overrides)
    )
    return result, daq


def _assert_was_on_then_off(daq: SimDaq) -> None:
    values = [write.value for write in daq.writes if write.name == "opto"]
    assert True in values, "the output never went on, so the test proves nothing"
    assert values[-1] is False
    assert not daq.is_on("opto")


@pytest.mark.parametrize("stage", ["engine", "rules", "camera"])
def test_fault_in_a_stage_ends_run_with_outputs_off(tmp_path: Path, stage: str) -> None:
    config = _always_on_config()
    overrides = PartOverrides()
    if stage == "engine":
        overrides.engine = FaultyEngine(fail_at=15)
    elif stage == "rules":
        real_rule = build_rule_set(config, list(NODE_NAMES)).rules[0]
        overrides.rules = RuleSet([real_rule, FaultyRule(fail_at=15)], rule_outputs=[0, None], num_outputs=1)
    else:
        overrides.camera = FaultyCamera(fail_at=15)
    result, daq = _run(tmp_path, overrides, config)
    assert result.exit_code == 1
    expected = {
        "engine": "engine failed on frame",
        "rules": "rules failed on frame",
        "camera": "injected camera loss",
    }
    assert expected[stage] in (result.error or "")
    assert result.summary["outputs_off_at_exit"] is True
    _assert_was_on_then_off(daq)
    # the record of what happened before the fault is complete
    frames = read_frames(result.run_dir)
    assert len(frames) == result.summary["frames_processed"] >= 10
    events = read_events(result.run_dir)
    assert any(e["kind"] == "error" for e in events)
    assert json.loads((result.run_dir / "summary.json").read_text())["error"] == result.error


class StallingCamera(SyntheticCamera):
    """Stops delivering frames for a while (shorter than the grab timeout) on one grab."""

    def __init__(self, stall_at: int, stall_s: float) -> None:
        super().__init__(SyntheticCameraConfig(fps=60.0))
        self._stall_at, self._stall_s, self._calls = stall_at, stall_s, 0

    def grab_into(self, out: np.ndarray, timeout_s: float) -> tuple[int, int | None]:
        self._calls += 1
        if self._calls == self._stall_at:
            time.sleep(self._stall_s)
        return super().grab_into(out, timeout_s)


@pytest.mark.parametrize("where", ["engine", "camera"])
def test_stall_is_cut_by_the_watchdog(tmp_path: Path, where: str) -> None:
    """A hung engine, or a camera that stops delivering frames, must not leave the light on."""
    config = _always_on_config(loop={"stall_timeout_ms": 200.0})
    daq = SimDaq(config.daq)
    overrides = PartOverrides(daq=daq)
    if where == "engine":
        overrides.engine = FaultyEngine(fail_at=30, stall_s=1.0)
    else:
        overrides.camera = StallingCamera(stall_at=30, stall_s=1.0)
    result, _ = _run(tmp_path, overrides, config, seconds=2.0)
    assert result.summary["watchdog_stalls"] >= 1
    writes = [w for w in daq.writes if w.name == "opto"]
    first_on = next(i for i, w in enumerate(writes) if w.value)
    cut = writes[first_on + 1]
    assert cut.value is False
    # the cut came during the stall (between two frames 1 s apart), not at the end of the run
    frames = read_frames(result.run_dir)
    gap = int(np.argmax(np.diff(frames["daq_write_ns"])))
    assert frames["daq_write_ns"][gap] < cut.t_ns < frames["daq_write_ns"][gap + 1]
    assert cut.t_ns - frames["daq_write_ns"][gap] < 0.6e9  # within ~ the stall timeout, not 1 s
    assert result.summary["outputs_off_at_exit"] is True


def test_unconfirmed_outputs_off_fails_the_run(tmp_path: Path) -> None:
    config = _always_on_config()
    daq = SimDaq(config.daq, fail_all_off=True)
    result, _ = _run(tmp_path, PartOverrides(daq=daq), config, seconds=0.5)
    assert result.summary["outputs_off_at_exit"] is False
    assert result.exit_code == 1


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_a_real_run_with_outputs_off(tmp_path: Path, signum: int) -> None:
    rules = demo_config_dict()["rules"]
    assert isinstance(rules, list)
    data = demo_config_dict(stream={"address": free_tcp_address()}, rules=[_always_on_rule(rules[0])])
    config_path = tmp_path / "rig.toml"
    config_path.write_text(_to_toml(data), encoding="utf-8")
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "rtpose", "run", str(config_path), "--out", str(out), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (out / "frames.bin").exists() and (out / "frames.bin").stat().st_size > 0:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    os.kill(process.pid, signum)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exit_reason"] == f"signal {signal.Signals(signum).name}"
    assert summary["outputs_off_at_exit"] is True
    output_events = [e for e in read_events(out) if e["kind"] == "output"]
    assert output_events[0]["value"] == 1.0 and output_events[-1]["value"] == 0.0
    assert len(read_frames(out)) == summary["frames_processed"]
    assert "outputs off at exit: True" in stdout


def _to_toml(data: dict[str, object]) -> str:
    """Just enough TOML writing for the demo config's shape."""

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines: list[str] = []
    for section, content in data.items():
        if isinstance(content, list):
            for item in content:
                lines.append(f"[[{section}]]")
                lines += [f"{k} = {value(v)}" for k, v in item.items()]
            continue
        assert isinstance(content, dict)
        lines.append(f"[{section}]")
        tables = {k: v for k, v in content.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
        lines += [f"{k} = {value(v)}" for k, v in content.items() if k not in tables]
        for key, items in tables.items():
            for item in items:
                lines.append(f"[[{section}.{key}]]")
                lines += [f"{k} = {value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"
