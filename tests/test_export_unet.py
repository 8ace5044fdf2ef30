"""The exporter's UNet reproduces sleap-nn's structure and parameter names (SLEAP_NN_FACTS.md)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from export.unet import CENTROID_HEAD, ClassHeadConfig, UNet, UNetConfig  # noqa: E402


def test_parameter_names_and_shapes_follow_sleap_nn() -> None:
    net = UNet(
        UNetConfig(
            output_channels=1,
            head_name=CENTROID_HEAD,
            filters=16,
            filters_rate=2.0,
            max_stride=16,
            output_stride=2,
        )
    )
    shapes = {name: tuple(value.shape) for name, value in net.state_dict().items()}
    backbone = "backbone."
    expected = {
        "encoders.0.encoder_stack.0.blocks.stack0_enc0_conv0": (16, 1, 3, 3),
        "encoders.0.encoder_stack.3.blocks.stack0_enc3_conv1": (128, 128, 3, 3),
        "middle_blocks.0.blocks.stack0_enc5_middle_expand_conv0": (256, 128, 3, 3),
        "middle_blocks.1.blocks.stack0_enc6_middle_contract_conv0": (256, 256, 3, 3),
        # skip first, then the upsampled tensor: 128 + 256 input channels
        "decoders.0.decoder_stack.0.blocks.stack0_dec0_s16_to_s8_refine_conv0": (128, 384, 3, 3),
        "decoders.0.decoder_stack.2.blocks.stack0_dec2_s4_to_s2_refine_conv1": (32, 32, 3, 3),
    }
    for name, shape in expected.items():
        assert shapes[backbone + name + ".weight"] == shape
        assert shapes[backbone + name + ".bias"] == shape[:1]
    assert shapes["head_layers.0.CentroidConfmapsHead.0.weight"] == (1, 32, 1, 1)
    assert len(shapes) == 34


def test_output_stride_and_filters_rate() -> None:
    net = UNet(UNetConfig(output_channels=5, filters=8, filters_rate=1.5, max_stride=16, output_stride=2))
    assert net(torch.zeros(2, 1, 64, 48)).shape == (2, 5, 32, 24)
    middle = net.state_dict()["backbone.middle_blocks.1.blocks.stack0_enc6_middle_contract_conv0.weight"]
    assert middle.shape[0] == int(8 * 1.5**4)


def test_stem_adds_named_stem_blocks() -> None:
    net = UNet(UNetConfig(output_channels=1, filters=8, max_stride=16, output_stride=2, stem_stride=2))
    names = set(net.state_dict())
    assert "backbone.stem.stem_stack.0.blocks.stem0_conv0.weight" in names
    assert net(torch.zeros(1, 1, 64, 64)).shape == (1, 1, 32, 32)


@pytest.mark.parametrize(
    "overrides", [{"max_stride": 12}, {"convs_per_block": 1}, {"middle_block": False}, {"stem_stride": 4}]
)
def test_configs_sleap_nn_cannot_run_are_rejected(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="UNetConfig"):
        UNetConfig(output_channels=1, **overrides)  # type: ignore[arg-type]


def test_transposed_conv_decoder_uses_sleap_nn_names() -> None:
    # sleap-nn: ConvTranspose2d(in, block filters, 3, stride 2, padding 1, output_padding 1) named
    # "{prefix}_trans_conv", then ReLU; the first refine conv takes skip + block filters channels.
    net = UNet(
        UNetConfig(output_channels=1, filters=16, max_stride=16, output_stride=2, up_interpolate=False)
    )
    shapes = {name: tuple(value.shape) for name, value in net.state_dict().items()}
    block = "backbone.decoders.0.decoder_stack.0.blocks.stack0_dec0_s16_to_s8"
    assert shapes[f"{block}_trans_conv.weight"] == (256, 128, 3, 3)
    assert shapes[f"{block}_refine_conv0.weight"] == (128, 256, 3, 3)
    assert net(torch.zeros(1, 1, 64, 32)).shape == (1, 1, 32, 16)


def test_class_head_uses_sleap_nn_names_and_pools_the_middle_block() -> None:
    config = UNetConfig(
        output_channels=3,
        filters=8,
        max_stride=16,
        output_stride=2,
        class_head=ClassHeadConfig(num_classes=2, num_fc_layers=2, num_fc_units=10),
    )
    net = UNet(config)
    shapes = {name: tuple(value.shape) for name, value in net.state_dict().items()}
    assert shapes["head_layers.1.pre_classification0_fc.weight"] == (10, 128)  # f(4) = 8·2⁴ middle channels
    assert shapes["head_layers.1.pre_classification1_fc.weight"] == (10, 10)
    assert shapes["head_layers.1.ClassVectorsHead.weight"] == (2, 10)
    maps, probs = net.maps_and_classes(torch.rand(4, 1, 32, 32))
    assert maps.shape == (4, 3, 16, 16) and probs is not None and probs.shape == (4, 2)
    torch.testing.assert_close(probs.sum(-1), torch.ones(4))
