"""Read a sleap-nn ``training_config.yaml`` into what the exporter needs (sleap-nn 0.3.x).

The checkpoint stores no hyperparameters, so the network is rebuilt from this file
(shared/SLEAP_NN_FACTS.md, "Model folder and checkpoint"). Fields read:

- ``model_config.backbone_config.unet``: in_channels, kernel_size, filters, filters_rate,
  max_stride, stem_stride, middle_block, up_interpolate, stacks, convs_per_block, output_stride
  (and block_contraction, which must be false); other backbones (convnext, swint) are refused.
- ``model_config.head_configs``: exactly one non-null entry, the model type. Exported are
  ``centroid`` (stage 1) and ``centered_instance`` / ``multi_class_topdown`` (stage 2; the latter
  adds ``class_vectors`` with the class names).
- ``data_config.preprocessing``: ensure_grayscale, ensure_rgb, max_height, max_width, scale,
  crop_size. ``data_config.skeletons[0]``: node names and edges. ``sleap_nn_version`` (top level).

Errors are SleapNnModelError with the file and the field in the message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from export.unet import CENTERED_INSTANCE_HEAD, CENTROID_HEAD, ClassHeadConfig, UNetConfig
from rtpose.core.errors import RtposeError
from rtpose.core.extras import require

CENTROID = "centroid"
CENTERED_INSTANCE = "centered_instance"
MULTI_CLASS_TOPDOWN = "multi_class_topdown"
CENTROID_TYPES = (CENTROID,)
INSTANCE_TYPES = (CENTERED_INSTANCE, MULTI_CLASS_TOPDOWN)
SUPPORTED_TYPES_TEXT = (
    "rtpose exports top-down pairs: a 'centroid' model plus a 'centered_instance' or "
    "'multi_class_topdown' (top-down ID) model"
)


class SleapNnModelError(RtposeError):
    """A sleap-nn model folder cannot be exported; the message names the file and the problem."""


@dataclass(frozen=True)
class Preprocessing:
    """``data_config.preprocessing``: what sleap-nn does to a frame before the network."""

    ensure_grayscale: bool
    ensure_rgb: bool
    max_height: int | None
    max_width: int | None
    scale: float
    crop_size: int | None


@dataclass(frozen=True)
class TrainingConfig:
    """The parts of one ``training_config.yaml`` that decide the exported graph."""

    path: Path
    model_type: str
    unet: UNetConfig
    preprocessing: Preprocessing
    node_names: list[str]
    edges: list[tuple[str, str]] = field(default_factory=list)
    anchor_part: str | None = None
    class_names: list[str] = field(default_factory=list)
    sleap_nn_version: str | None = None

    @property
    def model_channels(self) -> int:
        """The channels the network takes after sleap-nn's ensure_rgb/ensure_grayscale."""
        if self.preprocessing.ensure_rgb:
            return 3
        if self.preprocessing.ensure_grayscale:
            return 1
        return self.unet.in_channels


