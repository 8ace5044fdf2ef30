"""The TensorRT plan cache: built engines saved per GPU, TensorRT version and graph.

A plan only runs on the GPU model and TensorRT version that built it, and only means the graph it
was built from. Each plan ``<key hash>.plan`` has a sidecar ``<key hash>.json`` holding its key
(GPU name, compute capability, TensorRT version, the ONNX file's sha256, precision, builder
settings) and the plan's own sha256. ``lookup`` returns the plan only when the sidecar's key is
exactly the wanted key and the plan's bytes hash to what the sidecar says; otherwise it says why
(missing, foreign, stale, corrupt) and the caller rebuilds. A plan is never used on trust.

Writes are atomic (temporary file + rename), so a build killed half-way leaves no plan behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_CACHE_DIR = Path("~/.cache/rtpose/tensorrt")
CACHE_FORMAT = 1


@dataclass(frozen=True)
class PlanKey:
    """Everything that decides whether a cached plan may run here."""

    package_name: str
    graph: str  # "full" or "instance"
    onnx_sha256: str
    precision: str
    gpu_name: str
    compute_capability: str
    tensorrt_version: str
    builder_settings: str = ""

    def digest(self) -> str:
        text = json.dumps({"cache_format": CACHE_FORMAT, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def describe(self) -> str:
        return (
            f"{self.graph} graph ({self.precision}, ONNX {self.onnx_sha256[:12]}) for {self.gpu_name} "
            f"(sm {self.compute_capability}), TensorRT {self.tensorrt_version}"
        )


@dataclass(frozen=True)
class Lookup:
    """A cache lookup: the plan bytes, or None with the reason a build is needed."""

    plan: bytes | None
    path: Path
    reason: str = ""


class PlanCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or DEFAULT_CACHE_DIR).expanduser()

    def plan_path(self, key: PlanKey) -> Path:
        folder = re.sub(r"[^A-Za-z0-9._-]+", "_", key.package_name) or "model"
        return self.root / folder / f"{key.graph}-{key.precision}-{key.digest()[:20]}.plan"

    def lookup(self, key: PlanKey) -> Lookup:
        """The plan for ``key``, or None and why not (an unreadable file is a reason, not an error)."""
        path = self.plan_path(key)
        try:
            return self._lookup(key, path)
        except OSError as error:
            return Lookup(None, path, f"{path.name} cannot be read ({error})")

    def _lookup(self, key: PlanKey, path: Path) -> Lookup:
        sidecar = path.with_suffix(".json")
        if not path.is_file():
            return Lookup(None, path, "no cached plan")
        try:
            recorded = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return Lookup(
                None, path, f"the plan's record {sidecar.name} is missing or unreadable (stale plan)"
            )
        if not isinstance(recorded, dict) or recorded.get("key") != asdict(key):
            return Lookup(
                None, path, f"{path.name} was built for something else (foreign plan: {recorded!r:.200})"
            )
        plan = path.read_bytes()
        if hashlib.sha256(plan).hexdigest() != recorded.get("plan_sha256"):
            return Lookup(
                None, path, f"{path.name} does not match its recorded sha256 (corrupt or replaced plan)"
            )
        return Lookup(plan, path)

    def store(self, key: PlanKey, plan: bytes) -> Path:
        """Save ``plan`` for ``key``; raises OSError when the folder cannot be written (the caller
        decides whether an uncached plan is fatal)."""
        path = self.plan_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "key": asdict(key),
            "plan_sha256": hashlib.sha256(plan).hexdigest(),
            "plan_bytes": len(plan),
        }
        _write_atomic(path, plan)
        _write_atomic(path.with_suffix(".json"), (json.dumps(record, indent=2) + "\n").encode("utf-8"))
        return path


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all; OSError (and no partial file) on failure."""
    partial = path.with_name(path.name + f".partial-{os.getpid()}")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)  # PermissionError on Windows while another process reads path
    except OSError:
        partial.unlink(missing_ok=True)
        raise
