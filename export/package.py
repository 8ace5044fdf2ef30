"""Write a model package folder: ``model.onnx`` (the fused graph) and ``rtpose-model.json``, plus
the runtime variants: ``instance.onnx`` (the instance stage alone, for fast mode) and the torch
programs ``model.pt2`` / ``instance.pt2`` (``torch.export``, for the torch backend; loadable
without this package's code). The pt2 archives are re-zipped with deflate (about half the size;
``torch.export.load`` reads them).

The graph is exported with torch's ``torch.export``-based ONNX exporter (``dynamo=True``, opset
18), the maintained path since torch 2.9; the TorchScript exporter is deprecated. Export takes a
few seconds, mostly fixed cost. The metadata goes through ``rtpose.core.model_metadata`` so that
the exporter and the runtime share one definition of the format (docs/model-package.md).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import rtpose
from export.topdown import InstanceStageModel, TopDownModel
from rtpose.core.extras import require
from rtpose.core.model_metadata import (
    CENTROIDS_INPUT_NAME,
    CLASS_PROBS_NAME,
    INPUT_NAME,
    INSTANCE_ONNX_FILE,
    INSTANCE_OUTPUT_NAMES,
    INSTANCE_TORCH_PROGRAM_FILE,
    ONNX_FILE,
    OUTPUT_NAMES,
    TORCH_PROGRAM_FILE,
    FilesSpec,
    InputSpec,
    ModelMetadata,
    StageSpec,
    sha256_of,
    write_metadata,
)

OPSET = 18
EXPORTER_NAME = "rtpose-export"
ProvenanceValue = str | int | float | None


class ExportMismatchError(RuntimeError):
    """The exported graph, run in ONNX Runtime, disagrees with the torch module it came from."""


def write_package(
    model: TopDownModel,
    out_dir: str | Path,
    *,
    name: str,
    node_names: Sequence[str],
    edges: Sequence[tuple[int, int]] = (),
    anchor_node: str | None = None,
    class_names: Sequence[str] = (),
    provenance: Mapping[str, ProvenanceValue] | None = None,
    check_frames: Sequence[np.ndarray] = (),
    runtime_variants: bool = True,
) -> ModelMetadata:
    """Export ``model`` into the package folder ``out_dir`` (created; existing files replaced).

    ``runtime_variants`` (default) also writes ``instance.onnx`` (fast mode) and the torch
    programs ``model.pt2`` / ``instance.pt2`` (torch backend); without them the package runs on
    onnxruntime and tensorrt only, and exports in about half the time.

    ``class_names`` name the columns of ``class_probs`` for ID models (one per class of the
    instance UNet's class head; empty otherwise). ``check_frames`` (H×W×C uint8) are run through
    both the torch module and the exported graph in ONNX Runtime; a disagreement raises
    ExportMismatchError. Returns the written metadata.
    """
    if len(node_names) != model.num_nodes:
        raise ValueError(f"{len(node_names)} node names for a model with {model.num_nodes} nodes")
    if len(class_names) != model.num_classes:
        raise ValueError(f"{len(class_names)} class names for a model with {model.num_classes} classes")
    out_path = Path(out_dir)
    out_path.mkdir(parents=True, exist_ok=True)
    onnx_path = out_path / ONNX_FILE
    partial_path = out_path / (ONNX_FILE + ".partial")
    export_onnx(model, partial_path)
    os.replace(partial_path, onnx_path)
    for frame in check_frames:
        compare_with_onnxruntime(model, onnx_path, frame)
    files = write_runtime_variants(model, out_path, check_frames) if runtime_variants else {}
    metadata = build_metadata(
        model,
        name=name,
        node_names=node_names,
        edges=edges,
        anchor_node=anchor_node,
        class_names=class_names,
        onnx_sha256=sha256_of(onnx_path),
        provenance=provenance or {},
    )
    metadata = metadata.model_copy(update={"files": metadata.files.model_copy(update=files)})
    write_metadata(out_path, metadata)
    return metadata


def output_names(model: TopDownModel) -> list[str]:
    """The graph's output names: the five pose outputs, plus ``class_probs`` for ID models."""
    return list(OUTPUT_NAMES) + ([CLASS_PROBS_NAME] if model.num_classes else [])


def instance_output_names(model: TopDownModel) -> list[str]:
    """The instance-stage graph's outputs: points, point_scores, valid (+ class_probs for ID models)."""
    return list(INSTANCE_OUTPUT_NAMES) + ([CLASS_PROBS_NAME] if model.num_classes else [])


def example_frame(model: TopDownModel) -> torch.Tensor:
    config = model.config
    return torch.zeros((config.frame_height, config.frame_width, config.frame_channels), dtype=torch.uint8)


def example_centroids(model: TopDownModel) -> torch.Tensor:
    return torch.zeros((model.config.max_instances, 2), dtype=torch.float32)


def write_runtime_variants(
    model: TopDownModel, out_path: Path, check_frames: Sequence[np.ndarray] = ()
) -> dict[str, str]:
    """Write ``instance.onnx``, ``model.pt2`` and ``instance.pt2``; return their FilesSpec fields.

    The instance graph is checked against the module on ``check_frames`` (crops placed at the
    full graph's centroids) like ``model.onnx``.
    """
    model = model.eval()
    instance = InstanceStageModel(model).eval()
    frame, centroids = example_frame(model), example_centroids(model)
    instance_path = out_path / INSTANCE_ONNX_FILE
    export_graph(
        instance,
        (frame, centroids),
        [INPUT_NAME, CENTROIDS_INPUT_NAME],
        instance_output_names(model),
        instance_path,
    )
    for check_frame in check_frames:
        compare_instance_graph(model, instance_path, check_frame)
    save_torch_program(model, (frame,), out_path / TORCH_PROGRAM_FILE)
    save_torch_program(instance, (frame, centroids), out_path / INSTANCE_TORCH_PROGRAM_FILE)
    return {
        "instance_onnx": INSTANCE_ONNX_FILE,
        "instance_onnx_sha256": sha256_of(instance_path),
        "torch_program": TORCH_PROGRAM_FILE,
        "torch_program_sha256": sha256_of(out_path / TORCH_PROGRAM_FILE),
        "instance_torch_program": INSTANCE_TORCH_PROGRAM_FILE,
        "instance_torch_program_sha256": sha256_of(out_path / INSTANCE_TORCH_PROGRAM_FILE),
    }


def save_torch_program(module: torch.nn.Module, example: tuple[torch.Tensor, ...], path: Path) -> None:
    """``torch.export`` the module and save it as a deflate-compressed .pt2 archive."""
    with _quiet_exporter(), torch.no_grad():
        program = torch.export.export(module.eval(), example)
    partial = path.with_name(path.name + ".partial")
    raw = path.with_name(path.stem + ".uncompressed.pt2")
    torch.export.save(program, str(raw))
    with (
        zipfile.ZipFile(raw) as source,
        zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out,
    ):
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(fixed, source.read(entry.filename))
    raw.unlink()
    os.replace(partial, path)


def compare_instance_graph(model: TopDownModel, instance_path: Path, frame: np.ndarray) -> None:
    """Raise ExportMismatchError unless the instance graph, given the full module's centroids,
    reproduces the full module's points and scores on ``frame``."""
    ort = require("onnxruntime", "onnx", "checking an exported graph")
    with torch.no_grad():
        expected = [tensor.numpy() for tensor in model.eval()(torch.from_numpy(frame))]
    session = ort.InferenceSession(str(instance_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: frame, CENTROIDS_INPUT_NAME: expected[4]})
    pairs = [
        ("points", expected[0], got[0]),
        ("point_scores", expected[1], got[1]),
        ("valid", expected[3], got[2]),
    ]
    for output_name, want, have in pairs:
        if not np.allclose(want, have, rtol=0.0, atol=1e-3, equal_nan=True):
            raise ExportMismatchError(f"instance graph {output_name}: differs from the full module's")


def export_onnx(model: TopDownModel, path: Path) -> None:
    """Export the fused module to ONNX (fixed input shape, one self-contained file)."""
    export_graph(model, (example_frame(model),), [INPUT_NAME], output_names(model), path)


def export_graph(
    module: torch.nn.Module,
    example: tuple[torch.Tensor, ...],
    input_names: Sequence[str],
    graph_output_names: Sequence[str],
    path: Path,
) -> None:
    """Export a module to ONNX (fixed input shapes, one self-contained file)."""
    onnx = require("onnx", "export", "exporting a model")
    model = module.eval()
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            model,
            example,
            None,
            input_names=list(input_names),
            output_names=list(graph_output_names),
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            optimize=True,
            verbose=False,
        )
    if program is None:  # pragma: no cover - dynamo=True always returns a program
        raise RuntimeError("torch.onnx.export returned no program")
    graph = program.model_proto
    _strip_debug_info(graph)
    onnx.save_model(graph, str(path))
    onnx.checker.check_model(str(path))


