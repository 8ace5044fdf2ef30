"""Fake sleap-nn model folders with random weights: a training_config.yaml shaped like the ones
sleap-nn 0.3.5 writes (shared/fixtures/sleapnn-topdown-A/*/training_config.yaml, trimmed to the
fields the exporter reads plus the null heads) and a best.ckpt whose ``state_dict`` holds
``model.``-prefixed weights, as a Lightning checkpoint does.

The weights come from the exporter's own UNet, whose names follow sleap-nn's (tests/test_export_unet.py
and tests/test_export_sleapnn_fixture.py check them against real checkpoints). Head biases are lifted
so that random maps have peaks above the 0.2 threshold and every stage of the decode is exercised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from export.unet import CENTERED_INSTANCE_HEAD, CENTROID_HEAD, ClassHeadConfig, UNet, UNetConfig

ALL_HEADS = (
    "single_instance",
    "centroid",
    "centered_instance",
    "bottomup",
    "multi_class_bottomup",
    "multi_class_topdown",
)


@dataclass
class FakeModel:
    """What to write: the model type, the UNet geometry and the preprocessing."""

    model_type: str
    node_names: list[str] = field(default_factory=lambda: ["head", "tail", "left"])
    filters: int = 4
    filters_rate: float = 1.5
    max_stride: int = 8
    output_stride: int = 2
    stem_stride: int | None = None
    up_interpolate: bool = True
    in_channels: int = 1
    ensure_grayscale: bool = True
    ensure_rgb: bool = False
    max_height: int | None = 64
    max_width: int | None = 80
    scale: float = 1.0
    crop_size: int | None = None
    classes: list[str] = field(default_factory=list)
    num_fc_layers: int = 1
    num_fc_units: int = 8
    seed: int = 0
    head_bias: float = 0.5

    def unet_config(self) -> UNetConfig:
        centroid = self.model_type == "centroid"
        class_head = None
        if self.model_type == "multi_class_topdown":
            class_head = ClassHeadConfig(len(self.classes), self.num_fc_layers, self.num_fc_units)
        return UNetConfig(
            output_channels=1 if centroid else len(self.node_names),
            head_name=CENTROID_HEAD if centroid else CENTERED_INSTANCE_HEAD,
            in_channels=self.in_channels,
            filters=self.filters,
            filters_rate=self.filters_rate,
            max_stride=self.max_stride,
            output_stride=self.output_stride,
            stem_stride=self.stem_stride,
            up_interpolate=self.up_interpolate,
            class_head=class_head,
        )


def write_fake_model_folder(folder: Path, fake: FakeModel) -> UNet:
    """Write ``folder``/training_config.yaml and best.ckpt; return the network with those weights."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "training_config.yaml").write_text(yaml.safe_dump(training_config(fake), sort_keys=False))
    torch.manual_seed(fake.seed)
    net = UNet(fake.unet_config()).eval()
    with torch.no_grad():
        net.head_layers[0][net.config.head_name][0].bias.fill_(fake.head_bias)
    state = {f"model.{name}": value for name, value in net.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 3, "global_step": 42}, folder / "best.ckpt")
    return net


def training_config(fake: FakeModel) -> dict[str, Any]:
    confmaps: dict[str, Any] = {"anchor_part": None, "sigma": 2.5, "output_stride": fake.output_stride}
    if fake.model_type != "centroid":
        confmaps["part_names"] = list(fake.node_names)
    head: dict[str, Any] = {"confmaps": confmaps}
    if fake.model_type == "multi_class_topdown":
        head["class_vectors"] = {
            "classes": list(fake.classes),
            "num_fc_layers": fake.num_fc_layers,
            "num_fc_units": fake.num_fc_units,
            "global_pool": True,
            "output_stride": fake.max_stride,
            "loss_weight": 1.0,
        }
    heads: dict[str, Any] = {name: None for name in ALL_HEADS}
    heads[fake.model_type] = head
    nodes = fake.node_names
    return {
        "data_config": {
            "preprocessing": {
                "ensure_rgb": fake.ensure_rgb,
                "ensure_grayscale": fake.ensure_grayscale,
                "max_height": fake.max_height,
                "max_width": fake.max_width,
                "scale": fake.scale,
                "crop_size": fake.crop_size,
            },
            "skeletons": [
                {
                    "nodes": [{"name": name} for name in nodes],
                    "edges": [{"source": {"name": nodes[0]}, "destination": {"name": nodes[1]}}],
                    "symmetries": [],
                    "name": "fake",
                }
            ],
        },
        "model_config": {
            "init_weights": "default",
            "backbone_config": {
                "unet": {
                    "in_channels": fake.in_channels,
                    "kernel_size": 3,
                    "filters": fake.filters,
                    "filters_rate": fake.filters_rate,
                    "max_stride": fake.max_stride,
                    "stem_stride": fake.stem_stride,
                    "middle_block": True,
                    "up_interpolate": fake.up_interpolate,
                    "stacks": 1,
                    "convs_per_block": 2,
                    "output_stride": fake.output_stride,
                },
                "convnext": None,
                "swint": None,
            },
            "head_configs": heads,
        },
        "sleap_nn_version": "0.3.5",
    }
