"""The control socket: status, arm/disarm a rule, set a rule parameter, stop (docs/control.md).

A ZeroMQ REP socket served by its own thread (``ControlServer``). Commands that change the run
are handed to the hot loop through a ``Mailbox`` and applied between frames (``ControlApplier``),
so the control thread never blocks the loop and the loop never waits on a client.
"""

from rtpose.control.applier import ControlApplier
from rtpose.control.client import ControlClient, ControlReplyError
from rtpose.control.handler import ControlHandler
from rtpose.control.mailbox import Mailbox
from rtpose.control.server import ControlServer

__all__ = [
    "ControlApplier",
    "ControlClient",
    "ControlHandler",
    "ControlReplyError",
    "ControlServer",
    "Mailbox",
]
