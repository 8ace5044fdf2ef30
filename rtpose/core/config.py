"""The rig config: TOML, validated strictly at load time.

Every model forbids unknown keys, and every error names the field (``camera.fps``) and says
what to do. Validation that needs files (the model package, frame size against the model) is in
``rtpose.config_check`` so that this module stays free of I/O beyond reading the TOML.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from rtpose.core.config_section import Section as _Section
from rtpose.core.daq_config import SWITCHED_KINDS, DaqConfig
from rtpose.core.errors import ConfigError
from rtpose.core.rules_config import (
    ROI_SHAPES,
    RULE_KINDS,
    CalibrationConfig,
    CourtshipRuleConfig,
    DistanceRuleConfig,
    FeaturesConfig,
    RoiConfig,
    RuleConfig,
    TrackerConfig,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class FramePolicy(str, Enum):
    LATEST = "latest"
    """Closed loop: process the newest frame, count the skipped ones as dropped."""
    EVERY = "every"
    """Replay and benchmarks: process every frame in order (the camera waits for the loop)."""


class SyntheticCameraConfig(_Section):
    backend: Literal["synthetic"] = "synthetic"
    """Camera backend. "synthetic": two flies with known poses (the demo's camera)."""
    fps: float = Field(default=60.0, gt=0, le=2000)
    """Frame rate the synthetic camera produces frames at, in frames per second."""
    frame_size: tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]] = (256, 256)
    """Frame height and width in pixels; must match the model's input size."""
    seed: int = 0
    """Seed of the scene: the same seed gives the same fly trajectories and noise."""
    approach_period_s: float = Field(default=8.0, gt=1.0)
    """Scripted male-approach episodes repeat with this period."""
    approach_duration_s: float = Field(default=4.0, gt=0.5)
    """How long the male stays behind the female in each scripted episode."""

    @model_validator(mode="after")
    def _episode_fits(self) -> SyntheticCameraConfig:
        if self.approach_duration_s >= self.approach_period_s - 1.0:
            raise ValueError("approach_duration_s must be at least 1 s shorter than approach_period_s")
        return self


class BaslerTriggerConfig(_Section):
    mode: Literal["free_run", "software", "hardware"] = "free_run"
    """"free_run": the camera paces itself (``fps``). "software": rtpose triggers one exposure each
    time the grab thread asks for a frame, so frames are never skipped at the camera. "hardware": an
    edge on ``line`` starts each exposure."""
    line: str = "Line1"
    """Input line of the hardware trigger (the camera's own name: "Line1", "Line3", ...)."""
    activation: Literal["rising", "falling"] = "rising"
    """Which edge of the hardware trigger signal starts an exposure."""
    delay_us: float = Field(default=0.0, ge=0)
    """Delay from the trigger edge to the start of exposure, in microseconds."""


class BaslerCameraConfig(_Section):
    backend: Literal["basler"] = "basler"
    """Camera backend. "basler": a Basler camera through pypylon (``pip install 'rtpose[basler]'``)."""
    serial_number: str | None = None
    """Serial number of the camera to open; none opens the first camera found (real before emulated)."""
    width: int | None = Field(default=None, gt=0)
    """Width of the region of interest in pixels; none uses the sensor's full width."""
    height: int | None = Field(default=None, gt=0)
    """Height of the region of interest in pixels; none uses the sensor's full height."""
    offset_x: int = Field(default=0, ge=0)
    """Left edge of the region of interest on the sensor, in pixels."""
    offset_y: int = Field(default=0, ge=0)
    """Top edge of the region of interest on the sensor, in pixels."""
    pixel_format: str = "Mono8"
    """Camera pixel format (pylon's name). Mono8 is copied as is; other formats (Mono12, RGB8, BayerRG8,
    ...) are converted on the host to the model's channels, which costs a conversion per frame."""
    exposure_us: float | None = Field(default=None, gt=0)
    """Exposure time in microseconds (auto exposure is turned off); none keeps the camera's setting."""
    gain_db: float | None = Field(default=None, ge=0)
    """Gain in dB (auto gain is turned off); none keeps the camera's setting."""
    fps: float | None = Field(default=None, gt=0)
    """Frame rate limit in frames per second (free run); none lets the camera run as fast as it can."""
    trigger: BaslerTriggerConfig = Field(default_factory=BaslerTriggerConfig)
    """How exposures are started; the grab strategy follows ``loop.frame_policy`` ("latest": pylon's
    LatestImageOnly, one buffer; "every": OneByOne, every frame in order)."""
    emulator_image_folder: str | None = None
    """pylon camera emulator only (``PYLON_CAMEMU=1``): folder of images (PNG, TIFF, BMP) it plays in name
    order instead of its test pattern, relative to the config file. For dry runs without a camera."""