def _strip_debug_info(graph: Any) -> None:
    """Drop per-node stack traces and source paths: smaller, reproducible files."""
    for node in graph.graph.node:
        node.doc_string = ""
        del node.metadata_props[:]
    for value in graph.graph.value_info:
        del value.metadata_props[:]


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's internal deprecation warnings and its torchvision log lines."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        logger.setLevel(level)


def build_metadata(
    model: TopDownModel,
    *,
    name: str,
    node_names: Sequence[str],
    edges: Sequence[tuple[int, int]],
    anchor_node: str | None,
    onnx_sha256: str,
    provenance: Mapping[str, ProvenanceValue],
    class_names: Sequence[str] = (),
) -> ModelMetadata:
    config = model.config
    centroid, instance = model.centroid_net.config, model.instance_net.config
    return ModelMetadata(
        name=name,
        input=InputSpec(height=config.frame_height, width=config.frame_width, channels=config.frame_channels),  # type: ignore[arg-type]
        max_instances=config.max_instances,
        node_names=list(node_names),
        edges=[(int(a), int(b)) for a, b in edges],
        class_names=list(class_names),
        anchor_node=anchor_node,
        centroid=StageSpec(
            scale=config.centroid_scale,
            output_stride=centroid.output_stride,
            max_stride=centroid.max_stride,
            peak_threshold=config.centroid_peak_threshold,
        ),
        instance=StageSpec(
            scale=config.instance_scale,
            output_stride=instance.output_stride,
            max_stride=instance.max_stride,
            peak_threshold=config.instance_peak_threshold,
            crop_size=config.crop_size,
        ),
        integral_patch_size=config.integral_patch_size,
        files=FilesSpec(onnx=ONNX_FILE, onnx_sha256=onnx_sha256),
        provenance={**_exporter_provenance(), **provenance},
    )


