"""Lazy imports of optional dependencies with an error that says which extra installs them."""

from __future__ import annotations

import importlib
from types import ModuleType

from rtpose.core.errors import MissingExtraError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise MissingExtraError naming ``pip install 'rtpose[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        install = f"pip install 'rtpose[{extra}]'"
        if module.split(".")[0] == "torch":  # the CPU wheel first, or pip pulls a CUDA build
            install = f"pip install torch==2.13.0 && {install}"
        raise MissingExtraError(
            f"{purpose} needs the Python package '{module}', which is not installed. "
            f"Install it with: {install}"
        ) from error