class VideoCameraConfig(_Section):
    backend: Literal["video"] = "video"
    """Camera backend. "video": replays a video file (``pip install 'rtpose[video]'``)."""
    path: str
    """Video file to replay (any container and codec FFmpeg reads: MP4/H.264, AVI/MJPG, ...), relative
    to the config file."""
    realtime: bool = True
    """True: deliver frames at the video's recorded rate. False: as fast as the loop takes them."""
    loop: bool = False
    """Start again from the first frame at the end; otherwise the end of the file ends the run."""


CAMERA_BACKENDS = ("synthetic", "basler", "video")


def _camera_backend(value: object) -> str:
    """The camera section's tag; a section without ``backend`` is the synthetic camera."""
    if isinstance(value, dict):
        return str(value.get("backend", "synthetic"))
    return str(getattr(value, "backend", "synthetic"))


CameraConfig = Annotated[
    Annotated[SyntheticCameraConfig, Tag("synthetic")]
    | Annotated[BaslerCameraConfig, Tag("basler")]
    | Annotated[VideoCameraConfig, Tag("video")],
    Discriminator(
        _camera_backend,
        custom_error_type="camera_backend",
        custom_error_message="unknown camera backend",
    ),
]
"""The ``[camera]`` section: one of the backends' sections, chosen by ``backend``."""


class FastModeConfig(_Section):
    enabled: bool = False
    """Skip the centroid network on most frames: crop where the animals were on the previous frame
    (docs/decisions/0007-engine-backends.md). For high frame rates; needs a package with an
    instance-stage graph (made by this rtpose's exporter)."""
    refresh_every_frames: int = Field(default=10, ge=1, le=10_000)
    """Run the full pipeline (centroid network included) at least every this many frames."""
    min_instance_score: float = Field(default=0.3, ge=0.0, le=1.0)
    """Rerun the full pipeline on a frame where an instance's mean node score falls below this (an
    animal already below it on the last full frame: below half that frame's score)."""


class ModelConfig(_Section):
    path: str = "demo"
    """Model package folder (relative to the config file), or "demo" for the bundled demo model."""
    backend: Literal["auto", "onnxruntime", "torch", "tensorrt"] = "auto"
    """Inference backend. "auto": tensorrt when TensorRT and an NVIDIA GPU are present, else torch
    on a CUDA GPU, else onnxruntime (CPU; the demo's only need is `rtpose[onnx]`)."""
    threads: int = Field(default=1, ge=1, le=64)
    """Intra-op threads for the CPU backends; the loop, grab and side channels have their own."""
    precision: Literal["fp32", "fp16"] = "fp32"
    """fp16: the package's fp16 graph (tensorrt, strongly typed) or autocast (torch on a GPU)."""
    cuda_graph: bool = True
    """GPU backends: capture one frame's GPU work as a CUDA graph and replay it per frame."""
    onnxruntime_providers: list[Literal["cpu", "cuda", "tensorrt"]] = Field(default_factory=list)
    """ONNX Runtime execution providers in order of preference; empty: CUDA if available, then CPU."""
    onnxruntime_spinning: bool = False
    """Let ONNX Runtime's worker threads spin while idle: less wake-up latency, a busy core each."""
    gpu: int = Field(default=0, ge=0)
    """CUDA device index for the GPU backends (tensorrt, torch, ONNX Runtime's GPU providers). CUDA
    numbers GPUs fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID (nvidia-smi's order) is set."""
    plan_cache: str | None = None
    """Folder for cached TensorRT plans (relative to the config file); default ~/.cache/rtpose/tensorrt."""
    fast_mode: FastModeConfig = Field(default_factory=FastModeConfig)
    """Fast mode for high frame rates (off by default)."""


class IdentityConfig(_Section):
    method: Literal["size", "classes", "tracker"] = "size"
    """"size": animals are told apart by body length (head to abdomen), in the order of ``animals``;
    "classes": a top-down ID model's class probabilities, optimally matched (animals = class names);
    "tracker": an online tracker keeps names stable across frames (``identity.tracker``)."""
    animals: list[str] = Field(default_factory=lambda: ["female", "male"], min_length=1)
    """Animal names, largest first for the "size" method."""
    length_nodes: tuple[str, str, str] = ("head", "thorax", "abdomen")
    """Nodes whose summed segment lengths measure body size for the "size" method."""
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    """Settings of the "tracker" method."""

    @field_validator("animals")
    @classmethod
    def _unique(cls, animals: list[str]) -> list[str]:
        if len(set(animals)) != len(animals):
            raise ValueError("animal names must be unique")
        return animals


