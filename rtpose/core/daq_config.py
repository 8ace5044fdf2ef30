"""The ``[daq]`` section of the rig config: outputs (four kinds), analog inputs, the sim DAQ's
signal model, and the stimulation safety bounds.

Channel names are NI-DAQmx physical channel names (``Dev1/port0/line0``, ``Dev1/ao0``,
``Dev1/ctr0``, ``Dev1/ai0``); the sim DAQ records them and drives nothing. The safety bounds have
conservative defaults (10 s maximum on-time, 50 % duty cycle over a minute) so that a config that
forgets them still cannot leave a light on.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from rtpose.core.config_section import Section as _Section

OUTPUT_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
OUTPUT_KINDS = ("digital", "pulse_train", "analog_level", "analog_feature", "frame_toggle")
SWITCHED_KINDS = ("digital", "pulse_train", "analog_level")
CAMERA_EXPOSURE = "camera_exposure"
"""The sim source name of the camera's exposure-active signal."""


class _SwitchedOutputConfig(_Section):
    """An output that rules switch on and off, with the safety bounds every such output has."""

    name: str = Field(pattern=OUTPUT_NAME_PATTERN)
    """Output name, referred to by rules."""
    max_on_ms: float = Field(default=10_000.0, gt=0)
    """Safety bound: the output is forced off after being on this long."""
    max_duty_cycle: float = Field(default=0.5, gt=0, le=1)
    """Safety bound: on-time over ``duty_window_ms`` is capped at this fraction."""
    duty_window_ms: float = Field(default=60_000.0, gt=0)
    """Window over which the duty cycle is measured."""


class DigitalOutputConfig(_SwitchedOutputConfig):
    kind: Literal["digital"] = "digital"
    """Output kind (the default). "digital": one line, high while a rule holds it on."""
    line: str = "Dev1/port0/line0"
    """Physical line (NI-DAQmx naming); the sim DAQ only records it."""


class PulseTrainOutputConfig(_SwitchedOutputConfig):
    kind: Literal["pulse_train"]
    """"pulse_train": a hardware-timed pulse train on a counter output, started on the rule's
    rising edge and stopped on release. The train is always finite (at most ``max_on_ms`` long),
    so a process that dies mid-train cannot leave the light pulsing."""
    counter: str = "Dev1/ctr0"
    """Counter channel (NI-DAQmx naming), e.g. ``Dev1/ctr0``."""
    terminal: str | None = None
    """Output terminal for the pulses (e.g. ``/Dev1/PFI12``); none: the counter's default."""
    frequency_hz: float = Field(gt=0, le=1_000_000)
    """Pulse rate."""
    pulse_width_ms: float = Field(gt=0)
    """High time of each pulse; must be shorter than the period."""
    pulse_count: int | None = Field(default=None, ge=1)
    """Pulses per train; none: ``duration_ms`` decides, or the train runs until release (at most
    ``max_on_ms``)."""
    duration_ms: float | None = Field(default=None, gt=0)
    """Train length; none: ``pulse_count`` decides, or the train runs until release (at most
    ``max_on_ms``)."""

    @model_validator(mode="after")
    def _check_train(self) -> PulseTrainOutputConfig:
        period_ms = 1000.0 / self.frequency_hz
        if self.pulse_width_ms >= period_ms:
            raise ValueError(
                f"pulse_width_ms {self.pulse_width_ms:g} must be shorter than the period "
                f"{period_ms:g} ms at frequency_hz {self.frequency_hz:g}"
            )
        if self.pulse_count is not None and self.duration_ms is not None:
            raise ValueError("give pulse_count or duration_ms, not both")
        if self.pulse_width_ms > self.max_on_ms:
            raise ValueError(
                f"pulse_width_ms {self.pulse_width_ms:g} is longer than max_on_ms {self.max_on_ms:g}: "
                "a single hardware pulse would outlast the safety bound"
            )
        return self

    @property
    def pulses_per_train(self) -> int:
        """Pulses the hardware generates per start: the requested count, bounded by ``max_on_ms``
        (a train held until release is as long as ``max_on_ms`` allows)."""
        limit = max(int(self.max_on_ms * self.frequency_hz / 1000.0), 1)
        if self.pulse_count is not None:
            return min(self.pulse_count, limit)
        if self.duration_ms is not None:
            return min(max(round(self.duration_ms * self.frequency_hz / 1000.0), 1), limit)
        return limit


