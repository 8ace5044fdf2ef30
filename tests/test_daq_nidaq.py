"""The NI-DAQmx backend against a recording fake of the Task surface (tests/fake_nidaqmx.py),
and against the real ``nidaqmx`` package where no driver exists (the error users will see)."""

from __future__ import annotations

import time
from pathlib import Path

import nidaqmx.constants as constants
import numpy as np
import pytest
from fake_nidaqmx import FakeNidaqmx
from test_loop_safety import FaultyEngine, _always_on_config

from rtpose.core.config import parse_config
from rtpose.core.daq_config import DaqConfig
from rtpose.core.errors import DaqError
from rtpose.daq.limits import OutputController
from rtpose.daq.nidaq import NiDaq
from rtpose.record.analog import AnalogRecorder, read_analog
from rtpose.session import PartOverrides, RunOptions, run

RIG_DAQ = {
    "backend": "nidaq",
    "outputs": [
        {"name": "laser", "line": "Dev1/port0/line3"},
        {
            "name": "train",
            "kind": "pulse_train",
            "counter": "Dev1/ctr0",
            "terminal": "/Dev1/PFI12",
            "frequency_hz": 40,
            "pulse_width_ms": 5,
            "duration_ms": 500,
        },
        {"name": "led", "kind": "analog_level", "channel": "Dev1/ao0", "on_volts": 3.5},
        {
            "name": "distance",
            "kind": "analog_feature",
            "channel": "Dev1/ao1",
            "feature": "distance(female.thorax, male.thorax)",
            "volts_per_unit": 0.02,
        },
    ],
    "inputs": [
        {"name": "loop", "channel": "Dev1/ai0"},
        {"name": "exposure", "channel": "Dev1/ai1", "terminal": "rse"},
    ],
    "input_rate_hz": 5000,
    "input_block_samples": 50,
}


def daq_config() -> DaqConfig:
    return parse_config({"daq": RIG_DAQ}).daq


def started(api: FakeNidaqmx) -> NiDaq:
    daq = NiDaq(daq_config(), nidaqmx_api=api)
    daq.start()
    return daq


def levels(api: FakeNidaqmx) -> dict[str, float]:
    return {name: line.level for name, line in api.lines.items() if "/ai" not in name}


def test_tasks_are_created_configured_and_started_once() -> None:
    api = FakeNidaqmx()
    daq = NiDaq(daq_config(), nidaqmx_api=api)
    assert api.log == []  # construction touches no hardware
    daq.start()
    daq.start()
    created = [entry[1] for entry in api.calls("create")]
    assert created == ["rtpose-out-laser", "rtpose-out-train", "rtpose-out-led", "rtpose-out-distance"]
    assert [entry[1] for entry in api.calls("start")] == [
        "rtpose-out-laser",
        "rtpose-out-led",
        "rtpose-out-distance",
    ]
    (do_channel,) = api.calls("add_do_chan")
    assert do_channel[2] == "Dev1/port0/line3"
    assert do_channel[3]["line_grouping"] == constants.LineGrouping.CHAN_PER_LINE
    ao_channels = api.calls("add_ao_voltage_chan")
    assert [(entry[2], entry[3]["min_val"], entry[3]["max_val"]) for entry in ao_channels] == [
        ("Dev1/ao0", 0.0, 5.0),
        ("Dev1/ao1", 0.0, 5.0),
    ]
    for _ in range(20):
        daq.write_output(0, True)
        daq.write_output(0, False)
    assert len(api.calls("create")) == 4  # no task per trigger
    assert len(api.calls("start")) == 3
    daq.close()


