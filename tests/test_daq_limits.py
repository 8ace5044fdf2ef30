from __future__ import annotations

import threading
import time
import tracemalloc

import numpy as np
import pytest

from rtpose.core.config import parse_config
from rtpose.core.daq_config import DaqConfig, DigitalOutputConfig
from rtpose.core.errors import ConfigError, DaqError
from rtpose.daq.limits import OutputController
from rtpose.daq.sim import SimDaq

MS = 1_000_000
ON = np.array([True])
OFF = np.array([False])


def make(
    *, max_on_ms: float = 10_000.0, max_duty_cycle: float = 1.0, duty_window_ms: float = 1000.0, **sim: object
) -> tuple[SimDaq, OutputController]:
    output = DigitalOutputConfig(
        name="laser", max_on_ms=max_on_ms, max_duty_cycle=max_duty_cycle, duty_window_ms=duty_window_ms
    )
    config = DaqConfig(outputs=[output])
    daq = SimDaq(config, **sim)  # type: ignore[arg-type]
    daq.start()
    return daq, OutputController(daq, config.outputs)


def on_writes(daq: SimDaq) -> list[bool]:
    return [write.value for write in daq.writes[1:]]  # skip start()'s off write


def test_writes_only_on_change() -> None:
    daq, controller = make()
    assert controller.update(ON, 0, 0) > 0
    for frame in range(1, 50):
        assert controller.update(ON, frame, frame * MS) == 0
    assert on_writes(daq) == [True]
    assert controller.update(OFF, 50, 50 * MS) > 0
    assert controller.update(OFF, 51, 51 * MS) == 0
    assert on_writes(daq) == [True, False]
    assert controller.states.tolist() == [0]
    kinds = [(event.kind, event.value) for event in controller.drain_events()]
    assert kinds == [("output", 1.0), ("output", 0.0)]
    assert controller.drain_events() == []


def test_last_write_ns_and_event_times_come_from_the_daq() -> None:
    daq, controller = make()
    write_ns = controller.update(ON, 7, 123)
    assert controller.last_write_ns == write_ns == daq.writes[-1].t_ns
    (event,) = controller.drain_events()
    assert (event.kind, event.name, event.frame_id, event.t_ns, event.value) == (
        "output",
        "laser",
        7,
        write_ns,
        1.0,
    )


def test_max_on_time_cuts_and_stays_off_until_released() -> None:
    daq, controller = make(max_on_ms=100)
    controller.update(ON, 0, 0)
    controller.update(ON, 1, 99 * MS)
    assert daq.is_on("laser")
    controller.update(ON, 2, 100 * MS)
    assert not daq.is_on("laser")
    assert controller.cuts.tolist() == [1]
    for frame in range(3, 10):
        controller.update(ON, frame, frame * 100 * MS)
    assert on_writes(daq) == [True, False]
    events = controller.drain_events()
    limit = [event for event in events if event.kind == "limit"]
    assert len(limit) == 1
    assert limit[0].frame_id == 2
    assert limit[0].detail.startswith("max_on_ms")
    controller.update(OFF, 10, 1100 * MS)
    controller.update(ON, 11, 1200 * MS)
    assert daq.is_on("laser")
    assert controller.cuts.tolist() == [1]


def test_duty_cycle_cuts_continued_on_time() -> None:
    daq, controller = make(max_duty_cycle=0.25, duty_window_ms=1000)
    controller.update(ON, 0, 0)
    controller.update(ON, 1, 249 * MS)
    assert daq.is_on("laser")
    controller.update(ON, 2, 250 * MS)
    assert not daq.is_on("laser")
    (limit,) = [event for event in controller.drain_events() if event.kind == "limit"]
    assert limit.detail.startswith("max_duty_cycle: cut")


