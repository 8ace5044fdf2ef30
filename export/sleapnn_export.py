"""Export a sleap-nn top-down pair (centroid + centered-instance or top-down ID) to a model package.

What the exported graph does is fixed at export time, so the choices that sleap-nn makes per call
are made here, said out loud (``report``) and recorded in the package's provenance:

- Frame size. sleap-nn resizes every frame to fit the training size (``max_height`` ×
  ``max_width`` of the configs), aspect kept, zero-padded bottom/right. The package takes the rig's
  frame size (``frame_size``, default the training size); when it differs, the graph rescales by
  ``s = min(mh/H, mw/W)`` exactly as sleap-nn does, and the message says what resolution the
  network then sees.
- Channels. The package takes what the camera gives (``channels``, default what the model was
  trained on); sleap-nn's ensure_grayscale / ensure_rgb coercion is done in the graph.
- K = ``max_instances`` slots (default: the number of classes of an ID model; required otherwise).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.package import ProvenanceValue, write_package
from export.sleapnn import SleapNnModel, load_topdown_pair
from export.sleapnn_config import SleapNnModelError
from export.topdown import TopDownConfig, TopDownModel
from export.unet import UNet
from rtpose.core.model_metadata import ModelMetadata

Report = Callable[[str], None]
UNKNOWN = "unknown"


@dataclass(frozen=True)
class SleapNnExportOptions:
    """The user's choices for one export (``rtpose export sleap-nn`` options)."""

    max_instances: int | None = None
    frame_size: tuple[int, int] | None = None  # (height, width) of the rig's frames
    channels: int | None = None  # 1 or 3: what the rig's camera gives
    fp16: bool = False
    name: str | None = None
    runtime_variants: bool = True  # instance.onnx and the torch programs (--onnx-only: False)

    def __post_init__(self) -> None:
        if self.max_instances is not None and self.max_instances < 1:
            raise SleapNnModelError(f"--max-instances must be at least 1, got {self.max_instances}")
        if self.frame_size is not None and min(self.frame_size) < 1:
            raise SleapNnModelError(f"--frame-size must be positive, got {self.frame_size}")
        if self.channels not in (None, 1, 3):
            raise SleapNnModelError(f"--channels must be 1 or 3, got {self.channels}")


def export_sleapnn(
    centroid_dir: Path,
    instance_dir: Path,
    out_dir: Path,
    options: SleapNnExportOptions,
    report: Report = print,
) -> ModelMetadata:
    """Load the pair, build the fused graph, write and check the package; return its metadata."""
    started = time.perf_counter()
    report(f"reading the centroid model {centroid_dir} and the instance model {instance_dir}")
    centroid, instance = load_topdown_pair(Path(centroid_dir), Path(instance_dir))
    report(_describe(centroid))
    report(_describe(instance))
    config = topdown_config(centroid, instance, options, report)
    model = TopDownModel(config, centroid.network, instance.network).eval()
    _check_strides(config, model)
    name = options.name or f"sleap-nn {Path(centroid_dir).name}+{Path(instance_dir).name}"
    report(f"exporting the fused graph to {out_dir} (ONNX opset 18) and checking it in ONNX Runtime")
    check_frame = np.random.default_rng(0).integers(0, 256, config_frame_shape(config), dtype=np.uint8)
    node_names = instance.config.node_names
    metadata = write_package(
        model,
        out_dir,
        name=name,
        node_names=node_names,
        edges=_edge_indices(centroid, node_names),
        anchor_node=centroid.config.anchor_part,
        class_names=instance.config.class_names,
        provenance=provenance(centroid, instance, options, config),
        check_frames=[check_frame],
        runtime_variants=options.runtime_variants,
    )
    if options.fp16:
        from export.fp16 import FP16_ONNX_FILE, write_fp16_variant

        report(f"writing the fp16 variant {FP16_ONNX_FILE} (UNets in fp16; resize and decode stay fp32)")
        differences = write_fp16_variant(model, Path(out_dir), [check_frame])
        report(
            f"  fp16 vs fp32 in ONNX Runtime on a check frame: points differ by up to "
            f"{differences['max_point_difference_px']:.3g} px, "
            f"scores by {differences['max_score_difference']:.3g}"
        )
    report(f"wrote model package {name!r} to {out_dir} in {time.perf_counter() - started:.1f} s")
    return metadata


