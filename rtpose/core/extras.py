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
        raise MissingExtraError(
            f"{purpose} needs the Python package '{module}', which is not installed. "
            f"Install it with: pip install 'rtpose[{extra}]'"
        ) from error
