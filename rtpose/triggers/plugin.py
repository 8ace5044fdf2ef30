"""Python plugin rules: a condition written in Python, for what the rule language cannot say.

Contract (also in docs/rules.md). ``function = "package.module:make_condition"`` or
``"plugins/rules.py:make_condition"`` (a file, relative to the config file) names a factory. It
is called once, when the rule set is built (``rtpose check`` calls it too), with a
``PluginSetup``, and returns the per-frame condition: a callable ``(poses, t_ns) -> bool | None``.

- ``poses`` is the frame's ``rtpose.core.types.Poses`` with identities assigned
  (``poses.identities[slot]`` indexes ``setup.animals``). Its arrays are reused for later frames:
  read them, never keep references to them or write to them.
- ``t_ns`` is the frame timestamp (camera time when the camera has one), the clock every timing
  setting uses; compute speeds and durations from it, not from the wall clock.
- Return True/False, or None when the condition cannot be evaluated (the rule's ``missing``
  setting decides). The rule's timing (min_duration_ms, release_ms, refractory_ms, max_on_ms)
  applies on top, as for any rule.
- It runs in the hot loop, on every processed frame: keep it to microseconds, never block, no
  I/O. An exception ends the run through the safe exit path (outputs off).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtpose.core.errors import ConfigError
from rtpose.core.rules_config import PluginRuleConfig
from rtpose.core.types import Poses

PluginCondition = Callable[[Poses, int], "bool | None"]


@dataclass(frozen=True)
class PluginSetup:
    rule_name: str
    animals: tuple[str, ...]
    node_names: tuple[str, ...]
    px_per_mm: float | None
    options: dict[str, Any] = field(default_factory=dict)
    config_dir: Path = Path(".")


class PluginConditionAdapter:
    """The plugin's callable as a ``Condition``; any truthy result counts as True."""

    def __init__(self, function: PluginCondition) -> None:
        self._function = function

    def evaluate(self, poses: Poses, t_ns: int) -> bool | None:
        result = self._function(poses, t_ns)
        return None if result is None else bool(result)


def load_plugin_condition(
    config: PluginRuleConfig, setup: PluginSetup, field_name: str
) -> PluginConditionAdapter:
    factory = _load_factory(config.function, setup.config_dir, field_name)
    try:
        condition = factory(setup)
    except Exception as error:
        raise ConfigError(
            f"{field_name}: the factory {config.function} raised {type(error).__name__}: {error}"
        ) from None
    if not callable(condition):
        raise ConfigError(
            f"{field_name}: the factory {config.function} returned {type(condition).__name__}, not a "
            f"callable (poses, t_ns) -> bool | None"
        )
    return PluginConditionAdapter(condition)


def _load_factory(spec: str, config_dir: Path, field_name: str) -> Callable[[PluginSetup], Any]:
    location, _, attribute = spec.rpartition(":")
    try:
        if location.endswith(".py") or "/" in location or "\\" in location:
            module = _module_from_file(config_dir / location, field_name)
        else:
            module = importlib.import_module(location)
    except ConfigError:
        raise
    except Exception as error:
        raise ConfigError(
            f"{field_name}: cannot import {location!r}: {type(error).__name__}: {error}"
        ) from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ConfigError(f"{field_name}: {location!r} has no callable {attribute!r}")
    return factory  # type: ignore[no-any-return]


def _module_from_file(path: Path, field_name: str) -> Any:
    if not path.is_file():
        raise ConfigError(
            f"{field_name}: plugin file {path} does not exist (paths are relative to the config file)"
        )
    spec = importlib.util.spec_from_file_location(f"rtpose_plugin_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{field_name}: cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