class _AnalogRange(_Section):
    channel: str = "Dev1/ao0"
    """Analog output channel (NI-DAQmx naming), e.g. ``Dev1/ao0``."""
    min_volts: float = Field(default=0.0, ge=-10, le=10)
    """Lowest voltage the output may take; writes are clamped to the range."""
    max_volts: float = Field(default=5.0, ge=-10, le=10)
    """Highest voltage the output may take; writes are clamped to the range."""
    off_volts: float = 0.0
    """The safe state: written at start, on release and on every exit path."""

    @model_validator(mode="after")
    def _check_range(self) -> _AnalogRange:
        if self.min_volts >= self.max_volts:
            raise ValueError(f"min_volts {self.min_volts:g} must be below max_volts {self.max_volts:g}")
        if not self.min_volts <= self.off_volts <= self.max_volts:
            raise ValueError(
                f"off_volts {self.off_volts:g} is outside [{self.min_volts:g}, {self.max_volts:g}]"
            )
        return self


class AnalogLevelOutputConfig(_SwitchedOutputConfig, _AnalogRange):
    kind: Literal["analog_level"]
    """"analog_level": an analog output at ``on_volts`` while a rule holds it on, ``off_volts``
    otherwise (e.g. an LED driver's intensity input)."""
    on_volts: float
    """The level while on; must lie in [min_volts, max_volts]."""

    @model_validator(mode="after")
    def _check_level(self) -> AnalogLevelOutputConfig:
        if not self.min_volts <= self.on_volts <= self.max_volts:
            raise ValueError(
                f"on_volts {self.on_volts:g} is outside [{self.min_volts:g}, {self.max_volts:g}]"
            )
        return self


class AnalogFeatureOutputConfig(_AnalogRange):
    name: str = Field(pattern=OUTPUT_NAME_PATTERN)
    """Output name (rules cannot drive it: its value follows ``feature`` on every frame)."""
    kind: Literal["analog_feature"]
    """"analog_feature": an analog output following a pose feature on every frame, for latency
    loopback and monitoring (not for stimulation: use a rule-driven output for that)."""
    feature: str = Field(min_length=1)
    """A numeric expression in the rule language, e.g. ``distance(male.thorax, female.thorax)``
    (docs/rules.md), evaluated in px, degrees or px/s; not measurable (an animal missing) → off_volts."""
    volts_per_unit: float = 0.01
    """Volts per unit of the feature (px, deg, px/s, or a plain number)."""
    offset_volts: float = 0.0
    """Volts when the feature is 0."""


class FrameToggleOutputConfig(_Section):
    name: str = Field(pattern=OUTPUT_NAME_PATTERN)
    """Output name (rules cannot drive it: it flips on every processed frame)."""
    kind: Literal["frame_toggle"]
    """"frame_toggle": a digital line that changes state once per processed frame, written at the
    point where rule-driven outputs are written: wire it to an analog input to measure the
    loop's latency with ``rtpose bench loopback`` (edge method). Not for stimulation."""
    line: str = "Dev1/port0/line7"
    """Physical line (NI-DAQmx naming)."""


def _output_kind(value: object) -> str:
    """An output's tag; an output without ``kind`` is a digital line."""
    if isinstance(value, dict):
        return str(value.get("kind", "digital"))
    return str(getattr(value, "kind", "digital"))


OutputConfig = Annotated[
    Annotated[DigitalOutputConfig, Tag("digital")]
    | Annotated[PulseTrainOutputConfig, Tag("pulse_train")]
    | Annotated[AnalogLevelOutputConfig, Tag("analog_level")]
    | Annotated[AnalogFeatureOutputConfig, Tag("analog_feature")]
    | Annotated[FrameToggleOutputConfig, Tag("frame_toggle")],
    Discriminator(
        _output_kind,
        custom_error_type="output_kind",
        custom_error_message=f"unknown output kind (known: {', '.join(OUTPUT_KINDS)})",
    ),
]
SwitchedOutputConfig = DigitalOutputConfig | PulseTrainOutputConfig | AnalogLevelOutputConfig


