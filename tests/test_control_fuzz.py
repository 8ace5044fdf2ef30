"""Property tests: random and malformed control messages get an error reply, change nothing, and
never disturb the loop."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from conftest import demo_test_config, free_tcp_address
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rtpose.control import ControlClient, ControlHandler, Mailbox
from rtpose.control.commands import Arm, RequestError, SetParameter, Status, Stop, parse_request
from rtpose.record.reader import read_events, read_frames
from rtpose.session import RunOptions, RunResult, run

RULE = "male_approach"
COMMANDS = ["status", "arm", "disarm", "set", "stop", "Stop", "", "exit"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
requests = st.fixed_dictionaries(
    {"command": st.sampled_from(COMMANDS) | json_values},
    optional={
        "rule": st.sampled_from([RULE, "nope", ""]) | json_values,
        "parameter": st.sampled_from(["min_duration_ms", "output", "name", "kind"]) | json_values,
        "value": json_values,
        "extra": json_values,
    },
)
messages = st.one_of(
    st.lists(st.binary(max_size=200), min_size=1, max_size=3),
    json_values.map(lambda value: [json.dumps(value).encode()]),
    requests.map(lambda request: [json.dumps(request).encode()]),
    requests.map(lambda request: [json.dumps(request).encode(), b"second frame"]),
)


def harmful(frames: list[bytes]) -> bool:
    """Whether a generated message is a valid command that would change the run."""
    try:
        command = parse_request(frames)
    except RequestError:
        return False
    if isinstance(command, Status):
        return False
    if isinstance(command, Arm | SetParameter):
        return command.rule == RULE and not (isinstance(command, SetParameter) and command.value < 0)
    return isinstance(command, Stop)


@settings(max_examples=300, deadline=None)
@given(messages)
def test_handler_replies_with_an_error_and_changes_nothing(frames: list[bytes]) -> None:
    assume(not harmful(frames))
    mailbox = Mailbox()
    handler = ControlHandler(mailbox, [], lambda i, c: None, lambda: {}, 0.01)  # type: ignore[arg-type, return-value]
    reply = handler.handle(frames)
    assert isinstance(reply, dict)
    if parse_succeeds_as_status(frames):
        assert reply["ok"] is True
    else:
        assert reply["ok"] is False and reply["error"]
    assert not mailbox


def parse_succeeds_as_status(frames: list[bytes]) -> bool:
    try:
        return isinstance(parse_request(frames), Status)
    except RequestError:
        return False


def test_a_running_loop_shrugs_off_garbage(tmp_path: Path) -> None:
    config = demo_test_config(control={"enabled": True, "address": free_tcp_address()})
    result: dict[str, RunResult] = {}
    thread = threading.Thread(
        target=lambda: result.update(
            run=run(config, RunOptions(out=tmp_path / "run", seconds=30, show_status=False))
        ),
        daemon=True,
    )
    thread.start()
    replies: list[dict[str, Any]] = []
    with ControlClient(config.control.address, timeout_ms=10_000) as control:
        frames_before = control.status()["frames_processed"]

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(messages)
        def send(frames: list[bytes]) -> None:
            assume(not harmful(frames))
            reply = control.request_raw(frames)
            replies.append(reply)
            assert reply["ok"] is parse_succeeds_as_status(frames)

        send()
        status = control.status()
        assert status["frames_processed"] > frames_before  # the loop kept going
        assert all(rule["armed"] for rule in status["rules"])
        control.stop()
    thread.join(30)
    outcome = result["run"]
    assert outcome.summary["exit_reason"] == "control stop"
    assert outcome.summary["control"]["applied"] == 1  # the stop, nothing else
    assert len(replies) > 0
    frames = read_frames(outcome.run_dir)
    control_events = [e for e in read_events(outcome.run_dir) if e["kind"] == "control"]
    assert [e["detail"] for e in control_events] == ["stop"]
    assert len(frames) > 0
