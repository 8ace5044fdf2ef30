"""A run from start to summary: build the parts, run the loop, and take the one exit path.

Order matters for safety. Everything that can be checked is checked before the DAQ is started
(config, model package, frame size, rules against the model's nodes), so bad input never drives
an output. Once the DAQ has started, every way out — normal end, an exception in any stage, a
signal, camera loss — passes through one ``finally`` that first drives the outputs off, then
stops the camera, drains the side channels (nothing recorded is lost), and writes the summary.
"""

from __future__ import annotations

import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

import numpy as np

from rtpose import __version__
from rtpose.camera import Camera, open_camera
from rtpose.config_check import check_config
from rtpose.control.server import ControlServer
from rtpose.control.wiring import start_control, status_snapshot
from rtpose.core.clock import now_ns
from rtpose.core.config import FramePolicy, RigConfig
from rtpose.core.errors import RtposeError, StageError
from rtpose.core.frame_record import Event, frame_record_dtype
from rtpose.core.model_metadata import ModelMetadata
from rtpose.daq import Daq, open_daq
from rtpose.daq.limits import OutputController
from rtpose.engine import load as load_engine
from rtpose.engine.options import engine_options
from rtpose.engine.protocol import Engine
from rtpose.identity import Identity, build_identity
from rtpose.loop.frame_ring import FrameRing
from rtpose.loop.grabber import GrabThread
from rtpose.loop.hot_loop import HotLoop, LoopCounters
from rtpose.loop.side_channel import RecordRing, SideChannel
from rtpose.loop.signals import StopRequest, stop_on_signals
from rtpose.loop.stats import ActivityTracker
from rtpose.loop.status import StatusThread
from rtpose.loop.watchdog import Watchdog
from rtpose.record.analog import AnalogRecorder
from rtpose.record.layout import VIDEO_FILE
from rtpose.record.recorder import Recorder
from rtpose.record.video import VideoRecorder
from rtpose.run_folder import create_run_folder, write_run_header, write_summary
from rtpose.stream.publisher import PosePublisher
from rtpose.triggers.rule_set import RuleSet, build_rule_set


@dataclass
class PartOverrides:
    """Parts to use instead of the ones the config describes (tests, benchmarks, embedding)."""

    camera: Camera | None = None
    engine: Engine | None = None
    daq: Daq | None = None
    rules: RuleSet | None = None


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]
    exit_code: int
    error: str | None = None
    daq: Daq | None = field(default=None, repr=False)


@dataclass
class RunOptions:
    config_dir: Path = Path(".")
    out: Path | None = None
    seconds: float | None = None
    max_frames: int | None = None
    show_status: bool = True
    status_stream: TextIO | None = None
    overrides: PartOverrides = field(default_factory=PartOverrides)


def run(config: RigConfig, options: RunOptions) -> RunResult:
    """Run the closed loop described by ``config``; return the summary and an exit code.

    Raises RtposeError (ConfigError, ModelPackageError, ...) only for problems found before any
    output was driven; after that, errors end the run through the safe exit path and are reported
    in the result (``exit_code`` 1, ``error``) and in ``summary.json``. The exit code is also 1
    when the DAQ did not confirm its outputs off.
    """
    checked = check_config(config, options.config_dir)
    metadata = checked.metadata
    overrides = options.overrides
    opened: list[Any] = []
    try:
        engine = overrides.engine or load_engine(
            checked.model_path, config.model.backend, options=engine_options(config.model, options.config_dir)
        )
        opened.append(engine)
        rules = overrides.rules or build_rule_set(config, metadata.node_names, options.config_dir)
        identity = build_identity(config.identity, metadata)
        camera = overrides.camera or open_camera(
            config.camera, config.loop.frame_policy, metadata.input.channels, options.config_dir
        )
        opened.append(camera)
        if tuple(camera.frame_shape) != metadata.frame_shape:
            raise RtposeError(
                f"camera frames are {camera.frame_shape} but the model takes {metadata.frame_shape}"
            )
        run_dir = create_run_folder(config, options.out)
        write_run_header(run_dir, config, metadata, checked.model_path)
        video = _video_recorder(config, run_dir, camera)
        if video is not None:
            opened.append(video)
        daq = overrides.daq or open_daq(config.daq)
        watch_camera = getattr(daq, "watch_camera", None)
        if watch_camera is not None and hasattr(camera, "exposure_schedule"):
            watch_camera(camera)  # the sim DAQ's "camera_exposure" inputs follow this camera
    except BaseException:
        for part in reversed(opened):
            _quietly(part.close)
        raise
    session = _Session(config, options, run_dir, engine, rules, identity, camera, daq, metadata)
    session.video = video
    return session.execute()