def topdown_config(
    centroid: SleapNnModel, instance: SleapNnModel, options: SleapNnExportOptions, report: Report
) -> TopDownConfig:
    """The fused graph's settings from both configs and the options; reports each decision."""
    max_instances = options.max_instances
    class_names = instance.config.class_names
    if max_instances is None:
        if not class_names:
            raise SleapNnModelError(
                "--max-instances is required: the graph has a fixed number of instance slots (the "
                "most animals per frame); sleap-nn's default (no limit) cannot be exported"
            )
        max_instances = len(class_names)
        report(f"max instances: {max_instances} (one per class of the ID model)")
    training_hw = _training_size(centroid, instance, report)
    frame_hw = options.frame_size or training_hw
    if frame_hw is None:
        raise SleapNnModelError(
            f"{centroid.config.path} records no max_height/max_width (training frame size); "
            "give --frame-size HxW"
        )
    model_channels = centroid.config.model_channels
    frame_channels = options.channels or model_channels
    _report_channels(frame_channels, model_channels, centroid, report)
    crop_size = instance.config.preprocessing.crop_size
    if crop_size is None:
        raise SleapNnModelError(
            f"{instance.config.path}: data_config.preprocessing.crop_size is null; sleap-nn derives it from "
            "the training labels, rtpose needs it in the config (set it to the crop size used in training)"
        )
    model_hw = training_hw if training_hw is not None and training_hw != frame_hw else None
    config = TopDownConfig(
        frame_height=frame_hw[0],
        frame_width=frame_hw[1],
        frame_channels=frame_channels,
        max_instances=max_instances,
        centroid_scale=centroid.config.preprocessing.scale,
        crop_size=crop_size,
        instance_scale=instance.config.preprocessing.scale,
        model_height=None if model_hw is None else model_hw[0],
        model_width=None if model_hw is None else model_hw[1],
    )
    _report_size_match(config, report)
    return config


def config_frame_shape(config: TopDownConfig) -> tuple[int, int, int]:
    return (config.frame_height, config.frame_width, config.frame_channels)


def _describe(model: SleapNnModel) -> str:
    unet = model.config.unet
    up = "bilinear" if unet.up_interpolate else "transposed-conv"
    stem = f", stem {unet.stem_stride}" if unet.stem_stride else ""
    classes = f", classes {model.config.class_names}" if model.config.class_names else ""
    return (
        f"  {model.model_type}: UNet filters {unet.filters} × {unet.filters_rate}, "
        f"max stride {unet.max_stride}, "
        f"output stride {unet.output_stride}, {up} up-sampling{stem}, {unet.in_channels} input channel(s), "
        f"scale {model.config.preprocessing.scale}{classes}; weights loaded from {model.folder / 'best.ckpt'}"
    )


def _training_size(centroid: SleapNnModel, instance: SleapNnModel, report: Report) -> tuple[int, int] | None:
    """sleap-nn's size-matcher target: max_height × max_width of the centroid config."""
    sizes = []
    for model in (centroid, instance):
        pre = model.config.preprocessing
        sizes.append(
            None if pre.max_height is None or pre.max_width is None else (pre.max_height, pre.max_width)
        )
    if sizes[0] is not None and sizes[1] is not None and sizes[0] != sizes[1]:
        report(
            f"note: the configs' training sizes differ (centroid {_hw(sizes[0])}, instance {_hw(sizes[1])}); "
            f"frames are matched to the centroid model's {_hw(sizes[0])}"
        )
    return sizes[0] if sizes[0] is not None else sizes[1]


def _report_size_match(config: TopDownConfig, report: Report) -> None:
    frame_hw = (config.frame_height, config.frame_width)
    s = config.size_match_scale
    if config.model_height is None or config.model_width is None:
        report(f"frame size {_hw(frame_hw)} = the training size: no size matching")
        return
    matched = (round(frame_hw[0] * s), round(frame_hw[1] * s))
    report(
        f"SIZE MATCHING: the models were trained on {config.model_height}×{config.model_width} frames, "
        f"the rig gives {_hw(frame_hw)}. Like sleap-nn, the graph rescales every frame by s = {s:.4g} "
        f"to {_hw(matched)} "
        f"and zero-pads it to {config.model_height}×{config.model_width}; the centroid stage then sees "
        f"{_hw(matched)} × {config.centroid_scale:g}, and animals appear {s:.3g}× their size in the rig's "
        "frames. Points are reported in the rig's frame pixels."
    )
    if s < 1.0:
        report(
            f"  the effective resolution is {1 / s:.3g} frame pixels per model pixel: animals smaller "
            "than in training may be missed; retrain at the rig's size if accuracy matters"
        )


