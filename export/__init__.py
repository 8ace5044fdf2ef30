"""rtpose's exporter: builds model packages (``model.onnx`` + ``rtpose-model.json``) from torch modules.

Needs the ``export`` extra (torch, onnx, onnxscript, tqdm). The runtime (``rtpose``) never imports
this package except lazily from the ``rtpose export`` command.
"""
