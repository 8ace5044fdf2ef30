"""sleap-nn checkpoints load strictly into the exporter's UNet, and the fused module reproduces
sleap-nn's own top-down predictions (shared/fixtures/sleapnn-topdown-A, see its FIXTURE.md)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED

torch = pytest.importorskip("torch")

from export.topdown import TopDownConfig, TopDownModel  # noqa: E402
from export.unet import CENTERED_INSTANCE_HEAD, CENTROID_HEAD, UNet, UNetConfig  # noqa: E402

FIXTURE = SHARED / "fixtures" / "sleapnn-topdown-A"
pytestmark = pytest.mark.skipif(not FIXTURE.is_dir(), reason=f"sleap-nn fixture not found at {FIXTURE}")


def _load(folder: str, head: str, channels: int) -> UNet:
    checkpoint = torch.load(FIXTURE / folder / "best.ckpt", weights_only=True, map_location="cpu")
    state = {key.removeprefix("model."): value for key, value in checkpoint["state_dict"].items()}
    net = UNet(
        UNetConfig(
            output_channels=channels,
            head_name=head,
            filters=16,
            filters_rate=2.0,
            max_stride=16,
            output_stride=2,
        )
    )
    net.load_state_dict(state, strict=True)
    return net.eval()


def test_fused_module_reproduces_sleap_nn_predictions() -> None:
    config = TopDownConfig(
        frame_height=512, frame_width=512, frame_channels=1, max_instances=2, centroid_scale=0.5, crop_size=96
    )
    model = TopDownModel(
        config, _load("centroid", CENTROID_HEAD, 1), _load("centered_instance", CENTERED_INSTANCE_HEAD, 4)
    ).eval()
    frames = np.load(FIXTURE / "frames.npz")["frames"]
    expected = np.load(FIXTURE / "expected.npz")
    for index, frame in enumerate(frames):
        with torch.no_grad():
            points, point_scores, instance_scores, valid, centroids = (
                tensor.numpy() for tensor in model(torch.from_numpy(frame))
            )
        assert valid.all()
        for slot in range(2):  # sleap-nn orders slots differently when there are ≤ K peaks
            match = int(np.argmin(np.linalg.norm(expected["centroids"][index] - centroids[slot], axis=-1)))
            want = {
                name: expected[name][index, match]
                for name in ("keypoints", "centroids", "keypoint_scores", "instance_scores")
            }
            np.testing.assert_allclose(points[slot], want["keypoints"], atol=0.01)
            np.testing.assert_allclose(centroids[slot], want["centroids"], atol=0.01)
            np.testing.assert_allclose(point_scores[slot], want["keypoint_scores"], atol=1e-5)
            np.testing.assert_allclose(instance_scores[slot], want["instance_scores"], atol=1e-5)
