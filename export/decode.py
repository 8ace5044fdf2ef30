"""The decode math of the fused top-down graph, written once as torch modules and functions.

Everything here is ONNX- and TensorRT-friendly: fixed shapes, gathers with constant or computed
indices instead of data-dependent shapes (no NonZero), no Python control flow on tensor values.
The steps follow shared/SLEAP_NN_FACTS.md ("Exact top-down steps"); the step numbers below refer
to it.

Conventions: maps are (..., h, w) float32; points are (x, y) with pixel centres at integer
coordinates and no half-pixel offsets between scales (as in sleap-nn).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NEGATIVE_INFINITY = float("-inf")


def antialias_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Taps of torch's antialiased bilinear resize of uint8 images along one axis.

    Returns (indices, weights), both (out_size, taps): output pixel ``i`` is
    ``Σ_t input[indices[i, t]] * weights[i, t]``. The weights are torch's, quantised to its int16
    fixed point (``round(w · 2^p) / 2^p`` with torch's precision ``p``), so that with rounding
    after each pass the result equals ``F.interpolate(uint8, mode="bilinear", antialias=True,
    align_corners=False)`` exactly. Unused taps have weight 0 and index 0.
    """
    scale = in_size / out_size
    support = scale if scale >= 1.0 else 1.0
    inverse_scale = 1.0 / scale if scale >= 1.0 else 1.0
    rows: list[tuple[int, np.ndarray]] = []
    for i in range(out_size):
        center = scale * (i + 0.5)
        start = max(int(center - support + 0.5), 0)
        stop = min(int(center + support + 0.5), in_size)
        offsets = (np.arange(start, stop) - center + 0.5) * inverse_scale
        taps = np.maximum(0.0, 1.0 - np.abs(offsets))
        total = taps.sum()
        rows.append((start, taps / total if total != 0.0 else taps))
    max_weight = max(float(taps.max()) for _, taps in rows)
    precision = 0
    for precision in range(22):  # torch's search for its int16 fixed-point precision
        if int(0.5 + max_weight * (1 << (precision + 1))) >= (1 << 15):
            break
    num_taps = max(len(taps) for _, taps in rows)
    indices = np.zeros((out_size, num_taps), np.int64)
    weights = np.zeros((out_size, num_taps), np.float64)
    for i, (start, taps) in enumerate(rows):
        indices[i, : len(taps)] = np.arange(start, start + len(taps))
        weights[i, : len(taps)] = np.trunc(0.5 + taps * (1 << precision)) / (1 << precision)
    return indices, weights


