"""rtpose: low-latency closed-loop pose estimation for neuroscience rigs.

Importing ``rtpose`` is light on purpose: heavy dependencies (ONNX Runtime, torch, pypylon,
nidaqmx) are imported only by the backends that need them.
"""

__version__ = "0.1.0"
