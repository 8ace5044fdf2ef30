from __future__ import annotations

import pytest

from rtpose.core.daq_config import DaqConfig, DigitalOutputConfig
from rtpose.core.errors import DaqError
from rtpose.daq.sim import SimDaq, SimWrite

CONFIG = DaqConfig(
    outputs=[DigitalOutputConfig(name="laser", line="Dev1/port0/line3"), DigitalOutputConfig(name="led")]
)


def test_start_drives_every_output_off_and_records_it() -> None:
    daq = SimDaq(CONFIG)
    assert daq.writes == []
    daq.start()
    assert [(w.name, w.value) for w in daq.writes] == [("laser", False), ("led", False)]
    assert daq.started


def test_records_every_write_in_order_with_time() -> None:
    daq = SimDaq(CONFIG)
    daq.start()
    t1 = daq.write_output(0, True)
    t2 = daq.write_output(1, True)
    t3 = daq.write_output(0, False)
    assert daq.writes[2:] == [
        SimWrite(t1, "laser", True),
        SimWrite(t2, "led", True),
        SimWrite(t3, "laser", False),
    ]
    assert t1 <= t2 <= t3
    assert not daq.is_on("laser")
    assert daq.is_on("led")


def test_all_off_writes_every_line() -> None:
    daq = SimDaq(CONFIG)
    daq.start()
    daq.write_output(1, True)
    count = len(daq.writes)
    assert daq.all_off()
    assert [(w.name, w.value) for w in daq.writes[count:]] == [("laser", False), ("led", False)]
    assert not daq.is_on("led")


def test_is_on_unknown_name() -> None:
    with pytest.raises(KeyError, match="no output named 'nope'"):
        SimDaq(CONFIG).is_on("nope")


def test_line_of_reports_the_configured_line() -> None:
    assert SimDaq(CONFIG).line_of("laser") == "Dev1/port0/line3"


def test_fail_on_write_fails_exactly_that_write() -> None:
    daq = SimDaq(CONFIG, fail_on_write=2)
    daq.start()
    daq.write_output(0, True)
    with pytest.raises(DaqError, match="simulated write failure on output 'led'"):
        daq.write_output(1, True)
    assert not daq.is_on("led")
    daq.write_output(1, True)
    assert daq.is_on("led")
    assert daq.all_off()


def test_fail_on_write_must_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        SimDaq(CONFIG, fail_on_write=0)


def test_fail_all_off_returns_false_and_keeps_the_error() -> None:
    daq = SimDaq(CONFIG, fail_all_off=True)
    daq.start()
    daq.write_output(0, True)
    assert daq.all_off() is False
    assert isinstance(daq.last_error, DaqError)
    assert daq.close() is False
    assert daq.closed


def test_all_off_before_start_reports_lines_off() -> None:
    daq = SimDaq(CONFIG)
    assert daq.all_off()
    assert daq.writes == []


def test_close_drives_off_before_release() -> None:
    daq = SimDaq(CONFIG)
    daq.start()
    daq.write_output(0, True)
    assert daq.close()
    assert daq.writes[-2:][0].value is False
    assert not daq.is_on("laser")
