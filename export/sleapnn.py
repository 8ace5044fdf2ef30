"""Load sleap-nn model folders (``best.ckpt`` + ``training_config.yaml``) into the exporter's UNet.

A sleap-nn 0.3.x model folder holds a Lightning checkpoint without hyperparameters, so the network
is rebuilt from ``training_config.yaml`` (``export/sleapnn_config.py``) and the checkpoint's
``state_dict`` (every key prefixed ``model.``) is loaded strictly. Before loading, the names and
shapes are compared so that a checkpoint that does not fit its config is reported in plain words
(which weights are missing, which are extra, which have another shape) instead of torch's dump.

``load_topdown_pair`` checks that a centroid folder and an instance folder belong together
(node names, input channels) and returns both, ready for ``export/sleapnn_export.py``.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from export.sleapnn_config import (
    CENTROID_TYPES,
    INSTANCE_TYPES,
    SUPPORTED_TYPES_TEXT,
    SleapNnModelError,
    TrainingConfig,
    read_training_config,
)
from export.unet import UNet
from rtpose.core.model_metadata import sha256_of

CHECKPOINT_FILE = "best.ckpt"
CONFIG_FILE = "training_config.yaml"
STATE_DICT_PREFIX = "model."
LISTED_KEYS = 5  # names shown per kind of mismatch; the rest are counted


@dataclass(frozen=True)
class SleapNnModel:
    """One loaded sleap-nn model folder: its config, the network with its weights, and hashes."""

    folder: Path
    config: TrainingConfig
    network: UNet
    config_sha256: str
    checkpoint_sha256: str
    checkpoint_info: dict[str, str | int | None]

    @property
    def model_type(self) -> str:
        return self.config.model_type


def load_model_folder(folder: Path) -> SleapNnModel:
    """Read ``folder``'s config, build the UNet and load ``best.ckpt`` into it strictly."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SleapNnModelError(
            f"{folder} is not a folder; give a sleap-nn model folder "
            f"(with {CHECKPOINT_FILE} and {CONFIG_FILE})"
        )
    config_path = folder / CONFIG_FILE
    checkpoint_path = folder / CHECKPOINT_FILE
    config = read_training_config(config_path)
    if not checkpoint_path.is_file():
        raise SleapNnModelError(
            f"{checkpoint_path} is missing: a sleap-nn model folder holds {CHECKPOINT_FILE}"
        )
    checkpoint = _read_checkpoint(checkpoint_path)
    network = UNet(config.unet)
    state = _model_state(checkpoint, checkpoint_path)
    _check_state_fits(network, state, checkpoint_path, config_path)
    network.load_state_dict(state, strict=True)
    info: dict[str, str | int | None] = {
        key: _plain(checkpoint.get(key)) for key in ("epoch", "global_step", "pytorch-lightning_version")
    }
    return SleapNnModel(
        folder=folder,
        config=config,
        network=network.eval(),
        config_sha256=sha256_of(config_path),
        checkpoint_sha256=sha256_of(checkpoint_path),
        checkpoint_info=info,
    )


def load_topdown_pair(centroid_dir: Path, instance_dir: Path) -> tuple[SleapNnModel, SleapNnModel]:
    """Load both folders of a top-down pair and check that they belong together."""
    centroid = load_model_folder(centroid_dir)
    if centroid.model_type not in CENTROID_TYPES:
        raise SleapNnModelError(
            f"{centroid_dir} holds a {centroid.model_type!r} model where the centroid model is expected "
            f"(first folder); {SUPPORTED_TYPES_TEXT}"
        )
    instance = load_model_folder(instance_dir)
    if instance.model_type not in INSTANCE_TYPES:
        raise SleapNnModelError(
            f"{instance_dir} holds a {instance.model_type!r} model where the instance model is expected "
            f"(second folder); {SUPPORTED_TYPES_TEXT}"
        )
    _check_pair(centroid.config, instance.config)
    return centroid, instance


def _check_pair(centroid: TrainingConfig, instance: TrainingConfig) -> None:
    # The centroid config's skeleton is its training labels' skeleton; the instance model's
    # output channels are its part_names. Both must be the same nodes in the same order.
    if centroid.node_names != instance.node_names:
        raise SleapNnModelError(
            f"the node names of the two models differ: centroid model {centroid.node_names} "
            f"({centroid.path}), instance model {instance.node_names} ({instance.path}); "
            "export models trained on the same skeleton"
        )
    if centroid.model_channels != instance.model_channels:
        raise SleapNnModelError(
            f"the two models take different input channels: centroid {centroid.model_channels}, instance "
            f"{instance.model_channels} (in_channels / ensure_rgb / ensure_grayscale in their configs)"
        )
    anchor = centroid.anchor_part
    if anchor is not None and anchor not in centroid.node_names:
        raise SleapNnModelError(
            f"{centroid.path}: anchor_part {anchor!r} is not one of {centroid.node_names}"
        )


def _read_checkpoint(path: Path) -> dict[str, object]:
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as error:
        raise SleapNnModelError(f"cannot read the checkpoint {path}: {error}") from error
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise SleapNnModelError(
            f"{path} is not a sleap-nn checkpoint: it has no 'state_dict' (a Lightning checkpoint has one)"
        )
    return checkpoint


def _model_state(checkpoint: dict[str, object], path: Path) -> dict[str, torch.Tensor]:
    raw = checkpoint["state_dict"]
    assert isinstance(raw, dict)
    foreign = [key for key in raw if not str(key).startswith(STATE_DICT_PREFIX)]
    if foreign:
        raise SleapNnModelError(
            f"{path}: state_dict keys must start with {STATE_DICT_PREFIX!r} as sleap-nn writes them; "
            f"found {_listed(foreign)}"
        )
    return {str(key).removeprefix(STATE_DICT_PREFIX): value for key, value in raw.items()}


def _check_state_fits(
    network: UNet, state: dict[str, torch.Tensor], checkpoint_path: Path, config_path: Path
) -> None:
    """Raise SleapNnModelError listing missing, unexpected and mis-shaped weights, if any."""
    expected = {name: tuple(value.shape) for name, value in network.state_dict().items()}
    missing = [name for name in expected if name not in state]
    unexpected = [name for name in state if name not in expected]
    mismatched = [
        f"{name} (checkpoint {list(state[name].shape)}, config expects {list(shape)})"
        for name, shape in expected.items()
        if name in state and tuple(state[name].shape) != shape
    ]
    if not (missing or unexpected or mismatched):
        return
    problems = []
    if missing:
        problems.append(f"{len(missing)} weights the config needs are missing: {_listed(missing)}")
    if unexpected:
        problems.append(
            f"{len(unexpected)} weights are not in the network the config describes: {_listed(unexpected)}"
        )
    if mismatched:
        problems.append(f"{len(mismatched)} weights have another shape: {_listed(mismatched)}")
    raise SleapNnModelError(
        f"the checkpoint {checkpoint_path} does not fit {config_path}: " + "; ".join(problems) + ". "
        "Were the checkpoint and the config taken from the same model folder?"
    )


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED_KEYS])
    return shown + (f", … ({len(names) - LISTED_KEYS} more)" if len(names) > LISTED_KEYS else "")


def _plain(value: object) -> str | int | None:
    if value is None or isinstance(value, int | str):
        return value
    return str(value)
