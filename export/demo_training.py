"""Train the demo's two small UNets on synthetic fly frames (CPU, a few minutes) and export them.

The frames come from ``rtpose.camera.fly_scene`` (``random_training_poses`` + ``render_flies``):
two flies anywhere in a 256² arena, half of them in close male-behind-female encounters. Rendering
costs ~15 ms a frame, so a pool of frames is rendered once and reused with the eight flips and
quarter turns of the square frame (wing labels swap under mirror images).

- Centroid stage: the frame resized ×0.5 by the graph's own resize module, confidence map of the
  thorax (the anchor) at output stride 2.
- Instance stage: 64² crops cut by the graph's own crop rule around the thorax plus a random
  offset (the other fly may be in view), maps of the five nodes at output stride 2.

Targets use the graph's coordinate conventions exactly (``point = peak · stride / scale``, crops
mapped back with sleap-nn's float top-left), so what is trained is what the graph decodes. The
crop rule puts the crop's pixels at the integer origin ``o`` but maps points back from the float
top-left ``tl`` (``0 ≤ tl − o < 1``, unknown to the network): instance targets are therefore
``x − o − 0.5``, which leaves a uniform ±0.5 px rounding error instead of passing the centroid
error on to every node.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from export.decode import AntialiasedResize, crop_top_left, gather_crops
from export.package import ProvenanceValue, write_package
from export.topdown import TopDownConfig, TopDownModel
from export.unet import CENTERED_INSTANCE_HEAD, CENTROID_HEAD, UNet, UNetConfig
from rtpose.camera.fly_scene import EDGES, NODE_NAMES, random_training_poses, render_flies
from rtpose.core.model_metadata import ModelMetadata

ANCHOR_NODE = "thorax"
WING_SWAP = [NODE_NAMES.index(name) for name in ("head", "thorax", "abdomen", "wing_right", "wing_left")]


@dataclass(frozen=True)
class DemoTrainingSettings:
    """Everything that decides the demo model; recorded in the package's provenance."""

    frame_size: tuple[int, int] = (256, 256)
    centroid_steps: int = 700
    instance_steps: int = 1500
    pool_frames: int = 1000
    centroid_batch: int = 16
    instance_batch: int = 32
    learning_rate: float = 2e-3
    final_learning_rate: float = 5e-5
    sigma_px: float = 2.5
    crop_jitter_px: float = 3.0
    close_distance_px: float = 12.0
    close_encounter_weight: float = 4.0
    centroid_scale: float = 0.5
    crop_size: int = 64
    filters: int = 8
    filters_rate: float = 1.5
    max_stride: int = 16
    output_stride: int = 2
    seed: int = 0
    torch_threads: int = 2


def demo_networks(settings: DemoTrainingSettings) -> tuple[UNet, UNet]:
    def config(output_channels: int, head_name: str) -> UNetConfig:
        return UNetConfig(
            output_channels=output_channels,
            head_name=head_name,
            filters=settings.filters,
            filters_rate=settings.filters_rate,
            max_stride=settings.max_stride,
            output_stride=settings.output_stride,
        )

    return UNet(config(1, CENTROID_HEAD)), UNet(config(len(NODE_NAMES), CENTERED_INSTANCE_HEAD))


def demo_topdown_config(settings: DemoTrainingSettings) -> TopDownConfig:
    height, width = settings.frame_size
    return TopDownConfig(
        frame_height=height,
        frame_width=width,
        frame_channels=1,
        max_instances=2,
        centroid_scale=settings.centroid_scale,
        crop_size=settings.crop_size,
    )