def read_training_config(path: Path) -> TrainingConfig:
    """Parse ``path`` (a sleap-nn training_config.yaml); SleapNnModelError names what is wrong."""
    yaml = require("yaml", "export", "reading sleap-nn training configs")
    if not path.is_file():
        raise SleapNnModelError(f"{path} is missing: a sleap-nn model folder holds training_config.yaml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise SleapNnModelError(f"{path} is not readable YAML: {error}") from error
    if not isinstance(raw, dict):
        raise SleapNnModelError(
            f"{path} does not hold a sleap-nn training config (top level is not a mapping)"
        )
    reader = _Fields(path, raw)
    model_type = _model_type(reader)
    head = reader.mapping(f"model_config.head_configs.{model_type}")
    confmaps = reader.mapping(f"model_config.head_configs.{model_type}.confmaps")
    node_names, edges = _skeleton(reader)
    part_names = confmaps.get("part_names") or node_names
    class_head: ClassHeadConfig | None = None
    class_names: list[str] = []
    if model_type == MULTI_CLASS_TOPDOWN:
        class_names, class_head = _class_head(reader, head)
    unet = _unet_config(
        reader,
        output_channels=1 if model_type == CENTROID else len(part_names),
        head_name=CENTROID_HEAD if model_type == CENTROID else CENTERED_INSTANCE_HEAD,
        head_output_stride=confmaps.get("output_stride"),
        class_head=class_head,
    )
    version = raw.get("sleap_nn_version")
    return TrainingConfig(
        path=path,
        model_type=model_type,
        unet=unet,
        preprocessing=_preprocessing(reader),
        node_names=[str(name) for name in part_names],
        edges=edges,
        anchor_part=confmaps.get("anchor_part"),
        class_names=class_names,
        sleap_nn_version=str(version) if version not in (None, "") else None,
    )


class _Fields:
    """Dotted-path access to the YAML with errors that name the file and the field."""

    def __init__(self, path: Path, raw: dict[str, Any]) -> None:
        self.path = path
        self.raw = raw

    def get(self, dotted: str) -> Any:
        value: Any = self.raw
        for part in dotted.split("."):
            if not isinstance(value, dict) or part not in value:
                raise SleapNnModelError(f"{self.path}: the field {dotted} is missing")
            value = value[part]
        return value

    def mapping(self, dotted: str) -> dict[str, Any]:
        value = self.get(dotted)
        if not isinstance(value, dict):
            raise SleapNnModelError(f"{self.path}: {dotted} must be a mapping, got {value!r}")
        return value

    def error(self, message: str) -> SleapNnModelError:
        return SleapNnModelError(f"{self.path}: {message}")


def _model_type(reader: _Fields) -> str:
    heads = reader.mapping("model_config.head_configs")
    present = [name for name, value in heads.items() if value is not None]
    if len(present) != 1:
        found = ", ".join(present) or "none"
        raise reader.error(f"expected exactly one head in model_config.head_configs, found {found}")
    model_type = present[0]
    if model_type not in CENTROID_TYPES + INSTANCE_TYPES:
        raise reader.error(f"model type {model_type!r} is not supported; {SUPPORTED_TYPES_TEXT}")
    return model_type


def _skeleton(reader: _Fields) -> tuple[list[str], list[tuple[str, str]]]:
    skeletons = reader.get("data_config.skeletons")
    if not isinstance(skeletons, list) or not skeletons or not isinstance(skeletons[0], dict):
        raise reader.error("data_config.skeletons must list the skeleton (sleap-nn writes it after training)")
    if len(skeletons) > 1:
        raise reader.error(f"data_config.skeletons lists {len(skeletons)} skeletons; only one is supported")
    skeleton = skeletons[0]
    try:
        nodes = [str(node["name"]) for node in skeleton.get("nodes") or []]
        edges = [
            (str(edge["source"]["name"]), str(edge["destination"]["name"]))
            for edge in skeleton.get("edges") or []
        ]
    except (KeyError, TypeError) as error:
        raise reader.error(f"data_config.skeletons[0] is malformed ({error!r})") from error
    if not nodes:
        raise reader.error("data_config.skeletons[0] has no nodes")
    return nodes, edges


def _class_head(reader: _Fields, head: dict[str, Any]) -> tuple[list[str], ClassHeadConfig]:
    vectors = reader.mapping(f"model_config.head_configs.{MULTI_CLASS_TOPDOWN}.class_vectors")
    classes = vectors.get("classes")
    if not isinstance(classes, list) or not classes:
        raise reader.error(
            f"model_config.head_configs.{MULTI_CLASS_TOPDOWN}.class_vectors.classes is empty; sleap-nn "
            "fills it with the track names during training, so this config was not written by training"
        )
    if vectors.get("global_pool", True) is not True:
        raise reader.error("class_vectors.global_pool false is not supported (sleap-nn cannot run it either)")
    try:
        config = ClassHeadConfig(
            num_classes=len(classes),
            num_fc_layers=int(vectors.get("num_fc_layers", 1)),
            num_fc_units=int(vectors.get("num_fc_units", 64)),
        )
    except ValueError as error:
        raise reader.error(f"class_vectors: {error}") from error
    return [str(name) for name in classes], config


def _unet_config(
    reader: _Fields,
    *,
    output_channels: int,
    head_name: str,
    head_output_stride: Any,
    class_head: ClassHeadConfig | None,
) -> UNetConfig:
    backbones = reader.mapping("model_config.backbone_config")
    others = [name for name, value in backbones.items() if name != "unet" and value is not None]
    if backbones.get("unet") is None:
        found = ", ".join(others) or "none"
        raise reader.error(f"only UNet backbones are supported, this model uses {found}")
    unet = reader.mapping("model_config.backbone_config.unet")
    if int(unet.get("stacks", 1)) != 1:
        raise reader.error(f"backbone_config.unet.stacks {unet['stacks']} is not supported (only 1)")
    if unet.get("block_contraction", False):
        raise reader.error("backbone_config.unet.block_contraction true is not supported")
    output_stride = int(unet.get("output_stride", 1))
    if head_output_stride is not None and int(head_output_stride) != output_stride:
        raise reader.error(
            f"the head's output_stride {head_output_stride} differs from backbone_config.unet.output_stride "
            f"{output_stride}; only heads on the backbone's last decoder output are supported"
        )
    stem_stride = unet.get("stem_stride")
    try:
        return UNetConfig(
            output_channels=output_channels,
            head_name=head_name,
            in_channels=int(unet.get("in_channels", 1)),
            filters=int(unet.get("filters", 32)),
            filters_rate=float(unet.get("filters_rate", 1.5)),
            max_stride=_power_of_two(reader, "max_stride", unet.get("max_stride", 16)),
            output_stride=_power_of_two(reader, "output_stride", output_stride),
            convs_per_block=int(unet.get("convs_per_block", 2)),
            kernel_size=int(unet.get("kernel_size", 3)),
            stem_stride=None if stem_stride is None else int(stem_stride),
            stem_kernel_size=int(unet.get("stem_kernel_size", 7)),
            middle_block=bool(unet.get("middle_block", True)),
            up_interpolate=bool(unet.get("up_interpolate", True)),
            class_head=class_head,
        )
    except ValueError as error:
        raise reader.error(f"backbone_config.unet is not supported: {error}") from error


def _power_of_two(reader: _Fields, name: str, value: Any) -> int:
    number = int(value)
    if number < 1 or 2 ** int(math.log2(number)) != number:
        raise reader.error(f"backbone_config.unet.{name} must be a power of two, got {value!r}")
    return number


def _preprocessing(reader: _Fields) -> Preprocessing:
    raw = reader.mapping("data_config.preprocessing")

    def optional_int(name: str) -> int | None:
        value = raw.get(name)
        return None if value is None else int(value)

    scale = raw.get("scale", 1.0)
    if isinstance(scale, list):  # older configs allow one value per axis
        if len(set(scale)) != 1:
            raise reader.error(f"data_config.preprocessing.scale {scale} differs per axis; not supported")
        scale = scale[0]
    if scale is None or float(scale) <= 0:
        raise reader.error(f"data_config.preprocessing.scale must be positive, got {scale!r}")
    crop_size = raw.get("crop_size")
    if isinstance(crop_size, list):
        if len(set(crop_size)) != 1:
            raise reader.error(
                f"data_config.preprocessing.crop_size {crop_size} is not square; not supported"
            )
        crop_size = crop_size[0]
    return Preprocessing(
        ensure_grayscale=bool(raw.get("ensure_grayscale", False)),
        ensure_rgb=bool(raw.get("ensure_rgb", False)),
        max_height=optional_int("max_height"),
        max_width=optional_int("max_width"),
        scale=float(scale),
        crop_size=None if crop_size is None else int(crop_size),
    )
