"""A UNet whose structure and parameter names follow sleap-nn 0.3.5's, so its checkpoints load strictly.

See shared/SLEAP_NN_FACTS.md ("UNet"). In short, with ``D = log2(max_stride) - stem_blocks`` down
blocks and ``f(e) = int(filters * filters_rate**e)`` channels at level ``e``:

- optional stem: ``stem_blocks`` blocks of ``convs_per_block`` convs (kernel ``stem_kernel_size``),
  block 0 without a pool, later ones 2×2-pool first, then one more 2×2 pool;
- encoder block ``i``: 2×2 max-pool first (unless it is the very first block of the network), then
  ``convs_per_block`` × (conv, ReLU); then one more 2×2 pool after the last block;
- middle: "expand" (``convs_per_block - 1`` convs to ``f(D + stem)``) and "contract" (one conv);
- decoder block ``b``: bilinear ×2 (align_corners=False) or, with ``up_interpolate: false``, a
  3×3 stride-2 transposed conv (padding 1, output padding 1) + ReLU to the block's filters; then
  concatenate **skip first**, then 2 × (conv, ReLU) to ``f(max(0, D + stem - 1 - b))`` channels;
  blocks beyond the available skips (only with a stem) have one conv and no concatenation;
- head: a 1×1 conv, identity activation;
- optional class head (multi-class top-down): global max-pool of the middle block's output →
  ``num_fc_layers`` × (Linear, ReLU) → Linear → softmax: class probabilities per input.

Module names reproduce sleap-nn's state-dict keys (``backbone.encoders.0.encoder_stack.{i}.blocks.
stack0_enc{i}_conv{j}``, ``head_layers.0.<HeadName>.0``, ...), so ``load_state_dict(strict=True)``
on a sleap-nn checkpoint (with its ``model.`` prefix stripped) works. Parameter-free layers (pools,
ReLUs) carry names too, but only parameters appear in a state dict.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

CENTROID_HEAD = "CentroidConfmapsHead"
# sleap-nn's UNet does not pass convs_per_block to its decoder, whose default is 2.
DECODER_CONVS_PER_BLOCK = 2
CENTERED_INSTANCE_HEAD = "CenteredInstanceConfmapsHead"
CLASS_VECTORS_HEAD = "ClassVectorsHead"
TRANSPOSED_CONV_KERNEL_SIZE = 3  # sleap-nn's UNet does not pass its own value either


@dataclass(frozen=True)
class ClassHeadConfig:
    """sleap-nn's ``class_vectors`` head (multi-class top-down): identity classes per crop."""

    num_classes: int
    num_fc_layers: int = 1
    num_fc_units: int = 64

    def __post_init__(self) -> None:
        if self.num_classes < 1:
            raise ValueError("ClassHeadConfig.num_classes must be at least 1")
        if self.num_fc_layers < 0 or self.num_fc_units < 1:
            raise ValueError("ClassHeadConfig: num_fc_layers must be ≥ 0 and num_fc_units ≥ 1")