def _report_channels(
    frame_channels: int, model_channels: int, centroid: SleapNnModel, report: Report
) -> None:
    if frame_channels == model_channels:
        report(f"channels: {frame_channels} (as trained)")
        return
    conversion = (
        "RGB → grayscale (0.2989 R + 0.587 G + 0.114 B)" if model_channels == 1 else "grayscale → RGB"
    )
    report(
        f"channels: the camera gives {frame_channels}, the model takes {model_channels}: "
        f"the graph converts {conversion}"
    )
    pre = centroid.config.preprocessing
    if not (pre.ensure_grayscale or pre.ensure_rgb):
        report(
            "  note: the configs set neither ensure_grayscale nor ensure_rgb, so sleap-nn converts "
            "inside its network (on /255 floats); the graph converts the uint8 frame, which may "
            "differ by one grey level"
        )


def _check_strides(config: TopDownConfig, model: TopDownModel) -> None:
    """A stem adds one pooling: stage inputs must then be multiples of twice max_stride."""
    model_h, model_w = config.model_hw
    stages: list[tuple[str, UNet, tuple[int, int]]] = [
        (
            "centroid",
            model.centroid_net,
            (int(model_h * config.centroid_scale), int(model_w * config.centroid_scale)),
        ),
        ("instance", model.instance_net, (int(config.crop_size * config.instance_scale),) * 2),
    ]
    for stage, net, (height, width) in stages:
        max_stride = net.config.max_stride
        padded = (-(-height // max_stride) * max_stride, -(-width // max_stride) * max_stride)
        if padded[0] % net.total_stride or padded[1] % net.total_stride:
            raise SleapNnModelError(
                f"the {stage} model has a stem, so its padded input {_hw(padded)} must be a multiple of "
                f"{net.total_stride} (twice max_stride); sleap-nn pads such inputs inside its pooling, which "
                "rtpose does not reproduce. Choose a frame size (or crop size) that gives multiples of it"
            )


def _edge_indices(centroid: SleapNnModel, node_names: list[str]) -> list[tuple[int, int]]:
    return [(node_names.index(a), node_names.index(b)) for a, b in centroid.config.edges]


def provenance(
    centroid: SleapNnModel, instance: SleapNnModel, options: SleapNnExportOptions, config: TopDownConfig
) -> dict[str, ProvenanceValue]:
    values: dict[str, ProvenanceValue] = {
        "source": "sleap-nn",
        "source.model_type": f"centroid+{instance.model_type}",
    }
    for stage, model in (("centroid", centroid), ("instance", instance)):
        prefix = f"source.{stage}"
        values[f"{prefix}.folder"] = str(model.folder.resolve())
        values[f"{prefix}.training_config_sha256"] = model.config_sha256
        values[f"{prefix}.checkpoint_sha256"] = model.checkpoint_sha256
        for key, value in model.checkpoint_info.items():
            values[f"{prefix}.checkpoint_{key.replace('-', '_')}"] = value
    versions = {model.config.sleap_nn_version for model in (centroid, instance)}
    if versions == {None}:
        values["sleap_nn_version"] = UNKNOWN
    elif len(versions) == 1:
        values["sleap_nn_version"] = versions.pop()
    else:
        values["sleap_nn_version"] = (
            f"centroid {centroid.config.sleap_nn_version or UNKNOWN}, "
            f"instance {instance.config.sleap_nn_version or UNKNOWN}"
        )
    values["export.max_instances"] = config.max_instances
    values["export.frame_size"] = _size_text((config.frame_height, config.frame_width))
    values["export.channels"] = config.frame_channels
    values["export.model_channels"] = centroid.config.model_channels
    values["export.fp16"] = int(options.fp16)
    s = config.size_match_scale
    values["size_match.training_size"] = _size_text(config.model_hw)
    values["size_match.scale"] = s
    values["size_match.resized_frame"] = _size_text(
        (round(config.frame_height * s), round(config.frame_width * s))
    )
    return values


def _size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _hw(size: tuple[int, int] | None) -> str:
    return "none" if size is None else f"{size[0]}×{size[1]}"
