"""The decode math of the fused graph (export/decode.py, export/topdown.py) on hand-made maps."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from export.decode import (  # noqa: E402
    AntialiasedResize,
    crop_top_left,
    gather_crops,
    integral_offsets,
    local_peak_mask,
    top_k_peaks,
)
from export.topdown import TopDownConfig, TopDownModel  # noqa: E402
from export.unet import UNet, UNetConfig  # noqa: E402


def _map(height: int, width: int, values: dict[tuple[int, int], float]) -> torch.Tensor:
    image = torch.zeros(height, width)
    for (row, col), value in values.items():
        image[row, col] = value
    return image


def _peaks(image: torch.Tensor, threshold: float = 0.2) -> set[tuple[int, int]]:
    rows, cols = torch.nonzero(local_peak_mask(image, threshold), as_tuple=True)
    return set(zip(rows.tolist(), cols.tolist(), strict=True))


def test_single_peak_and_strict_threshold() -> None:
    assert _peaks(_map(7, 7, {(3, 4): 0.9})) == {(3, 4)}
    assert _peaks(_map(7, 7, {(3, 4): 0.2}), threshold=0.2) == set()
    assert _peaks(_map(7, 7, {(3, 4): 0.2001}), threshold=0.2) == {(3, 4)}


def test_peaks_on_the_border_count_outside_as_minus_infinity() -> None:
    assert _peaks(_map(5, 5, {(0, 0): 0.5, (4, 4): 0.7, (0, 4): 0.6})) == {(0, 0), (4, 4), (0, 4)}


def test_equal_neighbours_keep_the_earlier_one_in_raster_order() -> None:
    assert _peaks(_map(7, 7, {(3, 2): 0.5, (3, 3): 0.5})) == {(3, 2)}  # W/E tie: left wins
    assert _peaks(_map(7, 7, {(2, 3): 0.5, (3, 3): 0.5})) == {(2, 3)}  # N/S tie: top wins
    assert _peaks(_map(7, 7, {(2, 4): 0.5, (3, 3): 0.5})) == {(2, 4)}  # NE/SW tie: top wins
    flat_top = {(2, 2): 0.5, (2, 3): 0.5, (3, 2): 0.5, (3, 3): 0.5}
    assert _peaks(_map(7, 7, flat_top)) == {(2, 2)}


def test_a_lower_neighbour_is_not_a_peak() -> None:
    assert _peaks(_map(7, 7, {(3, 3): 0.9, (3, 4): 0.8, (4, 4): 0.85})) == {(3, 3)}


@pytest.mark.parametrize(
    ("values", "expected_valid", "expected_values"),
    [
        ({}, [False, False], None),
        ({(1, 6): 0.6}, [True, False], [0.6]),
        ({(1, 1): 0.3, (5, 6): 0.9, (6, 2): 0.7}, [True, True], [0.9, 0.7]),
    ],
)
def test_top_k_fills_slots_by_value_with_a_validity_mask(
    values: dict[tuple[int, int], float], expected_valid: list[bool], expected_values: list[float] | None
) -> None:
    rows, cols, peak_values, valid = top_k_peaks(_map(8, 8, values), 0.2, k=2)
    assert valid.tolist() == expected_valid
    assert rows.shape == cols.shape == (2,)
    assert ((rows >= 0) & (rows < 8) & (cols >= 0) & (cols < 8)).all()  # gathers stay in range
    found = [(int(r), int(c)) for r, c, ok in zip(rows, cols, valid, strict=True) if ok]
    assert [values[p] for p in found] == pytest.approx(expected_values or [])
    assert torch.isinf(peak_values[~valid]).all()


def test_integral_refinement_matches_a_hand_computed_value() -> None:
    # Window around (3, 3): centre 1.0, right 0.5, below 0.25, up-left 0.25 (offsets −1, −1).
    image = _map(8, 8, {(3, 3): 1.0, (3, 4): 0.5, (4, 3): 0.25, (2, 2): 0.25, (3, 6): 9.0})
    dx, dy = integral_offsets(image[None], torch.tensor([[3]]), torch.tensor([[3]]), 5)
    total = 1.0 + 0.5 + 0.25 + 0.25  # (3, 6) is outside the 5×5 window
    assert float(dx) == pytest.approx((0.5 - 0.25) / total)
    assert float(dy) == pytest.approx((0.25 - 0.25) / total)


def test_integral_refinement_treats_outside_the_map_as_zero() -> None:
    image = _map(6, 6, {(0, 0): 1.0, (0, 1): 0.5, (1, 0): 0.25})
    dx, dy = integral_offsets(image[None], torch.tensor([[0]]), torch.tensor([[0]]), 5)
    assert float(dx) == pytest.approx(0.5 / 1.75)
    assert float(dy) == pytest.approx(0.25 / 1.75)


@pytest.mark.parametrize(
    ("centroid", "crop", "top_left", "origin"),
    [
        ((100.3, 50.7), 64, (68.8, 19.2), (68, 19)),
        ((100.5, 50.49), 64, (69.0, 18.99), (69, 18)),
        ((10.0, 20.0), 9, (6.0, 16.0), (6, 16)),  # odd crop: o = trunc(tl + 4) − 4
        ((-1.0, 3.0), 64, (-32.5, -28.5), (-32, -29)),  # trunc, not floor, of −0.5
    ],
)
def test_crop_origin_rule(
    centroid: tuple[float, float], crop: int, top_left: tuple[float, float], origin: tuple[int, int]
) -> None:
    tl, o = crop_top_left(torch.tensor([centroid]), crop)
    assert tl[0].tolist() == pytest.approx(top_left, abs=1e-4)
    assert o[0].tolist() == list(origin)


def test_crops_are_integer_windows_with_zeros_outside_the_frame() -> None:
    image = torch.arange(1, 1 + 2 * 6 * 8, dtype=torch.float32).reshape(2, 6, 8)  # C=2, H=6, W=8
    origins = torch.tensor([[2, 1], [-2, -3], [6, 4]])  # (x, y): inside, top-left corner, bottom-right
    crops = gather_crops(image, origins, 4)
    assert crops.shape == (3, 2, 4, 4)
    padded = F.pad(image, (4, 4, 4, 4))
    for k, (x, y) in enumerate(origins.tolist()):
        expected = padded[:, y + 4 : y + 8, x + 4 : x + 8]
        assert torch.equal(crops[k], expected)


@pytest.mark.parametrize(
    ("in_hw", "out_hw"), [((256, 256), (128, 128)), ((300, 400), (90, 120)), ((64, 48), (100, 48))]
)
def test_resize_equals_torch_uint8_antialias(in_hw: tuple[int, int], out_hw: tuple[int, int]) -> None:
    image = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (1, *in_hw), dtype=np.uint8))
    expected = F.interpolate(image[None], out_hw, mode="bilinear", antialias=True, align_corners=False)[0]
    got = AntialiasedResize(in_hw, out_hw)(image.float())
    assert torch.equal(got, expected.float())


class _FixedMaps(UNet):
    """A UNet stand-in that returns prepared confidence maps, to test the decode around it."""

    def __init__(self, config: UNetConfig, maps: torch.Tensor) -> None:
        super().__init__(config)
        self.maps = maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maps.expand(x.shape[0], -1, -1, -1)


def test_fused_decode_maps_peaks_to_frame_coordinates() -> None:
    # 64² frame, centroid stage ×0.5 (32²) at stride 2 → 16² map; 16² crops at stride 2 → 8² maps.
    centroid_map = torch.zeros(1, 1, 16, 16)
    centroid_map[0, 0, 5, 7] = 0.9
    instance_maps = torch.zeros(1, 2, 8, 8)
    instance_maps[0, 0, 3, 4] = 0.8
    instance_maps[0, 0, 3, 5] = 0.4  # integral offset +1/3 map pixel in x
    instance_maps[0, 1] = 0.1  # below the instance threshold everywhere
    config = TopDownConfig(
        frame_height=64, frame_width=64, frame_channels=1, max_instances=2, centroid_scale=0.5, crop_size=16
    )
    model = TopDownModel(
        config,
        _FixedMaps(UNetConfig(output_channels=1, filters=2, max_stride=16), centroid_map),
        _FixedMaps(UNetConfig(output_channels=2, filters=2, max_stride=16), instance_maps),
    )
    points, point_scores, instance_scores, valid, centroids = model(torch.zeros(64, 64, 1, dtype=torch.uint8))
    assert valid.tolist() == [True, False]
    assert centroids[0].tolist() == pytest.approx([7 * 2 / 0.5, 5 * 2 / 0.5])  # (28, 20)
    top_left = (28 - 8 + 0.5, 20 - 8 + 0.5)
    assert points[0, 0].tolist() == pytest.approx([(4 + 0.4 / 1.2) * 2 + top_left[0], 3 * 2 + top_left[1]])
    assert point_scores[0].tolist() == pytest.approx([0.8, 0.0])
    assert torch.isnan(points[0, 1]).all()  # node below threshold: NaN, score 0
    assert instance_scores.tolist() == pytest.approx([0.9, 0.0])
    assert torch.isnan(points[1]).all() and torch.isnan(centroids[1]).all()  # empty slot
    assert point_scores[1].tolist() == [0.0, 0.0]
    assert not math.isnan(float(points[0, 0, 0]))


def test_fused_decode_with_size_matching_and_instance_scale() -> None:
    # A 100×80 RGB frame for a grayscale model trained at 64²: s = min(64/100, 64/80) = 0.64, the
    # frame becomes 64×51 (+ zero padding to 64²); crops of 16 are scaled ×0.5 for the instance net.
    centroid_map = torch.zeros(1, 1, 16, 16)
    centroid_map[0, 0, 5, 7] = 0.9
    instance_maps = torch.zeros(1, 1, 8, 8)
    instance_maps[0, 0, 3, 4] = 0.8
    config = TopDownConfig(
        frame_height=100,
        frame_width=80,
        frame_channels=3,
        max_instances=1,
        centroid_scale=0.5,
        crop_size=16,
        instance_scale=0.5,
        model_height=64,
        model_width=64,
    )
    model = TopDownModel(
        config,
        _FixedMaps(UNetConfig(output_channels=1, filters=2, max_stride=16), centroid_map),
        _FixedMaps(UNetConfig(output_channels=1, filters=2, max_stride=16), instance_maps),
    )
    points, _, _, valid, centroids = model(torch.zeros(100, 80, 3, dtype=torch.uint8))
    s = 0.64
    centroid = (7 * 2 / 0.5, 5 * 2 / 0.5)  # in the size-matched frame
    assert valid.tolist() == [True]
    assert centroids[0].tolist() == pytest.approx([centroid[0] / s, centroid[1] / s], abs=1e-4)
    in_crop = (4 * 2 / 0.5, 3 * 2 / 0.5)
    top_left = (centroid[0] - 8 + 0.5, centroid[1] - 8 + 0.5)
    expected = [(in_crop[0] + top_left[0]) / s, (in_crop[1] + top_left[1]) / s]
    assert points[0, 0].tolist() == pytest.approx(expected, abs=1e-4)
