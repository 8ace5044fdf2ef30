"""The run folder: one per run, holding everything needed to understand it afterwards.

- ``config.json``: the resolved rig config; ``model.json``: the model package metadata;
- ``frames.json`` + ``frames.bin``: the per-frame record (``rtpose.record``);
- ``events.jsonl``: rule, output and limit events; ``summary.json``: written at exit;
- ``video.mkv`` + ``video_frame_ids.bin``: the raw frames, with ``record.video`` (``rtpose.record.video``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rtpose.core.config import RigConfig
from rtpose.core.errors import ConfigError
from rtpose.core.model_metadata import ModelMetadata


def create_run_folder(config: RigConfig, out: Path | None) -> Path:
    """Make the run folder: ``out`` if given, else ``<record.root>/<timestamp>``.

    Refuses a folder that already holds a recording, so nothing recorded is overwritten.
    """
    if out is None:
        root = Path(config.record.root)
        root.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for suffix in range(1000):
            candidate = root / (stamp if suffix == 0 else f"{stamp}-{suffix}")
            try:
                candidate.mkdir()  # atomic: two runs started in the same second get two folders
                return candidate
            except FileExistsError:
                continue
        raise ConfigError(f"record.root {root}: could not create a new run folder")
    out = Path(out)
    if (out / "frames.bin").exists() or (out / "summary.json").exists():
        raise ConfigError(f"--out {out} already holds a recorded run; choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_run_header(run_dir: Path, config: RigConfig, metadata: ModelMetadata, model_path: Path) -> None:
    (run_dir / "config.json").write_text(
        json.dumps(config.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8"
    )
    model = json.loads(metadata.to_json())
    model["package_path"] = str(Path(model_path).resolve())  # absolute: replay finds it from anywhere
    (run_dir / "model.json").write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")


def write_summary(run_dir: Path, summary: dict[str, object]) -> Path:
    path = run_dir / "summary.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path