class AntialiasedResize(nn.Module):
    """Resize images holding uint8 values (as float32) like torch's uint8 antialiased bilinear.

    Input (..., H, W) float32 with integer values 0..255; output (..., out_h, out_w), the same.
    Horizontal pass, round half up and clamp (torch keeps a uint8 intermediate), vertical pass,
    round and clamp. Each pass gathers a few taps per output pixel (not a dense matmul), so the
    cost is proportional to the output size. With weights of at most 16 fractional bits (every
    downscale by up to 4×) each product and partial sum is exact in float32, so the result
    does not depend on summation order; an fp16 build must keep these layers in fp32.
    """

    index_x: torch.Tensor
    weight_x: torch.Tensor
    index_y: torch.Tensor
    weight_y: torch.Tensor

    def __init__(self, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> None:
        super().__init__()
        self.in_hw = in_hw
        self.out_hw = out_hw
        self.resize_x = in_hw[1] != out_hw[1]
        self.resize_y = in_hw[0] != out_hw[0]
        index_x, weight_x = antialias_weights(in_hw[1], out_hw[1])
        index_y, weight_y = antialias_weights(in_hw[0], out_hw[0])
        self.register_buffer("index_x", torch.from_numpy(index_x), persistent=False)
        self.register_buffer("weight_x", torch.from_numpy(weight_x).float(), persistent=False)
        self.register_buffer("index_y", torch.from_numpy(index_y), persistent=False)
        self.register_buffer("weight_y", torch.from_numpy(weight_y).float()[:, :, None], persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        # Both passes gather whole rows (contiguous memory): gathering single elements along the
        # last axis is several times slower in ONNX Runtime. The horizontal pass therefore works
        # on the transposed image.
        if self.resize_x:
            transposed = image.transpose(-1, -2)  # (..., W, H)
            taps = _gather_rows(transposed, self.index_x)  # (..., out_w, taps, H)
            image = _round_to_uint8_range((taps * self.weight_x[:, :, None]).sum(-2)).transpose(-1, -2)
        if self.resize_y:
            taps = _gather_rows(image, self.index_y)  # (..., out_h, taps, W')
            image = _round_to_uint8_range((taps * self.weight_y).sum(-2))
        return image


def _gather_rows(image: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``image[..., index, :]`` for a 2-D ``index``, as one ONNX Gather (not GatherND)."""
    rows = torch.index_select(image, image.dim() - 2, index.reshape(-1))
    return rows.reshape(*image.shape[:-2], *index.shape, image.shape[-1])


def _round_to_uint8_range(values: torch.Tensor) -> torch.Tensor:
    return torch.clamp(torch.floor(values + 0.5), 0.0, 255.0)


def pad_to_multiple(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad (..., H, W) at the bottom and right to multiples of ``multiple`` (step 4)."""
    height, width = image.shape[-2], image.shape[-1]
    pad_h = -height % multiple
    pad_w = -width % multiple
    if pad_h == 0 and pad_w == 0:
        return image
    return F.pad(image, (0, pad_w, 0, pad_h))


def local_peak_mask(maps: torch.Tensor, threshold: float) -> torch.Tensor:
    """Which pixels of (..., h, w) maps are local peaks by sleap-nn 0.3.5's rule (step 5).

    A peak is strictly greater than its earlier neighbours (NW, N, NE, W), greater or equal to its
    later ones (E, SW, S, SE), and strictly greater than ``threshold``; neighbours outside the map
    are −inf. Of two equal neighbours only the earlier one in raster order can be a peak.
    (sleap-nn 0.3.5 merges an exact 2×2 flat top into one peak at its mean; this keeps its
    top-left pixel. Exact ties do not occur in practice with float32 maps.)
    """
    padded = F.pad(maps, (1, 1, 1, 1), value=NEGATIVE_INFINITY)
    center = padded[..., 1:-1, 1:-1]
    earlier = (padded[..., :-2, :-2], padded[..., :-2, 1:-1], padded[..., :-2, 2:], padded[..., 1:-1, :-2])
    later = (padded[..., 1:-1, 2:], padded[..., 2:, :-2], padded[..., 2:, 1:-1], padded[..., 2:, 2:])
    is_peak = center > threshold
    for neighbour in earlier:
        is_peak = is_peak & (center > neighbour)
    for neighbour in later:
        is_peak = is_peak & (center >= neighbour)
    return is_peak


def top_k_peaks(
    peak_map: torch.Tensor, threshold: float, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``k`` highest local peaks of one (h, w) map, highest first.

    Returns (rows, cols, values, valid), each (k,): int64 indices, float32 values (−inf where
    invalid), and a validity mask. Invalid slots (fewer than ``k`` peaks) have arbitrary in-map
    indices, so later gathers stay in range.
    """
    width = peak_map.shape[-1]
    scores = torch.where(local_peak_mask(peak_map, threshold), peak_map, NEGATIVE_INFINITY)
    values, flat_index = torch.topk(scores.reshape(-1), k)
    valid = values > NEGATIVE_INFINITY
    return flat_index // width, flat_index % width, values, valid


def integral_offsets(
    maps: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, patch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sub-pixel offsets by integral regression on a patch around integer peaks (step 6).

    ``maps``: (B, h, w); ``rows``/``cols``: (B, P) int64 peak indices inside the maps. Returns
    (dx, dy), each (B, P): ``Σ(g·c)/Σc`` over a ``patch_size``² window of the raw map (zeros
    outside the map), ``g`` the offsets −r..r. No clamping, no softmax; a window summing to 0
    gives a non-finite offset, as in sleap-nn.
    """
    radius = patch_size // 2
    batch, _, width = maps.shape
    padded = F.pad(maps, (radius, radius, radius, radius)).reshape(batch, -1)
    padded_width = width + 2 * radius
    grid = torch.arange(-radius, radius + 1, device=maps.device)
    patch_rows = rows[..., None, None] + radius + grid[:, None]  # (B, P, patch, 1)
    patch_cols = cols[..., None, None] + radius + grid[None, :]  # (B, P, 1, patch)
    flat_index = (patch_rows * padded_width + patch_cols).reshape(batch, -1)
    patches = torch.gather(padded, 1, flat_index).reshape(*rows.shape, patch_size, patch_size)
    offsets = grid.to(maps.dtype)
    total = patches.sum((-2, -1))
    dx = (patches * offsets[None, :]).sum((-2, -1)) / total
    dy = (patches * offsets[:, None]).sum((-2, -1)) / total
    return dx, dy


def global_peaks(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One peak per (..., h, w) map, as sleap-nn's instance stage finds it (step 9).

    x is the argmax over columns of the column-wise max, y the argmax over rows of the row-wise
    max (first index on ties); the value is the map's maximum. Returns (rows, cols, values):
    int64 and float32 tensors of shape (...). A node is found when ``value >= threshold``.
    """
    column_max = maps.amax(dim=-2)  # (B, J, w)
    row_max = maps.amax(dim=-1)  # (B, J, h)
    cols = column_max.argmax(dim=-1)
    rows = row_max.argmax(dim=-1)
    values = column_max.amax(dim=-1)
    return rows, cols, values


def truncate(values: torch.Tensor) -> torch.Tensor:
    """Round toward zero with Floor/Ceil (ONNX opset 18 has no Trunc)."""
    return torch.where(values >= 0, torch.floor(values), torch.ceil(values))


def crop_top_left(centroids: torch.Tensor, crop_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Float and integer crop corners for (K, 2) centroids (x, y), by sleap-nn's rule (step 8).

    Float ``tl = c − crop/2 + 0.5``; integer origin ``o = trunc(tl + crop//2) − crop//2``. Output
    points map back with the float ``tl`` (step 10), the pixels are taken at ``o``.
    """
    top_left = centroids - crop_size / 2 + 0.5
    half = crop_size // 2
    origin = (truncate(top_left + half) - half).to(torch.int64)
    return top_left, origin


def gather_crops(image: torch.Tensor, origin: torch.Tensor, crop_size: int) -> torch.Tensor:
    """Integer crops of a (C, H, W) image at (K, 2) origins (x, y): (K, C, crop, crop).

    Crop pixel (i, j) is image (o_y + i, o_x + j), zero where that lies outside the image; no
    interpolation. One gather of K·crop² pixels per channel, no copy of the frame.
    """
    channels, height, width = image.shape
    grid = torch.arange(crop_size, device=image.device)
    rows = origin[:, 1:2] + grid  # (K, crop)
    cols = origin[:, 0:1] + grid
    inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :]
    flat_index = rows.clamp(0, height - 1)[:, :, None] * width + cols.clamp(0, width - 1)[:, None, :]
    crops = torch.index_select(image.reshape(channels, -1), 1, flat_index.reshape(-1))  # (C, K·crop²)
    crops = crops.reshape(channels, -1, crop_size, crop_size).transpose(0, 1)
    return crops * inside[:, None].to(image.dtype)


def finite_or_zero(values: torch.Tensor) -> torch.Tensor:
    return torch.where(torch.isfinite(values), values, torch.zeros_like(values))


def scaled_size(size: int, scale: float) -> int:
    """sleap-nn's stage size: ``int(size * scale)`` (truncation, step 3)."""
    return int(size * scale)