class StreamConfig(_Section):
    enabled: bool = True
    """Publish poses and events over ZeroMQ."""
    address: str = "tcp://127.0.0.1:5555"
    """ZeroMQ PUB address poses and events are published on."""
    camera_name: str = "cam0"
    """Topic suffix: poses go out on ``pose.<camera_name>``."""
    queue_size: int = Field(default=256, ge=1)
    """Frames waiting to be sent; when full, new frames are dropped and counted."""
    send_hwm: int = Field(default=1000, ge=1)
    """Messages queued per subscriber (ZeroMQ high-water mark). A subscriber that falls this far
    behind loses messages (it sees gaps in ``seq``); the others are unaffected."""
    meta_interval_s: float = Field(default=1.0, gt=0)
    """How often the ``meta.<camera_name>`` message (names of nodes, animals, rules, outputs)
    repeats; it is also sent at start and whenever a subscriber subscribes to ``meta.``."""


_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def _binds_beyond_loopback(address: str) -> bool:
    """True for a TCP address on any interface other than loopback (``tcp://*:5556`` included)."""
    if not address.startswith("tcp://"):
        return False  # ipc:// and inproc:// never leave the machine
    host = address[len("tcp://") :].rsplit(":", 1)[0]
    return host not in _LOOPBACK_HOSTS


class ControlConfig(_Section):
    enabled: bool = False
    """Accept commands (status, arm/disarm a rule, set a rule parameter, stop) on a ZeroMQ REP
    socket; see docs/control.md."""
    address: str = "tcp://127.0.0.1:5556"
    """Where the control socket binds. Anything but loopback (127.0.0.1) requires CURVE keys."""
    server_secret_key_file: str | None = None
    """CURVE: file holding the server's secret key (a ``zmq.auth`` ``.key_secret`` certificate or
    the 40-character Z85 key alone), relative to the config file. Setting it turns CURVE on."""
    client_public_keys: list[str] = Field(default_factory=list)
    """CURVE: the Z85 public keys (40 characters) of the clients allowed to connect."""
    reply_timeout_ms: float = Field(default=1000.0, gt=0)
    """How long a command may wait for the loop to apply it; past this it is cancelled and the
    reply says so (nothing changed)."""

    @model_validator(mode="after")
    def _curve_beyond_loopback(self) -> ControlConfig:
        if self.server_secret_key_file is None and self.client_public_keys:
            raise ValueError("client_public_keys needs server_secret_key_file (CURVE needs both)")
        if self.server_secret_key_file is not None and not self.client_public_keys:
            raise ValueError("server_secret_key_file needs client_public_keys (the clients allowed)")
        for key in self.client_public_keys:
            if len(key) != 40:
                raise ValueError(f"client_public_keys: {key!r} is not a 40-character Z85 key")
        if _binds_beyond_loopback(self.address) and self.server_secret_key_file is None:
            raise ValueError(
                f"address {self.address!r} is reachable from other machines: set "
                "server_secret_key_file and client_public_keys (CURVE, see docs/control.md) "
                "or bind to tcp://127.0.0.1"
            )
        return self


class RecordConfig(_Section):
    root: str = "runs"
    """Folder under which each run gets its own folder (relative to the working directory)."""
    queue_size: int = Field(default=4096, ge=16)
    """Frame records waiting to be written; overflow is counted in the summary. A killed run loses
    what is queued here (normally nothing: the recorder keeps up) on top of the last ~0.2 s."""
    video: bool = False
    """Also record the raw camera frames to ``video.mkv`` in the run folder (FFV1, lossless; needs
    ``rtpose[video]``), with ``video_frame_ids.bin`` giving each video frame's camera frame id. The
    loop never waits for it: frames the encoder cannot keep up with are left out and counted in the
    summary (``video.dropped``). Every grabbed frame is offered, including ones the loop skipped."""
    video_queue_frames: int = Field(default=64, ge=2, le=4096)
    """Frame buffers (allocated at start: this many frames of memory) waiting for the video encoder.
    At most 340 on Windows, where the pipe to the encoder holds only that many requests."""

    @field_validator("video_queue_frames")
    @classmethod
    def _fits_the_windows_pipe(cls, value: int) -> int:
        # A Windows anonymous pipe buffers ~4 KiB: 341 requests of 12 bytes. Beyond that the grab
        # thread's write would block on a slow encoder instead of the frame being counted dropped.
        if sys.platform == "win32" and value > 340:
            raise ValueError(
                "at most 340 on Windows (the pipe to the video encoder holds about that many "
                "requests; beyond it the grab thread would wait): set video_queue_frames to 340 or less"
            )
        return value