def test_each_trigger_is_one_write() -> None:
    api = FakeNidaqmx()
    daq = started(api)
    writes_before = len(api.calls("write"))
    t_ns = daq.write_output(0, True)
    assert t_ns > 0
    assert api.calls("write")[writes_before:] == [("write", "rtpose-out-laser", True)]
    assert api.lines["Dev1/port0/line3"].level == 1.0
    daq.write_output(2, True)
    assert api.calls("write")[-1] == ("write", "rtpose-out-led", 3.5)
    daq.write_output(2, False)
    assert api.calls("write")[-1] == ("write", "rtpose-out-led", 0.0)
    daq.write_value(3, 1.25)
    assert api.calls("write")[-1] == ("write", "rtpose-out-distance", 1.25)
    daq.write_value(3, 99.0)  # clamped to the output's range
    assert api.calls("write")[-1] == ("write", "rtpose-out-distance", 5.0)
    daq.close()


def test_pulse_train_is_finite_hardware_timed_and_follows_the_rule_edges() -> None:
    api = FakeNidaqmx()
    daq = started(api)
    (channel,) = api.calls("add_co_pulse_chan_freq")
    assert channel[2] == "Dev1/ctr0"
    settings = channel[3]
    assert settings["freq"] == 40
    assert settings["duty_cycle"] == pytest.approx(0.2)  # 5 ms of a 25 ms period
    assert settings["idle_state"] == constants.Level.LOW
    train_task = api.tasks[1]
    assert train_task.channels[0][3].co_pulse_term == "/Dev1/PFI12"
    assert train_task.configured_timing == (
        "implicit",
        constants.AcquisitionType.FINITE,
        20,
    )  # 500 ms × 40 Hz
    assert ("control", "rtpose-out-train", constants.TaskMode.TASK_COMMIT) in api.log
    assert not train_task.running
    daq.write_output(1, True)  # rising edge: start
    assert train_task.running
    daq.write_output(1, False)  # release: stop, counter idle low
    assert not train_task.running
    assert api.lines["Dev1/ctr0"].level == 0.0
    daq.write_output(1, True)  # a second train starts again (stop-before-start is handled)
    daq.write_output(1, True)
    assert train_task.running
    trains = [entry for entry in api.log if entry[0] in ("start", "stop") and entry[1] == "rtpose-out-train"]
    # start() stops the idle train once (all off); then each edge: start, stop, restart
    assert [entry[0] for entry in trains] == ["stop", "start", "stop", "start", "stop", "start"]
    daq.close()
    assert api.lines["Dev1/ctr0"].level == 0.0


def test_a_train_held_on_is_bounded_by_max_on() -> None:
    config = parse_config(
        {
            "daq": {
                "backend": "nidaq",
                "outputs": [
                    {
                        "name": "train",
                        "kind": "pulse_train",
                        "frequency_hz": 20,
                        "pulse_width_ms": 10,
                        "max_on_ms": 3000,
                    }
                ],
            }
        }
    ).daq
    api = FakeNidaqmx()
    daq = NiDaq(config, nidaqmx_api=api)
    daq.start()
    assert api.tasks[0].configured_timing == ("implicit", constants.AcquisitionType.FINITE, 60)
    daq.close()


@pytest.mark.parametrize("exit_path", ["close", "all_off", "write_failure"])
def test_every_exit_path_leaves_every_output_low(exit_path: str) -> None:
    api = FakeNidaqmx()
    daq = started(api)
    for index in range(3):
        daq.write_output(index, True)
    daq.write_value(3, 2.0)
    assert all(level > 0 for level in levels(api).values())
    if exit_path == "close":
        assert daq.close()
    elif exit_path == "all_off":
        assert daq.all_off()
    else:
        api.tasks[0].running = False  # the laser's task dies: its write fails ...
        with pytest.raises(DaqError, match="laser"):
            daq.write_output(0, False)
        api.tasks[0].running = True
        assert daq.all_off()  # ... and the controller's all_off still drives everything low
    assert levels(api) == {"Dev1/port0/line3": 0.0, "Dev1/ctr0": 0.0, "Dev1/ao0": 0.0, "Dev1/ao1": 0.0}
    daq.close()
    assert all(task.closed for task in api.tasks)


