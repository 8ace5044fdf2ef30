"""The model package format: a folder with ``model.onnx`` and ``rtpose-model.json``.

``rtpose-model.json`` tells the runtime what it needs without opening the graph. The exporter
writes it (``export/``) and the engines read it; both go through this module, so the format is
defined once. See docs/model-package.md.

The graph's tensors have fixed names and shapes (one frame, no batch dimension):
- input ``frame``: uint8, H×W×C
- outputs ``points`` K×J×2 float32, ``point_scores`` K×J float32, ``instance_scores`` K float32,
  ``valid`` K bool, ``centroids`` K×2 float32, and ``class_probs`` K×C float32 for ID models.

The instance-stage graph (``instance.onnx``, fast mode) takes ``frame`` and ``centroids`` K×2
float32 (crop centres in frame pixels, NaN = empty slot) and gives ``points``, ``point_scores``,
``valid`` (and ``class_probs``). The torch programs (``model.pt2``, ``instance.pt2``, saved with
``torch.export``) have the same inputs and outputs, positionally.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rtpose.core.errors import ModelPackageError

METADATA_FILE = "rtpose-model.json"
ONNX_FILE = "model.onnx"
TORCH_PROGRAM_FILE = "model.pt2"
INSTANCE_ONNX_FILE = "instance.onnx"
INSTANCE_TORCH_PROGRAM_FILE = "instance.pt2"
FORMAT_NAME = "rtpose-model"
FORMAT_VERSION = 1

INPUT_NAME = "frame"
OUTPUT_NAMES = ("points", "point_scores", "instance_scores", "valid", "centroids")
CLASS_PROBS_NAME = "class_probs"
CENTROIDS_INPUT_NAME = "centroids"
INSTANCE_OUTPUT_NAMES = ("points", "point_scores", "valid")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    height: int = Field(gt=0, description="Frame height in pixels the graph takes.")
    width: int = Field(gt=0, description="Frame width in pixels the graph takes.")
    channels: Literal[1, 3] = Field(description="1 for grayscale, 3 for RGB.")
    dtype: Literal["uint8"] = "uint8"


class StageSpec(_Strict):
    scale: float = Field(gt=0, description="Input scale of this stage (sleap-nn preprocessing.scale).")
    output_stride: int = Field(gt=0, description="Confidence-map stride relative to the stage input.")
    max_stride: int = Field(gt=0, description="The UNet's max stride; inputs are padded to a multiple.")
    peak_threshold: float = Field(ge=0, description="Peaks at or below this value are not found.")
    crop_size: int | None = Field(default=None, gt=0, description="Crop side in pixels (instance stage).")


class FilesSpec(_Strict):
    onnx: str = ONNX_FILE
    onnx_sha256: str = Field(description="sha256 of the ONNX file, checked when the package loads.")
    onnx_fp16: str | None = Field(default=None, description="Optional fp16 variant (for TensorRT).")
    onnx_fp16_sha256: str | None = Field(default=None, description="sha256 of the fp16 variant.")
    torch_program: str | None = Field(default=None, description="The fused module for the torch backend.")
    torch_program_sha256: str | None = None
    instance_onnx: str | None = Field(default=None, description="The instance stage alone (fast mode).")
    instance_onnx_sha256: str | None = None
    instance_torch_program: str | None = Field(default=None, description="Instance stage for torch.")
    instance_torch_program_sha256: str | None = None

    def listed(self) -> list[tuple[str, str]]:
        """(file name, sha256) of every file the package lists."""
        pairs = [
            (self.onnx, self.onnx_sha256),
            (self.onnx_fp16, self.onnx_fp16_sha256),
            (self.torch_program, self.torch_program_sha256),
            (self.instance_onnx, self.instance_onnx_sha256),
            (self.instance_torch_program, self.instance_torch_program_sha256),
        ]
        return [(name, digest or "") for name, digest in pairs if name is not None]


class ModelMetadata(_Strict):
    """Contents of ``rtpose-model.json``."""

    format: Literal["rtpose-model"] = "rtpose-model"
    format_version: int = FORMAT_VERSION
    name: str
    input: InputSpec
    max_instances: int = Field(gt=0, description="K: the number of instance slots.")
    node_names: list[str] = Field(min_length=1)
    edges: list[tuple[int, int]] = Field(default_factory=list)
    class_names: list[str] = Field(default_factory=list, description="Classes of top-down ID models.")
    anchor_node: str | None = Field(default=None, description="Centroid anchor; None = mean of nodes.")
    centroid: StageSpec
    instance: StageSpec
    integral_patch_size: int = 5
    files: FilesSpec
    provenance: dict[str, str | int | float | None] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_consistency(self) -> ModelMetadata:
        if self.format_version != FORMAT_VERSION:
            raise ValueError(
                f"format_version {self.format_version} is not supported (this rtpose reads "
                f"{FORMAT_VERSION}); re-export the model with this rtpose version"
            )
        for a, b in self.edges:
            if not (0 <= a < len(self.node_names) and 0 <= b < len(self.node_names)):
                raise ValueError(f"edge ({a}, {b}) names a node index outside node_names")
        if self.anchor_node is not None and self.anchor_node not in self.node_names:
            raise ValueError(f"anchor_node {self.anchor_node!r} is not one of node_names")
        if self.instance.crop_size is None:
            raise ValueError("instance.crop_size is required")
        return self

    @property
    def num_nodes(self) -> int:
        return len(self.node_names)

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return (self.input.height, self.input.width, self.input.channels)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_metadata(package_dir: Path, verify_hash: bool = True) -> ModelMetadata:
    """Read and validate a package's metadata; raise ModelPackageError naming the problem."""
    package_dir = Path(package_dir)
    if not package_dir.is_dir():
        raise ModelPackageError(
            f"model package {package_dir} does not exist or is not a folder; give the folder that "
            f"holds {METADATA_FILE} and {ONNX_FILE} (made by `rtpose export`)"
        )
    meta_path = package_dir / METADATA_FILE
    if not meta_path.is_file():
        raise ModelPackageError(f"{package_dir} is not a model package: {METADATA_FILE} is missing")
    try:
        raw = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelPackageError(f"{meta_path} is not valid JSON: {error}") from error
    try:
        metadata = ModelMetadata.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in error.errors()
        )
        raise ModelPackageError(f"{meta_path} is invalid: {problems}") from error
    for name, expected_sha256 in metadata.files.listed():
        path = package_dir / name
        if not path.is_file():
            raise ModelPackageError(
                f"{package_dir}: the file {name} listed in {METADATA_FILE} is missing; re-export the package"
            )
        if verify_hash and sha256_of(path) != expected_sha256:
            raise ModelPackageError(
                f"{path} does not match the sha256 in {METADATA_FILE}: the file was changed or "
                f"truncated after export; re-export the package"
            )
    return metadata


def write_metadata(package_dir: Path, metadata: ModelMetadata) -> Path:
    path = Path(package_dir) / METADATA_FILE
    path.write_text(metadata.to_json() + "\n", encoding="utf-8")
    return path