def train_demo_package(
    out_dir: str | Path,
    steps: int | None = None,
    seed: int = 0,
    progress: bool = True,
    settings: DemoTrainingSettings | None = None,
) -> ModelMetadata:
    """Train the demo model pair and write the package to ``out_dir``.

    ``steps`` overrides both stages' step counts (and shrinks the frame pool for short runs).
    Deterministic for a given seed up to the order of floating-point sums in torch's kernels.
    """
    settings = settings or DemoTrainingSettings()
    settings = replace(settings, seed=seed)
    if steps is not None:
        settings = replace(
            settings,
            centroid_steps=steps,
            instance_steps=steps,
            pool_frames=min(settings.pool_frames, max(16, steps)),
        )
    started = time.perf_counter()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(settings.torch_threads)
    torch.set_flush_denormal(True)  # tiny activations otherwise slow the CPU down severalfold
    try:
        torch.manual_seed(settings.seed)
        rng = np.random.default_rng(settings.seed)
        frames, poses = render_pool(settings, rng, progress)
        centroid_net, instance_net = demo_networks(settings)
        centroid_loss = train_centroid_stage(centroid_net, frames, poses, settings, rng, progress)
        instance_loss = train_instance_stage(instance_net, frames, poses, settings, rng, progress)
        model = TopDownModel(demo_topdown_config(settings), centroid_net.eval(), instance_net.eval()).eval()
    finally:
        torch.set_num_threads(previous_threads)
        torch.set_flush_denormal(False)
    provenance: dict[str, ProvenanceValue] = {
        "source": "export.demo_training.train_demo_package",
        "training_seconds": round(time.perf_counter() - started, 1),
        "final_centroid_loss": float(f"{centroid_loss:.4g}"),
        "final_instance_loss": float(f"{instance_loss:.4g}"),
    }
    for key, value in asdict(settings).items():
        provenance[f"training.{key}"] = value if not isinstance(value, tuple) else "x".join(map(str, value))
    return write_package(
        model,
        out_dir,
        name="rtpose-demo-flies",
        node_names=NODE_NAMES,
        edges=EDGES,
        anchor_node=ANCHOR_NODE,
        provenance=provenance,
        check_frames=[frames[0]],
    )


def render_pool(
    settings: DemoTrainingSettings, rng: np.random.Generator, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, 1) uint8 frames and their (N, 2, J, 2) float32 poses."""
    height, width = settings.frame_size
    frames = np.empty((settings.pool_frames, height, width, 1), np.uint8)
    poses = np.empty((settings.pool_frames, 2, len(NODE_NAMES), 2), np.float32)
    for index in _progress(range(settings.pool_frames), progress, "rendering frames"):
        poses[index] = random_training_poses(rng, settings.frame_size)
        render_flies(poses[index], frames[index], rng)
    return frames, poses


def random_dihedral(
    frame: np.ndarray, poses: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One of the 8 flips/quarter turns of a square frame, applied to pixels and points alike."""
    height, width = frame.shape[:2]
    poses = poses.copy()
    transpose, flip_x, flip_y = (bool(bit) for bit in rng.integers(0, 2, size=3))
    if transpose:
        frame = frame.transpose(1, 0, 2)
        poses = poses[..., ::-1].copy()
    if flip_x:
        frame = frame[:, ::-1]
        poses[..., 0] = width - 1 - poses[..., 0]
    if flip_y:
        frame = frame[::-1]
        poses[..., 1] = height - 1 - poses[..., 1]
    if (transpose + flip_x + flip_y) % 2 == 1:  # a mirror image: left and right wings swap
        poses = poses[:, WING_SWAP]
    return np.ascontiguousarray(frame), poses


def gaussian_maps(points: torch.Tensor, height: int, width: int, stride: int, sigma: float) -> torch.Tensor:
    """(B, P, 2) points (NaN = absent) → (B, P, h, w) Gaussians on the grid ``index · stride``."""
    xs = torch.arange(width, dtype=torch.float32) * stride
    ys = torch.arange(height, dtype=torch.float32) * stride
    dx = xs[None, None, None, :] - points[..., 0, None, None]
    dy = ys[None, None, :, None] - points[..., 1, None, None]
    maps = torch.exp(-(dx * dx + dy * dy) / (2.0 * sigma * sigma))
    return torch.nan_to_num(maps, nan=0.0)