def test_all_off_keeps_going_past_a_failing_output() -> None:
    api = FakeNidaqmx()
    daq = started(api)
    for index in range(3):
        daq.write_output(index, True)
    api.tasks[0].running = False  # the first output cannot be written any more
    assert daq.all_off() is False
    assert daq.last_error is not None
    assert api.lines["Dev1/ctr0"].level == 0.0
    assert api.lines["Dev1/ao0"].level == 0.0
    daq.close()


def test_missing_driver_is_a_clear_error_before_anything_is_driven() -> None:
    api = FakeNidaqmx(driver_installed=False)
    daq = NiDaq(daq_config(), nidaqmx_api=api)
    with pytest.raises(DaqError, match=r"NI-DAQmx \(NI's driver\) is not installed.*ni\.com"):
        daq.start()
    assert api.lines == {}


def test_the_real_nidaqmx_without_a_driver_gives_the_same_error() -> None:
    daq = NiDaq(daq_config())  # the real package; this machine has no NI driver
    with pytest.raises(DaqError, match="not installed"):
        daq.start()
    assert daq.all_off()
    assert daq.close()


def test_missing_device_names_the_device_and_releases_the_tasks() -> None:
    api = FakeNidaqmx(devices=("Dev2",))
    daq = NiDaq(daq_config(), nidaqmx_api=api)
    with pytest.raises(
        DaqError,
        match=r"invalid\. Device Specified: Dev1 \(error -200220\).*NI MAX \(devices present: Dev2\)",
    ):
        daq.start()
    assert all(task.closed for task in api.tasks)
    with pytest.raises(DaqError, match="not started"):
        daq.write_output(0, True)


def test_analog_inputs_are_hardware_timed_and_recorded_without_gaps(tmp_path: Path) -> None:
    config = daq_config()
    api = FakeNidaqmx()
    daq = NiDaq(config, nidaqmx_api=api)
    recorder = AnalogRecorder(tmp_path, list(config.inputs))
    daq.set_input_sink(recorder)
    daq.start()
    (timing,) = api.calls("cfg_samp_clk_timing")
    assert timing[2] == 5000 and timing[3] == constants.AcquisitionType.CONTINUOUS
    (terminal_default, terminal_rse) = api.calls("add_ai_voltage_chan")
    assert terminal_rse[3]["terminal_config"] == constants.TerminalConfiguration.RSE
    assert terminal_default[3]["terminal_config"] == constants.TerminalConfiguration.DEFAULT
    assert api.calls("register_every_n_samples") == [("register_every_n_samples", "rtpose-in", 50)]
    deadline = time.monotonic() + 5
    while recorder.blocks_written < 5 and time.monotonic() < deadline:
        daq.write_output(0, recorder.blocks_written % 2 == 0)  # outputs are written meanwhile
        time.sleep(0.01)
    daq.close()
    recorder.close()
    record = read_analog(tmp_path)
    assert record.names == ["loop", "exposure"]
    assert record.rate_hz == 5000
    count = len(record.samples)
    assert count >= 250
    # the fake's samples are their own index: consecutive, nothing lost or repeated, columns intact
    assert np.array_equal(record.channel("loop"), np.arange(count, dtype=np.float32))
    assert np.array_equal(record.channel("exposure"), np.arange(count, dtype=np.float32) + 1000)
    assert recorder.gaps == 0
    assert daq.input_error is None


