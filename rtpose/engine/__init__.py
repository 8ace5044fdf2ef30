"""Inference engines: run a model package (``model.onnx`` + ``rtpose-model.json``) on frames.

``load`` is the one entry point: it checks the package (format, metadata, graph hash) before any
backend is imported, so a bad package fails with a message that names the problem.
"""

from __future__ import annotations

from pathlib import Path

from rtpose.core.errors import EngineError
from rtpose.core.model_metadata import read_metadata
from rtpose.engine.protocol import Engine

DEMO_MODEL_NAME = "demo"
DEMO_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "demo"
BACKENDS = ("onnxruntime",)

__all__ = ["BACKENDS", "DEMO_MODEL_DIR", "Engine", "load", "resolve_model_path"]


def resolve_model_path(path: str | Path, base_dir: str | Path | None = None) -> Path:
    """The package folder ``path`` names: "demo" is the bundled demo model; a relative path is
    taken relative to ``base_dir`` (e.g. the rig config's folder), or the working directory."""
    if str(path) == DEMO_MODEL_NAME:
        return DEMO_MODEL_DIR
    resolved = Path(path).expanduser()
    if not resolved.is_absolute() and base_dir is not None:
        resolved = Path(base_dir) / resolved
    return resolved


def load(path: str | Path, backend: str = "onnxruntime", threads: int = 1) -> Engine:
    """Open the model package at ``path`` ("demo" for the bundled one) with ``backend``.

    Raises ModelPackageError for a missing or invalid package, EngineError for an unknown backend
    or bad settings, MissingExtraError when the backend's runtime is not installed.
    """
    if backend not in BACKENDS:
        raise EngineError(f"unknown engine backend {backend!r}; available: {', '.join(BACKENDS)}")
    package_dir = resolve_model_path(path)
    metadata = read_metadata(package_dir)
    from rtpose.engine.onnxruntime import OnnxRuntimeEngine

    return OnnxRuntimeEngine(package_dir, metadata, threads=threads)
