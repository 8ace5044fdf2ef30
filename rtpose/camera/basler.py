"""Basler cameras through pypylon: ``pip install 'rtpose[basler]'``.

Installing for a real camera
----------------------------
pypylon's wheels bundle the pylon runtime, so ``pip install pypylon`` is enough to grab; the pylon
SDK (pylon Viewer, USB drivers) is still worth installing to set up and debug a camera.

- Linux, USB3: install the pylon SDK (.deb/.tar.gz from baslerweb.com) for its udev rules
  (``/etc/udev/rules.d/69-basler-cameras.rules``), or copy those rules by hand, so a normal user
  may open the camera; re-plug it afterwards. Raise the USB file system buffer, whose 16 MB default
  starves large or fast streams (incomplete grabs): ``echo 1000 | sudo tee
  /sys/module/usbcore/parameters/usbfs_memory_mb`` now, and ``usbcore.usbfs_memory_mb=1000`` on
  the kernel command line to keep it. Use a USB3 port on its own controller.
- Linux, GigE: jumbo frames (MTU 9000) on the NIC and a larger receive buffer
  (``sysctl net.core.rmem_max``); pylon's installer offers both.
- Windows: install the pylon SDK (it brings the USB3 and GigE filter drivers); then pip install.

Behaviour and quirks
--------------------
- Grab strategy follows ``loop.frame_policy``: "latest" uses pylon's LatestImageOnly (pylon keeps
  only the newest frame; older ones are released and counted in the result's skipped count);
  "every" uses OneByOne with a deeper buffer queue (frames are dropped only when that queue is full).
- Frame ids come from the grab result's BlockID, rebased to count from 0 at ``start()``; a gap is a
  dropped frame. The gaps and pylon's own skipped counts are both kept
  (``frames_skipped_by_id_gap``, ``frames_skipped_reported``); they agree on the emulator.
- Software trigger: ``grab_into`` itself fires the trigger (after ``WaitForFrameTriggerReady``) and
  then waits for that frame, so each call gets exactly one new exposure and no frame is ever
  skipped. There is no separate ``trigger()`` method: the grab thread is the only caller, and the
  exposure starts when the grab thread is ready for it.
- Camera timestamps: USB3 cameras count ns (``TimestampLatch``/``TimestampLatchValue``), GigE
  cameras count ticks of ``GevTimestampTickFrequency`` (``GevTimestampControlLatch``). rtpose maps
  them onto the process clock by latching the counter at start and every second (``CameraClock``);
  the latch costs one control transfer on the grab thread. Cameras without a latch (the pylon
  emulator: its TimeStamp is always 0) give ``None``.
- The copy into the loop's buffer is the only full-frame copy for Mono8: the grab result's buffer is
  read through ``GetArrayZeroCopy`` and released right after. Other pixel formats go through pylon's
  ImageFormatConverter to Mono8 or RGB8 (one extra pass).
- A failed grab (incomplete frame, removed camera) or a timeout raises CameraError with pylon's
  error code and text; the loop then stops through its safe exit path.
- Configuration errors (unsupported pixel format, ROI past the sensor, fps or exposure out of range)
  are found when the camera is opened, so ``rtpose check`` opens and closes the camera.
- Importing pypylon emits SWIG DeprecationWarnings during its extension's initialisation; under
  ``-W error`` (pytest's ``filterwarnings = error``) that crashes the interpreter (segfault), so
  rtpose imports it with DeprecationWarnings ignored.
- The pylon camera emulator (``PYLON_CAMEMU=1`` in the environment before devices are enumerated;
  pypylon reads it at enumeration, not at import): serial "0815-0000", up to 4096×4096, old GigE-style
  pixel format names (``RGB8Packed``), BlockID from 0, no timestamps, no timestamp latch. Its frame
  rate tops out near 90 fps whatever ``AcquisitionFrameRate`` says. With ``TestImageSelector = Off``,
  ``ImageFileMode = On`` and ``ImageFilename`` = a folder, it plays the folder's images (PNG, TIFF and
  BMP all work) in name order, cycling, cropped or padded to the ROI: frame n is file n mod count.
  With ``serial_number`` unset, a real camera is preferred over the emulator.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from rtpose.camera.basler_nodes import configure_acquisition, configure_roi, find_node
from rtpose.camera.basler_timing import CameraClock, FrameIdCounter
from rtpose.core.config import BaslerCameraConfig, FramePolicy
from rtpose.core.errors import CameraError, ConfigError
from rtpose.core.extras import require
from rtpose.core.types import ImageArray

EMULATOR_DEVICE_CLASS = "BaslerCamEmu"
_BUFFERS_FOR_EVERY = 32


def _pylon() -> Any:
    # pypylon's SWIG modules emit DeprecationWarnings while they initialise; where warnings are errors
    # (pytest -W error) the exception escapes the extension's init and the interpreter segfaults.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return require("pypylon.pylon", "basler", "The Basler camera backend")


def _choose_device(pylon: Any, serial_number: str | None) -> Any:
    devices = list(pylon.TlFactory.GetInstance().EnumerateDevices())
    found = [f"{d.GetModelName()} {d.GetSerialNumber()}" for d in devices]
    if serial_number is not None:
        for device in devices:
            if device.GetSerialNumber() == serial_number:
                return device
        raise ConfigError(
            f"camera.serial_number: no Basler camera {serial_number!r} (found: {found or 'none'})"
        )
    real = [d for d in devices if d.GetDeviceClass() != EMULATOR_DEVICE_CLASS]
    if not devices:
        raise CameraError(
            "no Basler camera found: check the cable, the udev rules (Linux) and that no other program "
            "holds the camera; set PYLON_CAMEMU=1 to use pylon's camera emulator"
        )
    return (real or devices)[0]


class BaslerCamera:
    """A Basler camera as a Camera (see the module docstring for behaviour and quirks)."""

    def __init__(
        self,
        config: BaslerCameraConfig,
        frame_policy: FramePolicy = FramePolicy.LATEST,
        channels: int = 1,
        config_dir: Path = Path("."),
    ) -> None:
        pylon = self._pylon = _pylon()
        from pypylon import genicam

        self._genicam = genicam
        if channels not in (1, 3):
            raise ConfigError(f"model: a Basler camera gives 1 or 3 channels, not {channels}")
        self._camera: Any = None
        self._grabbing = False
        device = _choose_device(pylon, config.serial_number)
        self.device_name = f"{device.GetModelName()} {device.GetSerialNumber()}"
        self.is_emulator = device.GetDeviceClass() == EMULATOR_DEVICE_CLASS
        try:
            self._camera = pylon.InstantCamera(pylon.TlFactory.GetInstance().CreateDevice(device))
            self._camera.Open()
        except genicam.GenericException as error:
            self.close()
            raise CameraError(f"Basler {self.device_name}: could not open the camera: {error}") from None
        try:
            self._configure(config, frame_policy, channels, config_dir)
        except BaseException:
            self.close()
            raise

    def _configure(
        self, config: BaslerCameraConfig, frame_policy: FramePolicy, channels: int, config_dir: Path
    ) -> None:
        camera, pylon = self._camera, self._pylon
        if config.emulator_image_folder is not None:
            self._use_image_folder(config_dir / config.emulator_image_folder)
        height, width = configure_roi(camera, config)
        configure_acquisition(camera, config)
        self.frame_shape = (height, width, channels)
        self.nominal_fps: float | None = config.fps
        self.software_trigger = config.trigger.mode == "software"
        self._strategy = (
            pylon.GrabStrategy_LatestImageOnly
            if frame_policy is FramePolicy.LATEST
            else pylon.GrabStrategy_OneByOne
        )
        if frame_policy is FramePolicy.EVERY:
            camera.MaxNumBuffer.Value = _BUFFERS_FOR_EVERY
        self._converter: Any = None
        if config.pixel_format != "Mono8":
            self._converter = pylon.ImageFormatConverter()
            self._converter.OutputPixelFormat = (
                pylon.PixelType_Mono8 if channels == 1 else pylon.PixelType_RGB8packed
            )
        is_gige = self._camera.GetDeviceInfo().GetDeviceClass() == "BaslerGigE"
        self._ids = FrameIdCounter(wrap=65535 if is_gige else None)
        self._clock = self._camera_clock()
        self.frames_produced = 0

    def _use_image_folder(self, folder: Path) -> None:
        if not self.is_emulator:
            raise ConfigError(
                f"camera.emulator_image_folder is set but {self.device_name} is not pylon's emulator"
            )
        if not folder.is_dir():
            raise ConfigError(f"camera.emulator_image_folder: {folder} is not a folder")
        self._camera.TestImageSelector.Value = "Off"
        self._camera.ImageFileMode.Value = "On"
        self._camera.ImageFilename.Value = str(folder.resolve())

    def _camera_clock(self) -> CameraClock | None:
        camera = self._camera
        if find_node(camera, ("TimestampLatch",)) is not None:  # USB3 / ace 2: ns

            def latch_usb() -> int:
                camera.TimestampLatch.Execute()
                return int(camera.TimestampLatchValue.Value)

            return CameraClock(latch_usb, 1e9)
        frequency = find_node(camera, ("GevTimestampTickFrequency",))
        if find_node(camera, ("GevTimestampControlLatch",)) is not None and frequency is not None:

            def latch_gige() -> int:
                camera.GevTimestampControlLatch.Execute()
                return int(camera.GevTimestampValue.Value)

            return CameraClock(latch_gige, float(frequency.Value))
        return None

    def start(self) -> None:
        if self._camera is None:
            raise CameraError(f"Basler {self.device_name}: start() after close()")
        self._ids.reset()
        self.frames_produced = 0
        try:
            if self._clock is not None:
                self._clock.sync()
            self._camera.StartGrabbing(self._strategy)
        except self._genicam.GenericException as error:
            raise CameraError(f"Basler {self.device_name}: could not start grabbing: {error}") from None
        self._grabbing = True

    @property
    def frames_skipped_by_id_gap(self) -> int:
        return self._ids.skipped_by_id_gap

    @property
    def frames_skipped_reported(self) -> int:
        return self._ids.skipped_reported

    def grab_into(self, out: ImageArray, timeout_s: float) -> tuple[int, int | None]:
        if not self._grabbing:
            raise CameraError(f"Basler {self.device_name}: grab_into called before start()")
        if out.shape != self.frame_shape:
            raise CameraError(f"Basler {self.device_name}: buffer shape {out.shape} != {self.frame_shape}")
        camera, pylon = self._camera, self._pylon
        timeout_ms = max(int(timeout_s * 1000), 1)
        try:
            if self._clock is not None:
                self._clock.sync_if_due()
            if self.software_trigger:
                if not camera.WaitForFrameTriggerReady(timeout_ms, pylon.TimeoutHandling_Return):
                    raise CameraError(
                        f"Basler {self.device_name}: not ready for a trigger within {timeout_s} s"
                    )
                camera.ExecuteSoftwareTrigger()
            result = camera.RetrieveResult(timeout_ms, pylon.TimeoutHandling_Return)
        except self._genicam.GenericException as error:
            raise CameraError(f"Basler {self.device_name}: {self._lost_or('grab failed')}: {error}") from None
        try:
            return self._read(result, out, timeout_s)
        finally:
            result.Release()

    def _lost_or(self, what: str) -> str:
        return "camera removed" if self._camera.IsCameraDeviceRemoved() else what

    def _read(self, result: Any, out: ImageArray, timeout_s: float) -> tuple[int, int | None]:
        if not result.IsValid():
            raise CameraError(f"Basler {self.device_name}: {self._lost_or(f'no frame within {timeout_s} s')}")
        if not result.GrabSucceeded():
            raise CameraError(
                f"Basler {self.device_name}: grab failed (error {result.GetErrorCode():#x}: "
                f"{result.GetErrorDescription()})"
            )
        if (result.GetHeight(), result.GetWidth()) != self.frame_shape[:2]:
            raise CameraError(
                f"Basler {self.device_name}: frame {result.GetHeight()}×{result.GetWidth()} "
                f"!= configured {self.frame_shape[0]}×{self.frame_shape[1]}"
            )
        frame_id = self._ids.next(int(result.GetBlockID()), int(result.GetNumberOfSkippedImages()))
        self.frames_produced = frame_id + 1
        if self._converter is None:
            with result.GetArrayZeroCopy() as pixels:
                np.copyto(out, pixels.reshape((*self.frame_shape[:2], 1)))
        else:
            converted = self._converter.Convert(result)
            np.copyto(out, converted.GetArray().reshape(self.frame_shape))
        if self._clock is None:
            return frame_id, None
        return frame_id, self._clock.to_process_ns(int(result.GetTimeStamp()))

    def stop(self) -> None:
        self._grabbing = False
        if self._camera is not None and self._camera.IsGrabbing():
            self._camera.StopGrabbing()

    def close(self) -> None:
        self._grabbing = False
        camera, self._camera = self._camera, None
        if camera is None:
            return
        try:
            if camera.IsGrabbing():
                camera.StopGrabbing()
            camera.Close()
        finally:
            camera.DestroyDevice()