def test_whole_loop_with_nidaq_ends_with_outputs_low_after_an_engine_error(tmp_path: Path) -> None:
    config = _always_on_config(
        daq={"backend": "nidaq", "outputs": [{"name": "opto", "line": "Dev1/port0/line0"}]}
    )
    api = FakeNidaqmx()
    daq = NiDaq(config.daq, nidaqmx_api=api)
    overrides = PartOverrides(engine=FaultyEngine(fail_at=30), daq=daq)
    result = run(config, RunOptions(out=tmp_path / "run", seconds=20, show_status=False, overrides=overrides))
    assert result.exit_code == 1
    assert result.summary["exit_reason"] == "error in engine"
    assert result.summary["outputs_off_at_exit"] is True
    assert ("write", "rtpose-out-opto", True) in api.log  # the rule really drove the line on
    assert api.lines["Dev1/port0/line0"].level == 0.0
    assert all(task.closed for task in api.tasks)


def test_output_controller_drives_the_ni_backend_and_cuts_at_max_on() -> None:
    config = parse_config(
        {"daq": {"backend": "nidaq", "outputs": [{"name": "laser", "max_on_ms": 50, "max_duty_cycle": 1}]}}
    ).daq
    api = FakeNidaqmx()
    daq = NiDaq(config, nidaqmx_api=api)
    daq.start()
    controller = OutputController(daq, list(config.outputs))
    t0 = 1_000_000_000
    on = np.ones(1, np.bool_)
    controller.update(on, 0, t0)
    controller.update(on, 1, t0 + 10_000_000)
    assert api.lines["Dev1/port0/line0"].level == 1.0
    controller.update(on, 2, t0 + 60_000_000)  # past max_on_ms: cut
    assert api.lines["Dev1/port0/line0"].level == 0.0
    assert controller.cuts.tolist() == [1]
    assert [entry for entry in api.calls("write") if entry[1] == "rtpose-out-laser"] == [
        ("write", "rtpose-out-laser", False),  # start(): off as soon as the task exists ...
        ("write", "rtpose-out-laser", False),  # ... and again with every other output
        ("write", "rtpose-out-laser", True),
        ("write", "rtpose-out-laser", False),
    ]
    daq.close()


def test_lines_left_high_by_a_killed_run_are_driven_low_at_start() -> None:
    api = FakeNidaqmx()
    for channel in ("Dev1/port0/line3", "Dev1/ao0", "Dev1/ao1"):
        api.line(channel).set(5.0)  # what a SIGKILLed earlier run left behind
    daq = started(api)
    assert levels(api) == {"Dev1/port0/line3": 0.0, "Dev1/ao0": 0.0, "Dev1/ao1": 0.0, "Dev1/ctr0": 0.0}
    daq.close()


def test_all_off_stops_a_train_even_when_it_was_started_behind_its_back() -> None:
    api = FakeNidaqmx()
    daq = started(api)
    api.tasks[1].start()  # e.g. an interrupt between start() and the bookkeeping
    assert api.lines["Dev1/ctr0"].level == 1.0
    assert daq.all_off()
    assert not api.tasks[1].running and api.lines["Dev1/ctr0"].level == 0.0
    daq.close()


def test_a_counter_that_stays_high_after_stop_is_reported_not_confirmed() -> None:
    api = FakeNidaqmx(counter_stays_high_after_stop=True)
    daq = NiDaq(daq_config(), nidaqmx_api=api)
    daq.start()  # the idle counter is low, so start-up is confirmed
    daq.write_output(1, True)
    assert daq.all_off() is False
    assert "still high after its train was stopped" in str(daq.last_error)
    assert api.lines["Dev1/port0/line3"].level == 0.0  # every other output still went off
    daq.close()


def test_a_start_that_fails_after_touching_the_device_cannot_confirm_off() -> None:
    section = {**RIG_DAQ, "outputs": [RIG_DAQ["outputs"][0], {"name": "other", "line": "Dev9/port0/line0"}]}
    api = FakeNidaqmx()
    daq = NiDaq(parse_config({"daq": section}).daq, nidaqmx_api=api)
    with pytest.raises(DaqError, match="Dev9"):
        daq.start()
    assert api.lines["Dev1/port0/line3"].level == 0.0  # the output that was created went off at once
    assert daq.all_off() is False  # but the device was reachable and is not fully accounted for