class LoopConfig(_Section):
    frame_policy: FramePolicy = FramePolicy.LATEST
    """"latest" (closed loop: newest frame, skipped frames counted) or "every" (replay: all frames)."""
    stall_timeout_ms: float = Field(default=1000.0, gt=0)
    """Watchdog: outputs are forced off if the loop makes no progress for this long."""
    status_interval_s: float = Field(default=0.5, gt=0)
    """How often the live status line is refreshed."""


class RigConfig(_Section):
    """A whole rig: camera → model → identity → rules → DAQ, plus streaming and recording."""

    camera: CameraConfig = Field(default_factory=SyntheticCameraConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    rois: list[RoiConfig] = Field(default_factory=list)
    rules: list[RuleConfig] = Field(default_factory=list)
    daq: DaqConfig = Field(default_factory=DaqConfig)
    stream: StreamConfig = Field(default_factory=StreamConfig)
    control: ControlConfig = Field(default_factory=ControlConfig)
    record: RecordConfig = Field(default_factory=RecordConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)

    @model_validator(mode="after")
    def _cross_references(self) -> RigConfig:
        output_names = [o.name for o in self.daq.outputs]
        output_kinds = {o.name: o.kind for o in self.daq.outputs}
        rule_names = [r.name for r in self.rules]
        if len(set(rule_names)) != len(rule_names):
            raise ValueError("rules: rule names must be unique")
        for index, rule in enumerate(self.rules):
            if rule.output is not None and rule.output not in output_names:
                raise ValueError(
                    f"rules.{index}.output: {rule.output!r} is not a daq output "
                    f"(known: {output_names or 'none'}); add it under [[daq.outputs]]"
                )
            if rule.output is not None and output_kinds[rule.output] not in SWITCHED_KINDS:
                raise ValueError(
                    f"rules.{index}.output: {rule.output!r} is an {output_kinds[rule.output]} output, "
                    f"which rules cannot drive; rules drive {', '.join(SWITCHED_KINDS)} outputs"
                )
            self._check_rule_animals(index, rule)
        roi_names = [roi.name for roi in self.rois]
        if len(set(roi_names)) != len(roi_names):
            raise ValueError("rois: ROI names must be unique")
        return self

    def _check_rule_animals(self, index: int, rule: RuleConfig) -> None:
        """Animal names in a rule's own fields; expressions are checked when compiled."""
        fields: dict[str, str] = {}
        if isinstance(rule, DistanceRuleConfig):
            fields = {name: getattr(rule, name).split(".")[0] for name in ("from_point", "to_point")}
        elif isinstance(rule, CourtshipRuleConfig):
            fields = {"male": rule.male, "female": rule.female}
        for field_name, animal in fields.items():
            if animal not in self.identity.animals:
                raise ValueError(
                    f"rules.{index}.{field_name}: animal {animal!r} is not in identity.animals "
                    f"{self.identity.animals}"
                )


def _format_validation_error(error: ValidationError, source: str) -> str:
    lines = [f"invalid rig config {source}:"]
    for problem in error.errors():
        parts = list(problem["loc"])
        if parts[:1] == ["camera"] and len(parts) > 1 and parts[1] in CAMERA_BACKENDS:
            del parts[1]  # the union's tag: the user wrote ``camera.fps``, not ``camera.synthetic.fps``
        if parts[:1] in (["rules"], ["rois"]) and len(parts) > 2 and parts[2] in RULE_KINDS + ROI_SHAPES:
            del parts[2]  # likewise: ``rules.0.when``, not ``rules.0.expression.when``
        location = ".".join(str(part) for part in parts)
        message = problem["msg"]
        if problem["type"] == "camera_backend":
            location = "camera.backend"
            message = f"unknown camera backend (use one of {list(CAMERA_BACKENDS)})"
            message += f" (got {_camera_backend(problem.get('input'))!r})"
        elif problem["type"] in ("rule_kind", "roi_shape"):
            key, known = ("kind", RULE_KINDS) if problem["type"] == "rule_kind" else ("shape", ROI_SHAPES)
            location = f"{location}.{key}"
            message = f"unknown {'rule kind' if key == 'kind' else 'ROI shape'} (use one of {list(known)})"
        elif problem["type"] == "extra_forbidden":
            message = "unknown key (check its spelling; see `rtpose check --help` for the fields)"
        elif problem["type"] == "missing":
            message = "required field is missing"
        else:
            message = f"{message} (got {problem.get('input')!r})"
        lines.append(f"  {location or '(top level)'}: {message}")
    return "\n".join(lines)


def parse_config(data: dict[str, object], source: str = "<dict>") -> RigConfig:
    try:
        return RigConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, source)) from None


def load_config(path: Path) -> RigConfig:
    """Read and validate a TOML rig config; raise ConfigError naming the bad field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"rig config {path} does not exist") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"rig config {path} is not valid TOML: {error}") from None
    return parse_config(data, str(path))