def test_duty_cycle_refuses_a_turn_on_without_budget_then_recovers() -> None:
    daq, controller = make(max_duty_cycle=0.25, duty_window_ms=1000)
    for start_ms in (0, 200):  # two 100 ms pulses: 200 ms on in the window
        controller.update(ON, 0, start_ms * MS)
        controller.update(OFF, 1, (start_ms + 100) * MS)
    controller.update(ON, 2, 400 * MS)
    controller.update(ON, 3, 450 * MS)  # 250 ms used: cut
    assert not daq.is_on("laser")
    controller.update(OFF, 4, 500 * MS)
    controller.update(ON, 5, 600 * MS)  # still 250 ms in the window: refused
    assert not daq.is_on("laser")
    assert controller.cuts.tolist() == [2]
    details = [event.detail for event in controller.drain_events() if event.kind == "limit"]
    assert details[1].startswith("max_duty_cycle: turn-on refused")
    controller.update(OFF, 6, 1150 * MS)  # the first pulse left the window: 150 ms used
    controller.update(ON, 7, 1160 * MS)
    assert daq.is_on("laser")
    for frame, t_ms in ((8, 1250), (9, 1300), (10, 1359)):  # 190 ms used until 1300, then growing
        controller.update(ON, frame, t_ms * MS)
        assert daq.is_on("laser")
    controller.update(ON, 11, 1360 * MS)  # 50 (third pulse) + 200 (this one) = 250
    assert not daq.is_on("laser")


def test_duty_cycle_of_one_never_cuts() -> None:
    daq, controller = make(max_duty_cycle=1.0, duty_window_ms=100)
    for frame in range(100):
        controller.update(ON, frame, frame * 10 * MS)
    assert on_writes(daq) == [True]


def test_no_allocation_per_frame_when_nothing_changes() -> None:
    _, controller = make(max_duty_cycle=0.5, duty_window_ms=60_000)
    controller.update(ON, 0, 0)
    timestamps = [frame * MS for frame in range(2000)]
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for frame in range(1, 2000):
            controller.update(ON, frame, timestamps[frame])
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 512
    assert peak - before < 2048


def test_write_failure_drives_all_off_and_raises() -> None:
    outputs = [DigitalOutputConfig(name="laser"), DigitalOutputConfig(name="led")]
    config = DaqConfig(outputs=outputs)
    daq = SimDaq(config, fail_on_write=2)
    daq.start()
    controller = OutputController(daq, outputs)
    controller.update(np.array([True, False]), 0, 0)
    assert daq.is_on("laser")
    count = len(daq.writes)
    with pytest.raises(DaqError, match="simulated write failure on output 'led'"):
        controller.update(np.array([True, True]), 1, MS)
    assert [(w.name, w.value) for w in daq.writes[count:]] == [("laser", False), ("led", False)]
    assert controller.states.tolist() == [0, 0]
    events = controller.drain_events()
    assert [event.kind for event in events] == ["output", "error", "output"]
    assert "write failed" in events[1].detail
    assert events[2].detail == "all_off"
    controller.update(np.array([True, True]), 2, 2 * MS)  # latched off until released
    assert not daq.is_on("laser")


def test_all_off_not_confirmed_is_reported() -> None:
    _, controller = make(fail_all_off=True)
    controller.update(ON, 0, 0)
    assert controller.all_off() is False
    assert controller.states.tolist() == [0]
    (error,) = [event for event in controller.drain_events() if event.kind == "error"]
    assert "not confirmed" in error.detail


def test_all_off_latches_until_request_released() -> None:
    daq, controller = make()
    controller.update(ON, 0, 0)
    assert controller.all_off()
    assert controller.all_off()
    assert not daq.is_on("laser")
    controller.update(ON, 1, MS)
    assert not daq.is_on("laser")
    controller.update(OFF, 2, 2 * MS)
    controller.update(ON, 3, 3 * MS)
    assert daq.is_on("laser")


