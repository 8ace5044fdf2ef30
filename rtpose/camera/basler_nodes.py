"""Setting a Basler camera's GenICam nodes from the config, with errors that name the config field
and the range the camera allows (read from the node's Min/Max/Inc/Symbolics).

Node names differ between camera generations: USB3 and ace 2 cameras follow SFNC
(``ExposureTime``, ``Gain``, ``AcquisitionFrameRate``, ``TriggerDelay``); older GigE ace cameras use
``...Abs`` nodes. Each setter tries the names in order and uses the first the camera has.
"""

from __future__ import annotations

from typing import Any

from rtpose.core.config import BaslerCameraConfig
from rtpose.core.errors import ConfigError


def find_node(camera: Any, names: tuple[str, ...]) -> Any:
    """The first of ``names`` the camera has and can use now, or None."""
    from pypylon import genicam

    node_map = camera.GetNodeMap()
    for name in names:
        node = node_map.GetNode(name)
        if node is not None and genicam.IsAvailable(node):
            return node
    return None


def _write(node: Any, field: str, value: object) -> None:
    from pypylon import genicam

    try:
        node.Value = value
    except genicam.GenericException as error:
        raise ConfigError(f"camera.{field} = {value!r}: the camera refused it: {error}") from None


def set_enum(camera: Any, field: str, names: tuple[str, ...], value: str) -> None:
    node = find_node(camera, names)
    if node is None:
        raise ConfigError(f"camera.{field}: this camera has no {names[0]} setting")
    allowed = list(node.Symbolics)
    if value not in allowed:
        raise ConfigError(f"camera.{field} = {value!r} is not supported by this camera (allowed: {allowed})")
    _write(node, field, value)


def set_optional_enum(camera: Any, names: tuple[str, ...], value: str) -> None:
    """Set an enumeration the camera may lack (``ExposureAuto``); silently skip when it does."""
    node = find_node(camera, names)
    if node is not None and value in list(node.Symbolics):
        node.Value = value


def set_number(camera: Any, field: str, names: tuple[str, ...], value: float, unit: str) -> None:
    """Set a numeric node, checking the camera's Min/Max (and Inc for integer nodes) first."""
    node = find_node(camera, names)
    if node is None:
        raise ConfigError(f"camera.{field}: this camera has no {' or '.join(names)} setting")
    low, high = node.Min, node.Max
    if not low <= value <= high:
        raise ConfigError(
            f"camera.{field} = {value} is out of range for this camera: allowed {low}–{high} {unit}"
        )
    if isinstance(low, int):
        step = node.Inc
        if (int(value) - low) % step:
            raise ConfigError(f"camera.{field} = {value} must be {low} plus a multiple of {step} {unit}")
        value = int(value)
    _write(node, field, value)


def _sensor_size(camera: Any) -> tuple[int, int]:
    """(width, height) of the whole sensor, read with the offsets at 0."""
    for axis in ("OffsetX", "OffsetY"):
        node = find_node(camera, (axis,))
        if node is not None:
            node.Value = node.Min
    return int(find_node(camera, ("Width",)).Max), int(find_node(camera, ("Height",)).Max)


def configure_roi(camera: Any, config: BaslerCameraConfig) -> tuple[int, int]:
    """Set the region of interest; returns its (height, width)."""
    sensor_width, sensor_height = _sensor_size(camera)
    width = config.width or sensor_width - config.offset_x
    height = config.height or sensor_height - config.offset_y
    for field, size, offset, offset_field, sensor in (
        ("width", width, config.offset_x, "offset_x", sensor_width),
        ("height", height, config.offset_y, "offset_y", sensor_height),
    ):
        if size + offset > sensor:
            raise ConfigError(
                f"camera.{field} = {size} with camera.{offset_field} = {offset} is larger than the sensor "
                f"({sensor} px): {field} + {offset_field} must be at most {sensor}"
            )
    set_number(camera, "width", ("Width",), width, "px")
    set_number(camera, "height", ("Height",), height, "px")
    set_number(camera, "offset_x", ("OffsetX",), config.offset_x, "px")
    set_number(camera, "offset_y", ("OffsetY",), config.offset_y, "px")
    return height, width


def configure_acquisition(camera: Any, config: BaslerCameraConfig) -> None:
    """Pixel format, exposure, gain, frame rate and trigger (acquisition must be stopped)."""
    set_enum(camera, "pixel_format", ("PixelFormat",), config.pixel_format)
    if config.exposure_us is not None:
        set_optional_enum(camera, ("ExposureAuto",), "Off")
        set_number(camera, "exposure_us", ("ExposureTime", "ExposureTimeAbs"), config.exposure_us, "µs")
    if config.gain_db is not None:
        set_optional_enum(camera, ("GainAuto",), "Off")
        set_number(camera, "gain_db", ("Gain", "GainAbs"), config.gain_db, "dB")
    enable = find_node(camera, ("AcquisitionFrameRateEnable", "AcquisitionFrameRateEnabled"))
    if config.fps is not None:
        if enable is not None:
            enable.Value = True
        set_number(camera, "fps", ("AcquisitionFrameRate", "AcquisitionFrameRateAbs"), config.fps, "fps")
    elif enable is not None:
        enable.Value = False
    _configure_trigger(camera, config)


def _configure_trigger(camera: Any, config: BaslerCameraConfig) -> None:
    trigger = config.trigger
    set_enum(camera, "trigger.mode", ("TriggerSelector",), "FrameStart")
    if trigger.mode == "free_run":
        set_enum(camera, "trigger.mode", ("TriggerMode",), "Off")
        return
    set_enum(camera, "trigger.mode", ("TriggerMode",), "On")
    if trigger.mode == "software":
        set_enum(camera, "trigger.mode", ("TriggerSource",), "Software")
        return
    set_enum(camera, "trigger.line", ("TriggerSource",), trigger.line)
    edge = "RisingEdge" if trigger.activation == "rising" else "FallingEdge"
    set_enum(camera, "trigger.activation", ("TriggerActivation",), edge)
    set_number(camera, "trigger.delay_us", ("TriggerDelay", "TriggerDelayAbs"), trigger.delay_us, "µs")
