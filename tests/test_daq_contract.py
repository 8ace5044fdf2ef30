"""The contract every ``Daq`` backend honours; a new backend adds its factory to ``BACKENDS``."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from fake_nidaqmx import FakeNidaqmx

from rtpose.core.clock import now_ns
from rtpose.core.daq_config import DaqConfig, DigitalOutputConfig
from rtpose.core.errors import DaqError
from rtpose.daq import Daq, open_daq
from rtpose.daq.nidaq import NiDaq
from rtpose.daq.sim import SimDaq

CONFIG = DaqConfig(
    outputs=[DigitalOutputConfig(name="laser"), DigitalOutputConfig(name="led", line="Dev1/port0/line1")]
)


def _nidaq_on_fake(config: DaqConfig) -> Daq:
    return NiDaq(config, nidaqmx_api=FakeNidaqmx())


BACKENDS: dict[str, Callable[[DaqConfig], Daq]] = {
    "sim": SimDaq,
    "open_daq(sim)": open_daq,
    "nidaq(fake)": _nidaq_on_fake,
}


@pytest.fixture(params=sorted(BACKENDS))
def daq(request: pytest.FixtureRequest) -> Daq:
    return BACKENDS[request.param](CONFIG)


def test_is_a_daq(daq: Daq) -> None:
    assert isinstance(daq, Daq)
    assert daq.output_names == ("laser", "led")
    assert daq.last_error is None


def test_write_before_start_raises(daq: Daq) -> None:
    with pytest.raises(DaqError, match="start"):
        daq.write_output(0, True)


def test_write_returns_completion_time(daq: Daq) -> None:
    daq.start()
    before = now_ns()
    t_ns = daq.write_output(1, True)
    assert before <= t_ns <= now_ns()


def test_start_twice_is_harmless(daq: Daq) -> None:
    daq.start()
    daq.write_output(0, True)
    daq.start()
    assert daq.all_off()


def test_bad_index_raises(daq: Daq) -> None:
    daq.start()
    with pytest.raises(DaqError, match="out of range"):
        daq.write_output(2, True)


def test_all_off_is_idempotent_and_confirms(daq: Daq) -> None:
    daq.start()
    daq.write_output(0, True)
    assert daq.all_off()
    assert daq.all_off()


def test_close_is_idempotent_and_final(daq: Daq) -> None:
    daq.start()
    daq.write_output(0, True)
    assert daq.close()
    assert daq.close()
    with pytest.raises(DaqError, match="closed"):
        daq.write_output(0, True)
    with pytest.raises(DaqError, match="closed"):
        daq.start()


def test_all_off_concurrent_with_writes(daq: Daq) -> None:
    daq.start()
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            while not stop.is_set():
                daq.write_output(0, True)
                daq.write_output(1, False)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        results = [daq.all_off() for _ in range(200)]
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert all(results)
    assert daq.close()
