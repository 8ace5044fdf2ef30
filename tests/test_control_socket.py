"""The control socket on a real run: disarm keeps the output off while the rule is active, arm
gives it back, parameters change within their validated range, stop ends the run safely."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import demo_test_config, free_tcp_address

from rtpose.control import ControlClient, ControlReplyError
from rtpose.record.reader import read_events, read_frames
from rtpose.session import RunOptions, RunResult, run

RULE = "male_approach"


def start_run(tmp_path: Path, seconds: float) -> tuple[Any, threading.Thread, dict[str, RunResult]]:
    config = demo_test_config(control={"enabled": True, "address": free_tcp_address()})
    result: dict[str, RunResult] = {}

    def target() -> None:
        result["run"] = run(config, RunOptions(out=tmp_path / "run", seconds=seconds, show_status=False))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return config, thread, result


def wait_for(control: ControlClient, predicate: Any, timeout_s: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = control.status()
        if predicate(status):
            return status
        time.sleep(0.02)
    raise AssertionError(f"condition not reached; last status {status}")


def test_disarm_arm_set_and_stop(tmp_path: Path) -> None:
    config, thread, result = start_run(tmp_path, seconds=30)
    with ControlClient(config.control.address, timeout_ms=10_000) as control:
        reply = control.disarm(RULE)
        assert reply["changed"] == {"rule": RULE, "armed": [True, False]}
        status = wait_for(control, lambda s: s["rules"][0]["active"])
        assert status["rules"][0]["armed"] is False
        time.sleep(0.2)  # active and disarmed for a while: the output stays off
        status = control.status()
        assert status["rules"][0]["active"] and not status["outputs"][0]["on"]

        control.arm(RULE)
        wait_for(control, lambda s: s["outputs"][0]["on"] or not s["rules"][0]["active"])

        with pytest.raises(ControlReplyError, match="greater than or equal to 0"):
            control.set(RULE, "min_duration_ms", -1)
        with pytest.raises(ControlReplyError, match="no settable parameter 'output'"):
            control.set(RULE, "output", 1)
        before = control.status()["parameters"][RULE]["min_duration_ms"]
        reply = control.set(RULE, "min_duration_ms", 50)
        assert reply["changed"] == {"rule": RULE, "min_duration_ms": [before, 50.0]}
        assert control.status()["parameters"][RULE]["min_duration_ms"] == 50.0

        reply = control.stop()
        assert reply["changed"] == {"stop": True}
    thread.join(30)
    outcome = result["run"]
    assert outcome.summary["exit_reason"] == "control stop"
    assert outcome.summary["outputs_off_at_exit"] is True
    assert outcome.summary["control"]["applied"] == 4
    assert outcome.summary["control"]["refused"] == 2

    frames = read_frames(outcome.run_dir)
    events = read_events(outcome.run_dir)
    control_events = [e for e in events if e["kind"] == "control"]
    assert [e["detail"].split(" ")[0] for e in control_events] == ["disarm", "arm", "set", "stop"]
    arm_frame = int(control_events[1]["frame_id"])
    disarmed = frames[frames["frame_id"] <= arm_frame]
    assert disarmed["rule_active"][:, 0].any()  # the rule was active while disarmed ...
    assert not disarmed["output_on"][:, 0].any()  # ... and drove nothing
