"""The fused top-down module: one uint8 frame in, fixed-shape poses out.

``TopDownModel`` composes the centroid UNet, the decode math of ``export/decode.py`` and the
centered-instance UNet into the graph that becomes ``model.onnx``:

frame (H, W, C) uint8 → channels → [size match] → resize for the centroid stage → pad, /255 →
centroid UNet → local peaks, top-K, integral refinement → crops from the full-resolution frame →
[instance scale] → pad, /255 → instance UNet → global peak per node, integral refinement → frame
coordinates.

Outputs (K = max_instances, J = nodes): ``points`` (K, J, 2) float32, ``point_scores`` (K, J)
float32, ``instance_scores`` (K,) float32, ``valid`` (K,) bool, ``centroids`` (K, 2) float32.
With a class head on the instance UNet (sleap-nn's multi-class top-down ID models) a sixth output
``class_probs`` (K, classes) float32 holds each crop's softmax class probabilities.
Slots are in descending centroid score; an empty slot has valid False, NaN points and centroid,
zero scores and zero class probabilities; a node below the instance threshold is NaN with score 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from export.decode import (
    AntialiasedResize,
    crop_top_left,
    finite_or_zero,
    gather_crops,
    global_peaks,
    integral_offsets,
    pad_to_multiple,
    scaled_size,
    top_k_peaks,
)
from export.unet import UNet

GRAYSCALE_WEIGHTS = (0.2989, 0.587, 0.114)


@dataclass(frozen=True)
class TopDownConfig:
    """Inference settings of the fused graph (the sleap-nn knobs that are not in the weights).

    ``model_height``/``model_width`` are sleap-nn's ``preprocessing.max_height/max_width``: a frame
    of another size is resized to fit (aspect kept) and zero-padded to them first; None means the
    frame size.
    """

    frame_height: int
    frame_width: int
    frame_channels: int
    max_instances: int
    centroid_scale: float
    crop_size: int
    instance_scale: float = 1.0
    centroid_peak_threshold: float = 0.2
    instance_peak_threshold: float = 0.2
    integral_patch_size: int = 5
    model_height: int | None = None
    model_width: int | None = None

    def __post_init__(self) -> None:
        if self.frame_channels not in (1, 3):
            raise ValueError(f"TopDownConfig.frame_channels must be 1 or 3, got {self.frame_channels}")
        if self.max_instances < 1:
            raise ValueError("TopDownConfig.max_instances must be at least 1")
        if self.integral_patch_size < 1 or self.integral_patch_size % 2 == 0:
            raise ValueError("TopDownConfig.integral_patch_size must be odd")
        if (self.model_height is None) != (self.model_width is None):
            raise ValueError("TopDownConfig: give both model_height and model_width, or neither")

    @property
    def size_match_scale(self) -> float:
        """sleap-nn's step-2 scale ``s`` (1.0 when the frame already has the model's size)."""
        if self.model_height is None or self.model_width is None:
            return 1.0
        if (self.model_height, self.model_width) == (self.frame_height, self.frame_width):
            return 1.0
        return min(self.model_height / self.frame_height, self.model_width / self.frame_width)

    @property
    def model_hw(self) -> tuple[int, int]:
        if self.model_height is None or self.model_width is None:
            return (self.frame_height, self.frame_width)
        return (self.model_height, self.model_width)


class ChannelCoercion(nn.Module):
    """(C, H, W) uint8-valued float → the model's channel count (sleap-nn step 1).

    RGB → grayscale uses torchvision's weights and truncates to an integer like its uint8 path.
    """

    def __init__(self, frame_channels: int, model_channels: int) -> None:
        super().__init__()
        if model_channels not in (1, 3):
            raise ValueError(f"models with {model_channels} input channels are not supported")
        self.frame_channels = frame_channels
        self.model_channels = model_channels

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.frame_channels == self.model_channels:
            return image
        if self.model_channels == 3:
            return image.expand(3, -1, -1)
        red, green, blue = image[0:1], image[1:2], image[2:3]
        gray = red * GRAYSCALE_WEIGHTS[0] + green * GRAYSCALE_WEIGHTS[1] + blue * GRAYSCALE_WEIGHTS[2]
        return torch.floor(gray)


class TopDownModel(nn.Module):
    """frame (H, W, C) uint8 → (points, point_scores, instance_scores, valid, centroids)."""

    def __init__(self, config: TopDownConfig, centroid_net: UNet, instance_net: UNet) -> None:
        super().__init__()
        in_channels = centroid_net.config.in_channels
        if instance_net.config.in_channels != in_channels:
            raise ValueError("the centroid and instance UNets must take the same number of channels")
        if centroid_net.config.output_channels != 1:
            raise ValueError("the centroid UNet must have one output channel")
        self.config = config
        self.centroid_net = centroid_net
        self.instance_net = instance_net
        self.coerce_channels = ChannelCoercion(config.frame_channels, in_channels)
        frame_hw = (config.frame_height, config.frame_width)
        s = config.size_match_scale
        self.size_match: AntialiasedResize | None = None
        if s != 1.0:
            matched_hw = (round(config.frame_height * s), round(config.frame_width * s))
            self.size_match = AntialiasedResize(frame_hw, matched_hw)
        model_hw = config.model_hw
        centroid_hw = (
            scaled_size(model_hw[0], config.centroid_scale),
            scaled_size(model_hw[1], config.centroid_scale),
        )
        self.centroid_resize = AntialiasedResize(model_hw, centroid_hw) if centroid_hw != model_hw else None
        crop_hw = (config.crop_size, config.crop_size)
        instance_hw = (scaled_size(config.crop_size, config.instance_scale),) * 2
        self.instance_resize = AntialiasedResize(crop_hw, instance_hw) if instance_hw != crop_hw else None

    @property
    def num_nodes(self) -> int:
        return self.instance_net.config.output_channels

    @property
    def num_classes(self) -> int:
        """Identity classes of an ID model's class head; 0 without one."""
        class_head = self.instance_net.config.class_head
        return 0 if class_head is None else class_head.num_classes

    def forward(self, frame: torch.Tensor) -> tuple[torch.Tensor, ...]:
        config = self.config
        image = self.frame_image(frame)
        centroids, instance_scores, valid = self._centroid_stage(image)
        points, point_scores, class_probs = self._instance_stage(image, centroids)
        s = config.size_match_scale
        points, point_scores, class_probs = self.mask_instances(points, point_scores, class_probs, valid)
        instance_scores = torch.where(valid, instance_scores, torch.zeros_like(instance_scores))
        centroids = torch.where(valid[:, None], centroids / s, torch.full_like(centroids, float("nan")))
        if class_probs is None:
            return points, point_scores, instance_scores, valid, centroids
        return points, point_scores, instance_scores, valid, centroids, class_probs

    def mask_instances(
        self,
        points: torch.Tensor,
        point_scores: torch.Tensor,
        class_probs: torch.Tensor | None,
        valid: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Frame-pixel points, NaN (score 0) for nodes below the threshold and for empty slots."""
        s = self.config.size_match_scale
        valid_points = valid[:, None] & (point_scores >= self.config.instance_peak_threshold)
        nan = torch.full_like(points, float("nan"))
        points = torch.where(valid_points[..., None], points / s, nan)
        point_scores = torch.where(valid_points, point_scores, torch.zeros_like(point_scores))
        if class_probs is not None:
            class_probs = torch.where(valid[:, None], class_probs, torch.zeros_like(class_probs))
        return points, point_scores, class_probs

    def frame_image(self, frame: torch.Tensor) -> torch.Tensor:
        """The (C, H, W) float32 image the stages work on: model channels, size-matched."""
        # cast before the transpose: TensorRT 10 does not shuffle uint8 tensors on every version
        return self._match_size(self.coerce_channels(frame.to(torch.float32).permute(2, 0, 1)))

    def _match_size(self, image: torch.Tensor) -> torch.Tensor:
        if self.size_match is None:
            return image
        image = self.size_match(image)
        model_h, model_w = self.config.model_hw
        return F.pad(image, (0, model_w - image.shape[-1], 0, model_h - image.shape[-2]))

    def _centroid_stage(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Centroids (K, 2) in size-matched pixels, their map values (K,) and validity (K,)."""
        config = self.config
        small = self.centroid_resize(image) if self.centroid_resize is not None else image
        small = pad_to_multiple(small, self.centroid_net.config.max_stride) / 255.0
        centroid_map = self.centroid_net(small[None])[0, 0]
        rows, cols, values, valid = top_k_peaks(
            centroid_map, config.centroid_peak_threshold, config.max_instances
        )
        dx, dy = integral_offsets(centroid_map[None], rows[None], cols[None], config.integral_patch_size)
        stride = self.centroid_net.config.output_stride
        peaks = torch.stack((cols.to(torch.float32) + dx[0], rows.to(torch.float32) + dy[0]), dim=-1)
        centroids = peaks * stride / config.centroid_scale
        s = config.size_match_scale
        if s != 1.0:
            centroids = (centroids / s) * s
        return centroids, values, valid

    def _instance_stage(
        self, image: torch.Tensor, centroids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Points (K, J, 2) in size-matched pixels (before masking), peak values (K, J) and, for
        ID models, class probabilities (K, classes)."""
        config = self.config
        top_left, origin = crop_top_left(finite_or_zero(centroids), config.crop_size)
        crops = gather_crops(image, origin, config.crop_size)
        if self.instance_resize is not None:
            crops = self.instance_resize(crops)
        crops = pad_to_multiple(crops, self.instance_net.config.max_stride) / 255.0
        class_probs = None
        if self.num_classes:
            maps, class_probs = self.instance_net.maps_and_classes(crops)
        else:
            maps = self.instance_net(crops)  # (K, J, h, w)
        slots, nodes, height, width = maps.shape
        rows, cols, values = global_peaks(maps)
        dx, dy = integral_offsets(
            maps.reshape(slots * nodes, height, width),
            rows.reshape(-1, 1),
            cols.reshape(-1, 1),
            config.integral_patch_size,
        )
        peaks = torch.stack(
            (
                cols.to(torch.float32) + dx.reshape(slots, nodes),
                rows.to(torch.float32) + dy.reshape(slots, nodes),
            ),
            dim=-1,
        )
        points = peaks * self.instance_net.config.output_stride / config.instance_scale
        return points + top_left[:, None, :], values, class_probs


class InstanceStageModel(nn.Module):
    """The instance stage alone, for fast mode: (frame, centroids) → (points, point_scores, valid
    [, class_probs]).

    ``centroids`` (K, 2) float32 are crop centres in frame pixels, e.g. the previous frame's anchor
    points; a slot whose centre is not finite is empty (valid False, NaN points, zero scores). The
    crops, the instance UNet and the decode are the fused graph's own (``TopDownModel``), so with the
    full graph's centroids as input the outputs equal the full graph's.
    """

    def __init__(self, topdown: TopDownModel) -> None:
        super().__init__()
        self.topdown = topdown

    def forward(self, frame: torch.Tensor, centroids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        topdown = self.topdown
        image = topdown.frame_image(frame)
        valid = torch.isfinite(centroids).all(dim=-1)
        centres = finite_or_zero(centroids) * topdown.config.size_match_scale
        points, point_scores, class_probs = topdown._instance_stage(image, centres)
        points, point_scores, class_probs = topdown.mask_instances(points, point_scores, class_probs, valid)
        if class_probs is None:
            return points, point_scores, valid
        return points, point_scores, valid, class_probs