def _video_recorder(config: RigConfig, run_dir: Path, camera: Camera) -> VideoRecorder | None:
    """The raw-frame video writer when ``record.video`` asks for one (started, idle until frames)."""
    if not config.record.video:
        return None
    return VideoRecorder(
        run_dir / VIDEO_FILE,
        camera.frame_shape,
        camera.nominal_fps,
        config.record.video_queue_frames,
    )


def _quietly(action: Any) -> BaseException | None:
    try:
        action()
    except Exception as error:
        return error
    return None


class _Session:
    def __init__(
        self,
        config: RigConfig,
        options: RunOptions,
        run_dir: Path,
        engine: Engine,
        rules: RuleSet,
        identity: Identity,
        camera: Camera,
        daq: Daq,
        metadata: ModelMetadata,
    ) -> None:
        self.config, self.options, self.run_dir = config, options, run_dir
        self.engine, self.rules, self.identity, self.camera, self.daq = engine, rules, identity, camera, daq
        self.metadata = metadata
        self.node_names = list(metadata.node_names)
        self.output_names = [output.name for output in config.daq.outputs]
        self.stop = StopRequest()
        self.publisher: PosePublisher | None = None
        self.control: ControlServer | None = None
        self.analog: AnalogRecorder | None = None
        self.cleanup_errors: list[str] = []
        self.video: VideoRecorder | None = None

    def execute(self) -> RunResult:
        config = self.config
        dtype = frame_record_dtype(
            self.metadata.max_instances,
            len(self.node_names),
            len(self.rules.names),
            len(self.output_names),
            len(self.metadata.class_names),
        )
        records = RecordRing(dtype, capacity=max(2 * config.record.queue_size, 1024))
        outputs = OutputController(self.daq, list(config.daq.outputs))
        watchdog = Watchdog(config.loop.stall_timeout_ms, outputs.all_off)  # thread-safe, latches off
        activity = [ActivityTracker("rule", self.rules.names), ActivityTracker("output", self.output_names)]
        ring = build_frame_ring(self.engine, self.camera, config.loop.frame_policy)
        grabber = GrabThread(self.camera, ring, tap=None if self.video is None else self.video.offer)
        channels: list[SideChannel] = []
        loop = HotLoop(
            ring, self.engine, self.identity, self.rules, outputs, records, channels, watchdog, activity
        )
        status: StatusThread | None = None
        error_text: str | None = None
        exit_reason = "completed"
        outputs_off = False
        started_wall, started_ns = time.time(), now_ns()
        with stop_on_signals(self.stop):  # covers the cleanup too: a signal there is only noted
            try:
                channels.append(
                    SideChannel("recorder", self._recorder(dtype), records, config.record.queue_size)
                )
                if config.stream.enabled:
                    channels.append(
                        SideChannel("publisher", self._publisher(), records, config.stream.queue_size)
                    )
                if config.control.enabled:
                    self._start_control(loop, outputs)
                if config.daq.inputs:
                    self.analog = AnalogRecorder(self.run_dir, list(config.daq.inputs))
                    self.daq.set_input_sink(self.analog)
                self.daq.start()
                self.camera.start()
                grabber.start()
                watchdog.start()
                if self.options.show_status:
                    status = StatusThread(
                        loop,
                        config.loop.status_interval_s,
                        self._status_extra(activity[0]),
                        self.options.status_stream,
                    )
                    status.start()
                loop.run(self._should_stop)
                if self.stop.reason is not None:
                    exit_reason = self.stop.reason
            except StageError as error:
                exit_reason, error_text = f"error in {error.stage}", str(error)
            except KeyboardInterrupt:
                exit_reason = "interrupted"
            except Exception as error:
                exit_reason, error_text = "error", f"{type(error).__name__}: {error}"
                traceback.print_exc(file=sys.stderr)
            finally:
                self.stop.cleaning_up = True  # later signals are counted, never raised in here
                outputs_off = outputs.all_off()  # first, before anything else can fail
                outputs_off = self._shutdown(
                    loop,
                    outputs,
                    watchdog,
                    status,
                    grabber,
                    ring,
                    channels,
                    activity,
                    exit_reason,
                    error_text,
                    outputs_off,
                )
        if self.cleanup_errors and error_text is None:
            error_text = "; ".join(self.cleanup_errors)
        summary = self._summary(
            loop,
            channels,
            outputs,
            watchdog,
            activity,
            grabber,
            ring,
            started_wall,
            started_ns,
            exit_reason,
            error_text,
            outputs_off,
        )
        write_summary(self.run_dir, summary)
        exit_code = 1 if error_text or not outputs_off else 0
        return RunResult(self.run_dir, summary, exit_code, error_text, self.daq)

    def _recorder(self, dtype: np.dtype) -> Recorder:
        labels = {
            "nodes": self.node_names,
            "animals": list(self.config.identity.animals),
            "rules": list(self.rules.names),
            "outputs": self.output_names,
            "classes": list(self.metadata.class_names),
        }
        return Recorder(self.run_dir, dtype, labels=labels)

    def _publisher(self) -> PosePublisher:
        stream = self.config.stream
        self.publisher = PosePublisher(
            stream.address,
            stream.camera_name,
            node_names=self.node_names,
            animal_names=self.config.identity.animals,
            rule_names=self.rules.names,
            output_names=self.output_names,
            edges=list(self.metadata.edges),
            max_instances=self.metadata.max_instances,
            class_names=self.metadata.class_names,
            send_hwm=stream.send_hwm,
            meta_interval_s=stream.meta_interval_s,
        )
        return self.publisher

    def _start_control(self, loop: HotLoop, outputs: OutputController) -> None:
        status = status_snapshot(loop.counters, self.rules, self.output_names, outputs.states, self.stop)
        self.control, loop.between_frames = start_control(
            self.config, self.options.config_dir, self.node_names, self.rules, self.stop, status
        )

    def _attempt(self, step: str, action: Any) -> Any:
        """Run one cleanup step; a failure is noted and the remaining steps still run."""
        try:
            return action()
        except BaseException as error:
            self.cleanup_errors.append(f"{step}: {type(error).__name__}: {error}")
            return None

    def _shutdown(
        self,
        loop: HotLoop,
        outputs: OutputController,
        watchdog: Watchdog,
        status: StatusThread | None,
        grabber: GrabThread,
        ring: FrameRing,
        channels: list[SideChannel],
        activity: list[ActivityTracker],
        exit_reason: str,
        error_text: str | None,
        outputs_off: bool,
    ) -> bool:
        """Every step after outputs-off, each guarded; returns the final outputs-off state."""
        self._attempt("watchdog", watchdog.stop)
        if self.control is not None:
            self._attempt("control", self.control.stop)
        if status is not None:
            self._attempt("status", status.stop)
        grab_stopped = self._attempt("grab thread", grabber.stop)
        if grab_stopped:
            self._attempt("camera stop", self.camera.stop)
        else:
            self.cleanup_errors.append("camera: the grab thread did not return; camera left open")
        if grab_stopped:
            self._attempt("camera close", self.camera.close)
        if self.video is not None and grab_stopped:  # no more offers: finish the file
            self._attempt("video", self.video.close)
        for event in outputs.drain_events():
            loop.dispatch_event(event, block_s=1.0)
        if error_text:
            loop.dispatch_event(
                Event("error", exit_reason, loop.counters.last_frame_id, now_ns(), 1.0, error_text),
                block_s=1.0,
            )
        end_ns = loop.counters.last_frame_ns or now_ns()
        activity[0].finish(loop.counters.last_rule_time_ns or end_ns)  # rule events are on rule time
        for tracker in activity[1:]:
            tracker.finish(end_ns)
        for channel in channels:
            if not self._attempt(f"{channel.name} close", channel.close):
                self.cleanup_errors.append(f"{channel.name}: {channel.error}")
        closed_off = self._attempt("daq close", self.daq.close)
        if self.analog is not None:
            self._attempt("analog inputs close", self.analog.close)
        engine_frees_ring = ring.external_buffers and getattr(
            self.engine, "frees_frame_buffers_on_close", False
        )
        if grab_stopped or not engine_frees_ring:
            self._attempt("engine close", self.engine.close)
        else:  # closing would free the ring's pinned buffers, which the stuck grab thread may still write
            self.cleanup_errors.append("engine: left open, its frame buffers are still the grab thread's")
        return bool(outputs_off and closed_off)

    def _analog_summary(self) -> dict[str, Any] | None:
        if self.analog is None:
            return None
        return {
            **self.analog.stats(),
            "rate_hz": self.config.daq.input_rate_hz,
            "error": _text(getattr(self.daq, "input_error", None)),
        }

    def _should_stop(self, counters: LoopCounters) -> bool:
        if self.stop.requested:
            return True
        if self.options.max_frames is not None and counters.frames_processed >= self.options.max_frames:
            return True
        if self.options.seconds is not None and counters.started_ns:
            return now_ns() - counters.started_ns >= self.options.seconds * 1e9
        return False

    def _status_extra(self, activity: ActivityTracker) -> Any:
        names = self.rules.names

        def extra() -> str:
            return (
                " ".join(f"{name}:{'ON' if activity.is_active(name) else 'off'}" for name in names)
                or "no rules"
            )

        return extra

    def _summary(
        self,
        loop: HotLoop,
        channels: list[SideChannel],
        outputs: OutputController,
        watchdog: Watchdog,
        activity: list[ActivityTracker],
        grabber: GrabThread,
        ring: FrameRing,
        started_wall: float,
        started_ns: int,
        exit_reason: str,
        error_text: str | None,
        outputs_off: bool,
    ) -> dict[str, Any]:
        counters = loop.counters
        rule_activity, output_activity = activity[0].summary(), activity[1].summary()
        duration_s = ((counters.last_frame_ns or now_ns()) - (counters.started_ns or started_ns)) / 1e9
        frames_produced = getattr(self.camera, "frames_produced", None)
        output_summary = {
            name: {**output_activity[name], "limit_cuts": int(outputs.cuts[index])}
            for index, name in enumerate(self.output_names)
        }
        channel_summary: dict[str, dict[str, Any]] = {
            c.name: {"handled": c.handled, "dropped": c.dropped, "error": _text(c.error)} for c in channels
        }
        if "recorder" in channel_summary:
            recorder = next(c for c in channels if c.name == "recorder").consumer
            channel_summary["recorder"]["max_lag_ms"] = round(getattr(recorder, "max_lag_ms", 0.0), 3)
        return {
            "rtpose_version": __version__,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started_wall)),
            "host": {"platform": platform.platform(), "python": platform.python_version()},
            "exit_reason": exit_reason,
            "error": error_text,
            "frames_processed": counters.frames_processed,
            "frames_dropped": counters.frames_dropped,
            "drops": {
                "explained": (
                    "frames_dropped counts frame-id gaps seen by the loop (frames it never processed). "
                    "They are frames the camera produced while the loop was busy: the grab thread "
                    "replaced them with newer ones (skipped_in_ring) or the camera overwrote them "
                    "before the grab thread read them (skipped_by_camera). The closed-loop policy "
                    "'latest' always processes the newest frame, so drops are expected whenever the "
                    "loop is slower than the camera."
                ),
                "frames_produced_by_camera": frames_produced,
                "frames_grabbed": grabber.frames_grabbed,
                "skipped_in_ring": ring.skipped_in_ring,
                "left_in_ring_at_stop": ring.frames_waiting,
                "skipped_by_camera": None
                if frames_produced is None
                else max(frames_produced - grabber.frames_grabbed, 0),
            },
            "frame_policy": self.config.loop.frame_policy.value,
            "duration_s": round(duration_s, 4),
            "fps": round(counters.frames_processed / duration_s, 3) if duration_s > 0 else 0.0,
            "latency_ms": loop.timestamps.latency_summary(),
            "rules": rule_activity,
            "outputs": output_summary,
            "side_channels": channel_summary,
            "video": None if self.video is None else self.video.stats(),
            "stream": None if self.publisher is None else self.publisher.stats(),
            "control": None if self.control is None else self.control.stats(),
            "analog_inputs": self._analog_summary(),
            "watchdog_stalls": watchdog.stalls,
            "cleanup_errors": self.cleanup_errors,
            "outputs_off_at_exit": bool(outputs_off),
        }


def build_frame_ring(engine: Engine, camera: Camera, policy: FramePolicy) -> FrameRing:
    """The frame ring, in the engine's pinned memory where a GPU engine offers it for the camera's
    frames (``pinned_frame_buffer``); in ordinary memory, with a warning, where that fails."""
    pinned = getattr(engine, "pinned_frame_buffer", None)
    if pinned is None or tuple(engine.metadata.frame_shape) != tuple(camera.frame_shape):
        return FrameRing(camera.frame_shape, policy)
    try:
        return FrameRing(camera.frame_shape, policy, allocate=cast("Callable[[], np.ndarray]", pinned))
    except Exception as error:  # e.g. out of page-locked memory: the run works, uploads are slower
        print(
            f"rtpose: frame buffers in ordinary memory, not the engine's pinned memory ({error}); "
            f"frame uploads are slower",
            file=sys.stderr,
        )
        return FrameRing(camera.frame_shape, policy)


def _text(error: BaseException | None) -> str | None:
    return None if error is None else f"{type(error).__name__}: {error}"