class AnalogInputConfig(_Section):
    name: str = Field(pattern=OUTPUT_NAME_PATTERN)
    """Input name, used in the run folder's ``analog.json`` and in reports."""
    channel: str = "Dev1/ai0"
    """Analog input channel (NI-DAQmx naming), e.g. ``Dev1/ai0``."""
    terminal: Literal["default", "rse", "nrse", "differential", "pseudo_differential"] = "default"
    """Input terminal configuration (NI-DAQmx)."""
    min_volts: float = Field(default=-10.0, ge=-10, le=10)
    """Lowest expected voltage (sets the input range)."""
    max_volts: float = Field(default=10.0, ge=-10, le=10)
    """Highest expected voltage (sets the input range)."""
    sim_source: str | None = None
    """Sim DAQ only: what this channel sees — an output's name (its loopback wire) or
    "camera_exposure" (the camera's exposure-active line); none: noise around 0 V."""


class SimSignalConfig(_Section):
    """How the sim DAQ's analog inputs see its outputs and the camera: the loopback wires."""

    output_latency_ms: float = Field(default=0.0, ge=0)
    """Delay from an output write to the input seeing it (driver, cable and light source)."""
    output_jitter_ms: float = Field(default=0.0, ge=0)
    """Standard deviation of a normal jitter added to that delay, per write (never below 0)."""
    noise_volts: float = Field(default=0.0, ge=0)
    """Standard deviation of the normal noise on every input sample."""
    high_volts: float = Field(default=5.0, gt=0)
    """Level of a digital output and of the exposure signal when high."""
    exposure_ms: float = Field(default=2.0, gt=0)
    """How long the camera's exposure-active signal is high per frame."""
    seed: int = 0
    """Seed of the jitter and noise generator (runs are reproducible)."""


class DaqConfig(_Section):
    backend: Literal["sim", "nidaq"] = "sim"
    """"sim": simulated DAQ that records every write with its timestamp (and models the analog
    inputs, see ``sim``); "nidaq": a National Instruments device through NI-DAQmx
    (``pip install 'rtpose[nidaq]'`` and NI's driver)."""
    outputs: list[OutputConfig] = Field(default_factory=list)
    """Outputs, each a ``[[daq.outputs]]`` table with a ``kind`` (default "digital")."""
    inputs: list[AnalogInputConfig] = Field(default_factory=list)
    """Analog inputs recorded continuously into the run folder (``analog.bin``)."""
    input_rate_hz: float = Field(default=10_000.0, gt=0, le=2_000_000)
    """Sample rate of the analog inputs, per channel (hardware-timed)."""
    input_block_samples: int = Field(default=100, ge=1)
    """Samples per channel handed over per input callback (at 10 kHz, 100 = every 10 ms)."""
    sim: SimSignalConfig = Field(default_factory=SimSignalConfig)
    """The sim DAQ's loopback model (ignored by "nidaq")."""

    @model_validator(mode="after")
    def _check_names(self) -> DaqConfig:
        names = [output.name for output in self.outputs]
        if len(set(names)) != len(names):
            raise ValueError("output names must be unique")
        input_names = [channel.name for channel in self.inputs]
        if len(set(input_names)) != len(input_names):
            raise ValueError("input names must be unique")
        known = [*names, CAMERA_EXPOSURE]
        for index, channel in enumerate(self.inputs):
            if channel.sim_source is not None and channel.sim_source not in known:
                raise ValueError(
                    f"inputs.{index}.sim_source: {channel.sim_source!r} is neither an output nor "
                    f"{CAMERA_EXPOSURE!r} (known: {known})"
                )
            if channel.min_volts >= channel.max_volts:
                raise ValueError(f"inputs.{index}: min_volts must be below max_volts")
        return self
