"""The exit path cannot be interrupted by more signals, and the watchdog keeps cutting until the
DAQ confirms: the parts of "every exit path leaves the outputs off" below the session."""

from __future__ import annotations

import signal
import sys
import threading
import time

import pytest

from rtpose.loop.signals import StopRequest, stop_on_signals
from rtpose.loop.watchdog import Watchdog


@pytest.mark.skipif(sys.platform == "win32", reason="raise_signal(SIGINT) ends the process on Windows")
def test_signals_during_cleanup_are_counted_not_raised() -> None:
    stop = StopRequest()
    with stop_on_signals(stop):
        signal.raise_signal(signal.SIGINT)
        assert stop.reason == "signal SIGINT"
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)  # a second one still interrupts the loop ...
        stop.cleaning_up = True
        for _ in range(3):
            signal.raise_signal(signal.SIGINT)  # ... but never the exit path
    assert stop.signals_during_cleanup == 3


def test_the_watchdog_retries_an_unconfirmed_cut_until_confirmed() -> None:
    answers = iter([False, RuntimeError("device busy"), False, True])
    calls = []

    def cut() -> bool:
        calls.append(time.monotonic())
        answer = next(answers, True)
        if isinstance(answer, Exception):
            raise answer
        return answer

    watchdog = Watchdog(20.0, cut)
    watchdog.start()
    deadline = time.monotonic() + 5
    while len(calls) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # confirmed: no more calls during this stall
    watchdog.stop()
    assert len(calls) == 4
    assert watchdog.stalls == 1 and watchdog.errors == 1 and watchdog.confirmed_off
    assert not any(thread.name == "rtpose-watchdog" for thread in threading.enumerate())
