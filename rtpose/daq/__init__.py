"""DAQ layer: the ``Daq`` Protocol, its backends (``sim``, ``nidaq``) and the safety bounds.

``open_daq(config)`` picks the backend named in the rig config. Backends are imported lazily so
that importing rtpose never pulls in a vendor SDK.
"""

from __future__ import annotations

from rtpose.core.daq_config import DaqConfig
from rtpose.core.errors import DaqError
from rtpose.daq.limits import OutputController
from rtpose.daq.protocol import Daq

__all__ = ["Daq", "OutputController", "open_daq"]


def open_daq(config: DaqConfig) -> Daq:
    """Create (but do not start) the DAQ backend ``config.backend`` names."""
    if config.backend == "sim":
        from rtpose.daq.sim import SimDaq

        return SimDaq(config)
    if config.backend == "nidaq":
        from rtpose.daq.nidaq import NiDaq

        return NiDaq(config)
    raise DaqError(f"daq.backend {config.backend!r} is not available (known: 'sim', 'nidaq')")
