"""A plain step-by-step reference of sleap-nn's top-down inference, written from
shared/SLEAP_NN_FACTS.md ("Exact top-down steps") without the exporter's decode code: loops and
numpy where the graph uses gathers, torch's own uint8 resize where the graph uses its own.

The networks are the exporter's UNets (checked against sleap-nn's checkpoints elsewhere); the
class head is recomputed here from its weights (global max-pool of the middle block output, fc
layers, softmax) so that its wiring is checked too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from export.unet import UNet


@dataclass
class ReferencePoses:
    points: np.ndarray  # (n, J, 2), n = instances found (≤ K), sorted by centroid value
    point_scores: np.ndarray  # (n, J)
    instance_scores: np.ndarray  # (n,)
    centroids: np.ndarray  # (n, 2)
    class_probs: np.ndarray | None  # (n, classes)


def reference_topdown(
    frame: np.ndarray,
    centroid_net: UNet,
    instance_net: UNet,
    *,
    max_instances: int,
    centroid_scale: float,
    crop_size: int,
    instance_scale: float,
    model_hw: tuple[int, int] | None,
    threshold: float = 0.2,
) -> ReferencePoses:
    image = _coerce_channels(torch.from_numpy(frame).permute(2, 0, 1), centroid_net.config.in_channels)
    height, width = image.shape[-2:]
    s = 1.0
    if model_hw is not None and model_hw != (height, width):  # step 2
        s = min(model_hw[0] / height, model_hw[1] / width)
        image = _resize_uint8(image, (round(height * s), round(width * s)))
        image = F.pad(image, (0, model_hw[1] - image.shape[-1], 0, model_hw[0] - image.shape[-2]))
    centroid_map = _run_stage(image, centroid_net, centroid_scale)[0][0, 0].numpy()
    found = sorted(_local_peaks(centroid_map, threshold), key=lambda peak: -peak[2])[:max_instances]
    stride = centroid_net.config.output_stride
    points, point_scores, centroids, instance_scores, class_probs = [], [], [], [], []
    for row, col, value in found:
        dx, dy = _integral(centroid_map, row, col)
        centroid = np.array(
            [(col + dx) * stride / centroid_scale, (row + dy) * stride / centroid_scale], np.float32
        )
        centroid = (centroid / np.float32(s)) * np.float32(s)
        top_left = centroid - crop_size / 2 + 0.5
        origin = np.trunc(top_left + crop_size // 2).astype(int) - crop_size // 2
        crop = _crop(image, origin, crop_size)
        maps, probs = _run_stage(crop, instance_net, instance_scale)
        node_points, node_scores = _instance_peaks(
            maps[0].numpy(), instance_net.config.output_stride, threshold
        )
        points.append((node_points / instance_scale + top_left) / s)
        point_scores.append(node_scores)
        centroids.append(centroid / s)
        instance_scores.append(value)
        if probs is not None:
            class_probs.append(probs[0].numpy())
    joints = instance_net.config.output_channels
    return ReferencePoses(
        points=np.array(points, np.float32).reshape(-1, joints, 2),
        point_scores=np.array(point_scores, np.float32).reshape(-1, joints),
        instance_scores=np.array(instance_scores, np.float32),
        centroids=np.array(centroids, np.float32).reshape(-1, 2),
        class_probs=np.array(class_probs, np.float32) if class_probs else None,
    )


def _coerce_channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    if image.shape[0] == channels:
        return image
    if channels == 3:
        return image.repeat(3, 1, 1)
    weights = torch.tensor([0.2989, 0.587, 0.114])[:, None, None]
    return (
        (image.float() * weights).sum(0, keepdim=True).to(torch.uint8)
    )  # torchvision's uint8 path truncates


def _resize_uint8(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(image[None], size, mode="bilinear", antialias=True, align_corners=False)[0]


def _run_stage(image: torch.Tensor, net: UNet, scale: float) -> tuple[torch.Tensor, torch.Tensor | None]:
    if scale != 1.0:  # step 3
        image = _resize_uint8(image, (int(image.shape[-2] * scale), int(image.shape[-1] * scale)))
    stride = net.config.max_stride  # step 4
    image = F.pad(image, (0, -image.shape[-1] % stride, 0, -image.shape[-2] % stride))
    x = image[None].float() / 255.0
    with torch.no_grad():
        features, middle = net.backbone(x)
        maps = net.head_layers[0][net.config.head_name](features)
        return maps, _class_probs(net, middle)


def _class_probs(net: UNet, middle: torch.Tensor) -> torch.Tensor | None:
    if net.config.class_head is None:
        return None
    weights = net.state_dict()
    x = middle.amax(dim=(-2, -1))
    for i in range(net.config.class_head.num_fc_layers):
        x = torch.relu(
            x @ weights[f"head_layers.1.pre_classification{i}_fc.weight"].T
            + weights[f"head_layers.1.pre_classification{i}_fc.bias"]
        )
    logits = (
        x @ weights["head_layers.1.ClassVectorsHead.weight"].T
        + weights["head_layers.1.ClassVectorsHead.bias"]
    )
    return torch.softmax(logits, dim=-1)


def _local_peaks(peak_map: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """Step 5, in raster order: > the NW, N, NE, W neighbours, ≥ the E, SW, S, SE ones."""
    height, width = peak_map.shape
    padded = np.pad(peak_map, 1, constant_values=-np.inf)
    peaks = []
    for row in range(height):
        for col in range(width):
            value = peak_map[row, col]
            window = padded[row : row + 3, col : col + 3].reshape(-1)
            earlier, later = window[:4], window[5:]
            if value > threshold and (value > earlier).all() and (value >= later).all():
                peaks.append((row, col, float(value)))
    return peaks


def _integral(peak_map: np.ndarray, row: int, col: int, radius: int = 2) -> tuple[float, float]:
    """Step 6: Σ(g·c)/Σc over a 5×5 window of the raw map, zeros outside."""
    padded = np.pad(peak_map, radius)
    window = padded[row : row + 2 * radius + 1, col : col + 2 * radius + 1].astype(np.float64)
    offsets = np.arange(-radius, radius + 1)
    total = window.sum()
    return float((window * offsets[None, :]).sum() / total), float((window * offsets[:, None]).sum() / total)


def _crop(image: torch.Tensor, origin: np.ndarray, crop_size: int) -> torch.Tensor:
    """Step 8: frame pixels (o_y + i, o_x + j), zeros outside."""
    channels, height, width = image.shape
    crop = torch.zeros((channels, crop_size, crop_size), dtype=image.dtype)
    for i in range(crop_size):
        y = origin[1] + i
        if not 0 <= y < height:
            continue
        for j in range(crop_size):
            x = origin[0] + j
            if 0 <= x < width:
                crop[:, i, j] = image[:, y, x]
    return crop


def _instance_peaks(maps: np.ndarray, stride: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Step 9: one global peak per node; below the threshold: NaN point, score 0."""
    points = np.full((maps.shape[0], 2), np.nan, np.float32)
    scores = np.zeros(maps.shape[0], np.float32)
    for node, node_map in enumerate(maps):
        col = int(node_map.max(axis=0).argmax())
        row = int(node_map.max(axis=1).argmax())
        value = float(node_map.max())
        if value < threshold:
            continue
        dx, dy = _integral(node_map, row, col)
        points[node] = ((col + dx) * stride, (row + dy) * stride)
        scores[node] = value
    return points, scores