def _exporter_provenance() -> dict[str, ProvenanceValue]:
    return {
        "exporter": EXPORTER_NAME,
        "exporter_version": rtpose.__version__,
        "torch_version": torch.__version__,
        "onnx_opset": OPSET,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def run_onnxruntime(onnx_path: Path, frame: np.ndarray, threads: int = 1) -> list[np.ndarray]:
    """Run the graph once in ONNX Runtime (CPU): all its outputs, in OUTPUT_NAMES order first."""
    ort = require("onnxruntime", "onnx", "checking an exported graph")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    ordered = [name for name in OUTPUT_NAMES if name in names] + [n for n in names if n not in OUTPUT_NAMES]
    outputs: list[np.ndarray] = session.run(ordered, {INPUT_NAME: frame})
    return outputs


def compare_with_onnxruntime(
    model: TopDownModel, onnx_path: Path, frame: np.ndarray, tolerance_px: float = 1e-3
) -> None:
    """Raise ExportMismatchError unless the graph reproduces the module on ``frame``."""
    with torch.no_grad():
        expected = [tensor.numpy() for tensor in model.eval()(torch.from_numpy(frame))]
    actual = run_onnxruntime(onnx_path, frame)
    if len(expected) != len(actual):
        raise ExportMismatchError(f"torch gives {len(expected)} outputs, the graph {len(actual)}")
    for output_name, want, got in zip(output_names(model), expected, actual, strict=True):
        if want.shape != got.shape or want.dtype != got.dtype:
            raise ExportMismatchError(
                f"{output_name}: torch gives {want.dtype}{list(want.shape)}, "
                f"the graph {got.dtype}{list(got.shape)}"
            )
        if want.dtype == np.bool_:
            same = bool(np.array_equal(want, got))
        else:
            same = bool(np.allclose(want, got, rtol=0.0, atol=tolerance_px, equal_nan=True))
        if not same:
            raise ExportMismatchError(f"{output_name}: the exported graph differs from the torch module")