@dataclass(frozen=True)
class UNetConfig:
    """The fields of sleap-nn's ``backbone_config.unet`` plus the head.

    Bilinear (``up_interpolate: true``, sleap-nn's default) and transposed-conv up-sampling are
    supported; one stack and no block contraction, which is what sleap-nn's UNet configs use.
    """

    output_channels: int
    head_name: str = CENTROID_HEAD
    in_channels: int = 1
    filters: int = 16
    filters_rate: float = 2.0
    max_stride: int = 16
    output_stride: int = 2
    convs_per_block: int = 2
    kernel_size: int = 3
    stem_stride: int | None = None
    stem_kernel_size: int = 7
    middle_block: bool = True
    up_interpolate: bool = True
    class_head: ClassHeadConfig | None = None

    def __post_init__(self) -> None:
        for name in ("max_stride", "output_stride"):
            value = getattr(self, name)
            if value < 1 or value & (value - 1):
                raise ValueError(f"UNetConfig.{name} must be a power of two, got {value}")
        stem = self.stem_stride
        if stem is not None and (stem < 2 or stem & (stem - 1)):
            raise ValueError(f"UNetConfig.stem_stride must be a power of two ≥ 2, got {self.stem_stride}")
        if self.output_stride > self.max_stride:
            raise ValueError("UNetConfig.output_stride must not exceed max_stride")
        if self.down_blocks < 1:
            raise ValueError("UNetConfig: max_stride must exceed stem_stride (at least one down block)")
        # sleap-nn builds but cannot run these (its layers disagree on channel counts), so no
        # trained checkpoint can use them.
        if self.convs_per_block < 2:
            raise ValueError("UNetConfig.convs_per_block must be at least 2 (as in sleap-nn)")
        if not self.middle_block:
            raise ValueError("UNetConfig.middle_block must be True (sleap-nn's UNet needs it)")
        if self.stem_blocks > 1:
            raise ValueError("UNetConfig.stem_stride above 2 is not supported (sleap-nn cannot run it)")

    @property
    def stem_blocks(self) -> int:
        return 0 if self.stem_stride is None else int(math.log2(self.stem_stride))

    @property
    def down_blocks(self) -> int:
        return int(math.log2(self.max_stride)) - self.stem_blocks

    @property
    def up_blocks(self) -> int:
        return int(math.log2(self.max_stride // self.output_stride)) + self.stem_blocks

    def channels(self, level: int) -> int:
        """Channels at level ``level`` (sleap-nn: ``int(filters * filters_rate**level)``)."""
        return int(self.filters * self.filters_rate**level)


def _conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding="same", bias=True)


class ConvBlock(nn.Module):
    """Optional 2×2 max-pool, then ``num_convs`` × (conv, ReLU); layers named ``{prefix}_conv{j}``."""

    def __init__(
        self, prefix: str, in_channels: int, filters: int, num_convs: int, kernel_size: int, pool: bool
    ) -> None:
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        if pool:
            layers[f"{prefix}_pool"] = nn.MaxPool2d(kernel_size=2, stride=2)
        for j in range(num_convs):
            layers[f"{prefix}_conv{j}"] = _conv(in_channels if j == 0 else filters, filters, kernel_size)
            layers[f"{prefix}_act{j}_relu"] = nn.ReLU()
        self.blocks = nn.Sequential(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output: torch.Tensor = self.blocks(x)
        return output


class UpsamplingBlock(nn.Module):
    """×2 up-sampling, concatenate (skip, upsampled) when there is a skip, then (conv, ReLU) × n.

    Up-sampling is bilinear, or (``up_interpolate=False``) a transposed conv + ReLU to
    ``filters`` channels named ``{prefix}_trans_conv`` as in sleap-nn.
    """

    def __init__(
        self,
        prefix: str,
        in_channels: int,
        skip_channels: int,
        filters: int,
        num_convs: int,
        kernel_size: int,
        up_interpolate: bool = True,
    ) -> None:
        super().__init__()
        self.has_skip = skip_channels > 0
        self.up_interpolate = up_interpolate
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        if not up_interpolate:
            layers[f"{prefix}_trans_conv"] = nn.ConvTranspose2d(
                in_channels,
                filters,
                TRANSPOSED_CONV_KERNEL_SIZE,
                stride=2,
                padding=1,
                output_padding=1,
                bias=True,
            )
            layers[f"{prefix}_trans_conv_act_relu"] = nn.ReLU()
            in_channels = filters
        self.upsampling_layers = len(layers)
        for j in range(num_convs):
            conv_in = in_channels + skip_channels if j == 0 else filters
            layers[f"{prefix}_refine_conv{j}"] = _conv(conv_in, filters, kernel_size)
            layers[f"{prefix}_refine_conv{j}_act_relu"] = nn.ReLU()
        self.blocks = nn.Sequential(layers)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        layers = list(self.blocks)
        if self.up_interpolate:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        for layer in layers[: self.upsampling_layers]:
            x = layer(x)
        if skip is not None:
            x = torch.cat((skip, x), dim=1)
        for layer in layers[self.upsampling_layers :]:
            x = layer(x)
        return x


class Stem(nn.Module):
    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.stem_stack = nn.ModuleList()
        channels = config.in_channels
        for k in range(config.stem_blocks):
            filters = config.channels(k)
            self.stem_stack.append(
                ConvBlock(
                    f"stem{k}", channels, filters, config.convs_per_block, config.stem_kernel_size, pool=k > 0
                )
            )
            channels = filters
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.stem_stack:
            x = block(x)
        return F.max_pool2d(x, kernel_size=2, stride=2)


class Encoder(nn.Module):
    def __init__(self, config: UNetConfig, in_channels: int) -> None:
        super().__init__()
        self.encoder_stack = nn.ModuleList()
        self.out_channels: list[int] = []
        channels = in_channels
        for i in range(config.down_blocks):
            filters = config.channels(i + config.stem_blocks)
            pool = i + config.stem_blocks > 0
            self.encoder_stack.append(
                ConvBlock(
                    f"stack0_enc{i}", channels, filters, config.convs_per_block, config.kernel_size, pool
                )
            )
            self.out_channels.append(filters)
            channels = filters

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return the pooled bottom tensor and the block outputs, deepest first."""
        skips = []
        for block in self.encoder_stack:
            x = block(x)
            skips.append(x)
        return F.max_pool2d(x, kernel_size=2, stride=2), skips[::-1]


class Backbone(nn.Module):
    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.stem = Stem(config) if config.stem_blocks > 0 else None
        encoder_in = self.stem.out_channels if self.stem is not None else config.in_channels
        self.encoders = nn.ModuleList([Encoder(config, encoder_in)])
        depth = config.down_blocks + config.stem_blocks
        bottom = config.channels(depth - 1)
        self.middle_blocks = nn.ModuleList()
        if config.middle_block:
            block_number = config.down_blocks + 1
            if config.convs_per_block > 1:
                self.middle_blocks.append(
                    ConvBlock(
                        f"stack0_enc{block_number}_middle_expand",
                        bottom,
                        config.channels(depth),
                        config.convs_per_block - 1,
                        config.kernel_size,
                        pool=False,
                    )
                )
                block_number += 1
            self.middle_blocks.append(
                ConvBlock(
                    f"stack0_enc{block_number}_middle_contract",
                    config.channels(depth),
                    config.channels(depth),
                    1,
                    config.kernel_size,
                    pool=False,
                )
            )
            bottom = config.channels(depth)
        decoder = Decoder(config, bottom)
        self.decoders = nn.ModuleList([decoder])
        self.out_channels = decoder.out_channels

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (decoder output at output_stride, middle block output)."""
        stem_output = self.stem(x) if self.stem is not None else x
        x, skips = self.encoders[0](stem_output)
        for block in self.middle_blocks:
            x = block(x)
        middle_output = x
        if self.stem is not None:
            skips.append(stem_output)
        return self.decoders[0](x, skips), middle_output


class Decoder(nn.Module):
    def __init__(self, config: UNetConfig, in_channels: int) -> None:
        super().__init__()
        self.decoder_stack = nn.ModuleList()
        depth = config.down_blocks + config.stem_blocks
        stride = 2 * config.max_stride if config.stem_blocks > 0 else config.max_stride
        channels = in_channels
        self.uses_skip: list[bool] = []
        for b in range(config.up_blocks):
            filters = config.channels(max(0, depth - 1 - b))
            beyond_skips = config.stem_blocks > 0 and b >= depth
            self.decoder_stack.append(
                UpsamplingBlock(
                    f"stack0_dec{b}_s{stride}_to_s{stride // 2}",
                    channels,
                    0 if beyond_skips else filters,
                    filters,
                    1 if beyond_skips else DECODER_CONVS_PER_BLOCK,
                    config.kernel_size,
                    config.up_interpolate,
                )
            )
            self.uses_skip.append(not beyond_skips)
            channels = filters
            stride //= 2
        self.out_channels = channels

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        for b, block in enumerate(self.decoder_stack):
            x = block(x, skips[b] if self.uses_skip[b] else None)
        return x


def class_vectors_head(in_channels: int, config: ClassHeadConfig) -> nn.Sequential:
    """sleap-nn's class head, with its layer names: pool, flatten, fc layers, output, softmax."""
    if config.num_fc_layers == 0 and config.num_fc_units != in_channels:
        # sleap-nn sizes the output layer from num_fc_units even without fc layers.
        raise ValueError(
            "ClassHeadConfig: with num_fc_layers 0, sleap-nn needs num_fc_units = middle channels"
        )
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["pre_classification_global_pool"] = nn.AdaptiveMaxPool2d(1)
    layers["pre_classification_flatten"] = nn.Flatten(start_dim=1)
    features = in_channels
    for i in range(config.num_fc_layers):
        layers[f"pre_classification{i}_fc"] = nn.Linear(features, config.num_fc_units)
        layers[f"pre_classification{i}_relu"] = nn.ReLU()
        features = config.num_fc_units
    layers[CLASS_VECTORS_HEAD] = nn.Linear(config.num_fc_units, config.num_classes)
    layers["softmax"] = nn.Softmax(dim=-1)
    return nn.Sequential(layers)


class UNet(nn.Module):
    """Backbone plus a 1×1 confidence-map head: (N, C, H, W) float → (N, output_channels, H/s, W/s).

    H and W must be multiples of ``max_stride`` (twice that with a stem); ``s`` is
    ``output_stride``. The input is the image divided by 255 (sleap-nn's normalisation); outputs
    are raw (no activation). With a class head, ``maps_and_classes`` also returns (N, classes)
    probabilities.
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = Backbone(config)
        head = nn.Sequential(nn.Conv2d(self.backbone.out_channels, config.output_channels, kernel_size=1))
        self.head_layers = nn.ModuleList([nn.ModuleDict({config.head_name: head})])
        if config.class_head is not None:
            middle_channels = config.channels(config.down_blocks + config.stem_blocks)
            self.head_layers.append(class_vectors_head(middle_channels, config.class_head))

    @property
    def total_stride(self) -> int:
        """The factor the input sides must be multiples of (a stem adds one more pooling)."""
        return self.config.max_stride * (2 if self.config.stem_blocks > 0 else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maps_and_classes(x)[0]

    def maps_and_classes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Confidence maps, and class probabilities (N, classes) if there is a class head.

        A network converted with ``.half()`` computes in fp16 between a cast of its input and a
        cast of its outputs back to the input's dtype (fp32): the fp16 export keeps everything
        around the UNets (resize, peaks, refinement) in fp32.
        """
        input_dtype = x.dtype
        weight_dtype = next(self.parameters()).dtype
        features, middle_output = self.backbone(x.to(weight_dtype))
        heads = cast(nn.ModuleDict, self.head_layers[0])
        maps: torch.Tensor = heads[self.config.head_name](features).to(input_dtype)
        if len(self.head_layers) < 2:
            return maps, None
        class_probs: torch.Tensor = self.head_layers[1](middle_output).to(input_dtype)
        return maps, class_probs