def test_all_off_from_another_thread_while_the_loop_writes() -> None:
    outputs = [DigitalOutputConfig(name=f"out{index}") for index in range(3)]
    config = DaqConfig(outputs=outputs)
    daq = SimDaq(config)
    daq.start()
    controller = OutputController(daq, outputs)
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:  # toggles every output every frame, and releases now and then
        frame = 0
        try:
            while not stop.is_set():
                frame += 1
                request = np.full(3, frame % 7 != 0)
                controller.update(request, frame, frame * MS)
                controller.drain_events()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        for _ in range(50):
            assert controller.all_off()
            time.sleep(0.001)
        stop.set()
        thread.join()
        assert controller.all_off()
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert not any(daq.is_on(name) for name in daq.output_names)
    assert controller.states.tolist() == [0, 0, 0]


def test_all_off_holds_while_a_held_request_continues() -> None:
    daq, controller = make()
    stop = threading.Event()

    def loop() -> None:
        frame = 0
        while not stop.is_set():
            frame += 1
            controller.update(ON, frame, frame * MS)

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        time.sleep(0.01)
        assert controller.all_off()
        time.sleep(0.02)
        assert not daq.is_on("laser")
    finally:
        stop.set()
        thread.join()
    assert daq.writes[-1].value is False


def test_outputs_must_match_the_daq() -> None:
    daq = SimDaq(DaqConfig(outputs=[DigitalOutputConfig(name="laser")]))
    with pytest.raises(ValueError, match="do not match"):
        OutputController(daq, [DigitalOutputConfig(name="led")])


def test_desired_length_is_checked() -> None:
    _, controller = make()
    with pytest.raises(ValueError, match="expected 1"):
        controller.update(np.array([True, False]), 0, 0)


def test_all_off_from_a_signal_handler_interrupting_update_on_the_same_thread() -> None:
    config = DaqConfig(outputs=[DigitalOutputConfig(name="laser")])
    results: list[tuple[bool, float]] = []

    class InterruptedDaq(SimDaq):  # as if SIGINT's handler ran right after the write
        def write_output(self, index: int, on: bool) -> int:
            t_ns = super().write_output(index, on)
            if not results:
                start = time.perf_counter()
                results.append((controller.all_off(), time.perf_counter() - start))
            return t_ns

    daq = InterruptedDaq(config)
    daq.start()
    controller = OutputController(daq, config.outputs)
    controller.update(ON, 0, 0)
    ((confirmed, seconds),) = results
    assert confirmed
    assert seconds < 0.1  # no wait on the lock this thread holds
    assert not daq.is_on("laser")
    assert controller.states.tolist() == [0]
    controller.update(ON, 1, MS)
    assert not daq.is_on("laser")


def test_bounds_apply_to_trains_and_analog_levels_too() -> None:
    outputs = [
        {"name": "train", "kind": "pulse_train", "frequency_hz": 20, "pulse_width_ms": 5, "max_on_ms": 100},
        {"name": "led", "kind": "analog_level", "on_volts": 2.5, "off_volts": 0.5, "max_on_ms": 100},
    ]
    config = parse_config({"daq": {"outputs": outputs}}).daq
    daq = SimDaq(config)
    daq.start()
    controller = OutputController(daq, list(config.outputs))
    on = np.ones(2, np.bool_)
    t0 = 1_000_000_000
    controller.update(on, 0, t0)
    assert daq.is_on("train") and daq.value_of("led") == 2.5
    controller.update(on, 1, t0 + 150_000_000)  # past max_on_ms: both cut to their safe state
    assert not daq.is_on("train") and daq.value_of("led") == 0.5
    assert controller.cuts.tolist() == [1, 1]
    events = [event for event in controller.drain_events() if event.kind == "limit"]
    assert [event.name for event in events] == ["train", "led"]
    assert all("max_on_ms" in event.detail for event in events)


def test_a_pulse_longer_than_max_on_is_refused_by_the_config() -> None:
    train = {"name": "t", "kind": "pulse_train", "frequency_hz": 10, "pulse_width_ms": 50, "max_on_ms": 5}
    with pytest.raises(ConfigError, match="longer than max_on_ms"):
        parse_config({"daq": {"outputs": [train]}})
