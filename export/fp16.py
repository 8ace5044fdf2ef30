"""The fp16 variant of a package's graph: ``model.fp16.onnx``, for TensorRT.

Strongly typed: the two UNets run in fp16 (weights stored as fp16, a Cast of the normalised input
in, a Cast of the maps and class probabilities back to fp32 out); everything around them stays
fp32: the antialiased resizes (bit-exact only in fp32), the crops, the peak search, integral
refinement and the coordinate arithmetic. TensorRT can then build the graph as it is
(``--stronglyTyped``) without guessing per-layer precisions.

ONNX Runtime's CPU provider has no fp16 convolution on x86; it inserts casts around those nodes
and computes in fp32, so on a CPU the variant shows the cost of fp16 weights and fp16 storage of
activations, not of fp16 accumulation. The accuracy cost measured that way is recorded in the
package's provenance (``fp16.*``) and in docs/model-package.md.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from export.package import export_onnx, run_onnxruntime
from export.topdown import TopDownModel
from rtpose.core.model_metadata import ONNX_FILE, read_metadata, sha256_of, write_metadata

FP16_ONNX_FILE = "model.fp16.onnx"


def half_precision_copy(model: TopDownModel) -> TopDownModel:
    """A copy of ``model`` whose UNets hold fp16 weights (the decode around them stays fp32)."""
    half = copy.deepcopy(model)
    half.centroid_net.half()
    half.instance_net.half()
    return half.eval()


def write_fp16_variant(
    model: TopDownModel, package_dir: Path, check_frames: Sequence[np.ndarray]
) -> dict[str, float]:
    """Write ``model.fp16.onnx`` next to ``model.onnx``; record its hash and its differences from
    the fp32 graph on ``check_frames`` in the metadata's provenance. Returns those differences."""
    package_dir = Path(package_dir)
    fp16_path = package_dir / FP16_ONNX_FILE
    export_onnx(half_precision_copy(model), fp16_path)
    differences = compare_precisions(package_dir / ONNX_FILE, fp16_path, check_frames)
    metadata = read_metadata(package_dir)
    files = metadata.files.model_copy(
        update={"onnx_fp16": FP16_ONNX_FILE, "onnx_fp16_sha256": sha256_of(fp16_path)}
    )
    provenance = {
        **metadata.provenance,
        "fp16.precision": "UNet convolutions fp16; resize, crops and decode fp32",
        "fp16.check_frames": f"{len(check_frames)} frame(s) given at export (ONNX Runtime CPU)",
        **{f"fp16.check_{name}": value for name, value in differences.items()},
    }
    write_metadata(package_dir, metadata.model_copy(update={"files": files, "provenance": provenance}))
    return differences


def compare_precisions(fp32_path: Path, fp16_path: Path, frames: Sequence[np.ndarray]) -> dict[str, float]:
    """Largest point and score differences between the two graphs (ONNX Runtime CPU) on ``frames``,
    over the slots both fill; ``slot_disagreements`` counts slots filled by only one of them."""
    point_px = score = 0.0
    disagreements = 0
    for frame in frames:
        full = run_onnxruntime(fp32_path, frame)
        half = run_onnxruntime(fp16_path, frame)
        both = full[3] & half[3]
        disagreements += int((full[3] != half[3]).sum())
        found = both[:, None] & np.isfinite(full[0][..., 0]) & np.isfinite(half[0][..., 0])
        if found.any():
            point_px = max(point_px, float(np.abs(full[0] - half[0])[found].max()))
            score = max(score, float(np.abs(full[1] - half[1])[found].max()))
    return {
        "max_point_difference_px": point_px,
        "max_score_difference": score,
        "slot_disagreements": disagreements,
    }