def train_centroid_stage(
    net: UNet,
    frames: np.ndarray,
    poses: np.ndarray,
    settings: DemoTrainingSettings,
    rng: np.random.Generator,
    progress: bool,
) -> float:
    height, width = settings.frame_size
    scaled_hw = (int(height * settings.centroid_scale), int(width * settings.centroid_scale))
    resize = AntialiasedResize((height, width), scaled_hw)
    anchor = NODE_NAMES.index(ANCHOR_NODE)
    stride = settings.output_stride
    map_hw = (scaled_hw[0] // stride, scaled_hw[1] // stride)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            images, anchors = [], []
            for index in rng.integers(0, len(frames), settings.centroid_batch):
                frame, frame_poses = random_dihedral(frames[index], poses[index], rng)
                images.append(frame[..., 0])
                anchors.append(frame_poses[:, anchor] * settings.centroid_scale)
            with torch.no_grad():
                small = resize(torch.from_numpy(np.stack(images)).float()[:, None]) / 255.0
            maps = gaussian_maps(torch.from_numpy(np.stack(anchors)), *map_hw, stride, settings.sigma_px)
            yield small, maps.amax(dim=1, keepdim=True)

    return _fit(net, batches(), settings.centroid_steps, settings, progress, "centroid stage")


def close_encounter_weights(poses: np.ndarray, settings: DemoTrainingSettings) -> np.ndarray:
    """(N·A,) sampling probabilities of (frame, animal) pairs: animals with a node within
    ``close_distance_px`` of the other fly's nodes weigh ``close_encounter_weight`` times more
    (the hard case, e.g. the male's head at the female's abdomen tip, and the one the rules use)."""
    gaps = np.linalg.norm(poses[:, :, None, :, None] - poses[:, None, :, None, :], axis=-1)  # N,A,A,J,J
    others = ~np.eye(poses.shape[1], dtype=bool)
    nearest = np.where(others[None, :, :, None, None], gaps, np.inf).min(axis=(2, 3, 4))  # N, A
    weights = np.where(nearest < settings.close_distance_px, settings.close_encounter_weight, 1.0).ravel()
    probabilities: np.ndarray = weights / weights.sum()
    return probabilities


def train_instance_stage(
    net: UNet,
    frames: np.ndarray,
    poses: np.ndarray,
    settings: DemoTrainingSettings,
    rng: np.random.Generator,
    progress: bool,
) -> float:
    anchor = NODE_NAMES.index(ANCHOR_NODE)
    crop = settings.crop_size
    stride = settings.output_stride
    num_animals = poses.shape[1]
    probabilities = close_encounter_weights(poses, settings)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            crops, targets = [], []
            for pair in rng.choice(len(probabilities), settings.instance_batch, p=probabilities):
                index, animal_index = divmod(int(pair), num_animals)
                frame, frame_poses = random_dihedral(frames[index], poses[index], rng)
                animal = frame_poses[animal_index]
                jitter = rng.uniform(-settings.crop_jitter_px, settings.crop_jitter_px, size=2)
                centroid = torch.from_numpy((animal[anchor] + jitter).astype(np.float32))[None]
                _, origin = crop_top_left(centroid, crop)
                image = torch.from_numpy(frame).permute(2, 0, 1).float()
                crops.append(gather_crops(image, origin, crop)[0])
                targets.append(torch.from_numpy(animal) - origin.float() - 0.5)
            map_size = crop // stride
            maps = gaussian_maps(torch.stack(targets), map_size, map_size, stride, settings.sigma_px)
            yield torch.stack(crops) / 255.0, maps

    return _fit(net, batches(), settings.instance_steps, settings, progress, "instance stage")


def _fit(
    net: nn.Module,
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    steps: int,
    settings: DemoTrainingSettings,
    progress: bool,
    label: str,
) -> float:
    """Adam on the MSE of the maps, cosine decay of the learning rate; returns the last loss."""
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.learning_rate)
    ratio = settings.final_learning_rate / settings.learning_rate

    def cosine(step: int) -> float:
        progress = min(step / max(steps, 1), 1.0)
        return ratio + (1 - ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
    smoothed = float("nan")
    bar = _progress(range(steps), progress, label)
    for _, (inputs, targets) in zip(bar, batches, strict=False):
        loss = nn.functional.mse_loss(net(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        optimizer.step()
        schedule.step()
        value = float(loss.detach())
        smoothed = value if math.isnan(smoothed) else 0.95 * smoothed + 0.05 * value
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{smoothed:.2e}", refresh=False)
    net.eval()
    return smoothed


def _progress(iterable: range, enabled: bool, label: str) -> Iterator[int]:
    if not enabled:
        return iter(iterable)
    from tqdm import tqdm

    bar: Iterator[int] = tqdm(
        iterable, desc=label, unit="step" if "stage" in label else "frame", dynamic_ncols=True, leave=True
    )
    return bar
