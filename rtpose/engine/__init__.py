"""Inference engines: run a model package (``model.onnx`` + ``rtpose-model.json``) on frames.

``load`` is the one entry point: it checks the package (format, metadata, graph hash) before any
backend is imported, so a bad package fails with a message that names the problem.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from rtpose.core.model_metadata import read_metadata
from rtpose.engine.options import BACKENDS, EngineOptions, choose_backend
from rtpose.engine.protocol import Engine

DEMO_MODEL_NAME = "demo"
DEMO_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "demo"

__all__ = ["BACKENDS", "DEMO_MODEL_DIR", "Engine", "EngineOptions", "load", "resolve_model_path"]


def resolve_model_path(path: str | Path, base_dir: str | Path | None = None) -> Path:
    """The package folder ``path`` names: "demo" is the bundled demo model; a relative path is
    taken relative to ``base_dir`` (e.g. the rig config's folder), or the working directory."""
    if str(path) == DEMO_MODEL_NAME:
        return DEMO_MODEL_DIR
    resolved = Path(path).expanduser()
    if not resolved.is_absolute() and base_dir is not None:
        resolved = Path(base_dir) / resolved
    return resolved


def load(
    path: str | Path,
    backend: str = "onnxruntime",
    threads: int | None = None,
    options: EngineOptions | None = None,
) -> Engine:
    """Open the model package at ``path`` ("demo" for the bundled one) with ``backend``
    ("onnxruntime", "torch", "tensorrt", or "auto": see ``choose_backend``).

    ``threads`` overrides ``options.threads``. With ``options.fast_mode.enabled`` the engine is a
    FastModeEngine around the backend. Raises ModelPackageError for a missing or invalid package,
    EngineError for an unknown backend or bad settings, MissingExtraError when the backend's
    runtime is not installed.
    """
    chosen = choose_backend(backend)
    options = options or EngineOptions()
    if threads is not None and threads != options.threads:
        options = replace(options, threads=threads)
    package_dir = resolve_model_path(path)
    metadata = read_metadata(package_dir)
    fast = options.fast_mode.enabled
    engine: Any
    if chosen == "onnxruntime":
        from rtpose.engine.onnxruntime import OnnxRuntimeEngine

        engine = OnnxRuntimeEngine(package_dir, metadata, options.threads, options, instance_stage=fast)
    elif chosen == "torch":
        from rtpose.engine.torch import TorchEngine

        engine = TorchEngine(package_dir, metadata, options, instance_stage=fast)
    else:
        from rtpose.engine.tensorrt import TensorRtEngine

        engine = TensorRtEngine(package_dir, metadata, options, instance_stage=fast)
    if not fast:
        result: Engine = engine
        return result
    from rtpose.engine.fast_mode import FastModeEngine

    return FastModeEngine(engine, options.fast_mode)
