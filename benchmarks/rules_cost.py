"""Per-frame cost of identity + rules: the demo's courtship preset (and a longer expression) with
each identity method, on the synthetic scene's ground-truth poses (no engine, no loop).

Measured per frame as the hot loop runs them: ``identity.assign(poses)`` then
``rule_set.update(poses, t_ns, frame_id)``, timed with ``time.perf_counter_ns``. Poses are
prepared beforehand (slots shuffled per frame so identity has work to do) and copied into one
reused ``Poses`` per frame, as the engine's output would be.

Run:  python benchmarks/rules_cost.py [--frames 20000] [--write]
With --write the figures are appended to benchmarks/results/rules_cost.md.
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path

import numpy as np
from report import append_result, heading

from rtpose.camera.fly_scene import NODE_NAMES, FlyScene
from rtpose.cli import demo_config_path
from rtpose.core.config import load_config, parse_config
from rtpose.core.model_metadata import read_metadata
from rtpose.core.types import Poses
from rtpose.engine import DEMO_MODEL_DIR
from rtpose.identity import build_identity
from rtpose.triggers import build_rule_set

FPS = 60.0
LONG_EXPRESSION = (
    "distance(male.head, female.abdomen) < 2 mm and abs(angle(male, female)) < 25 deg"
    " and abs(angle(female, male)) > 145 deg and speed(male.thorax) < 20 mm/s"
    " and visible(female.abdomen) and score(male.head) > 0.2 and inside(male.thorax, arena)"
)


def _prepared_frames(count: int) -> tuple[np.ndarray, np.ndarray]:
    scene = FlyScene(seed=0, fps=FPS)
    rng = np.random.default_rng(0)
    points = np.empty((count, 2, len(NODE_NAMES), 2), np.float32)
    for frame in range(count):
        truth = scene.poses_at_frame(frame)
        points[frame] = truth[rng.permutation(2)]
    scores = np.full((count, 2, len(NODE_NAMES)), 0.9, np.float32)
    return points, scores


def _measure(config_changes: dict[str, object], points: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    base = load_config(demo_config_path()).model_dump(mode="json")
    base.update(config_changes)
    config = parse_config(base)
    metadata = read_metadata(Path(DEMO_MODEL_DIR))
    identity = build_identity(config.identity, metadata)
    rule_set = build_rule_set(config, list(metadata.node_names))
    poses = Poses.empty(2, len(NODE_NAMES))
    poses.valid[:] = True
    costs = np.empty(len(points), np.int64)
    activations = 0
    gc.disable()
    try:
        for frame in range(len(points)):
            np.copyto(poses.points, points[frame])
            np.copyto(poses.point_scores, scores[frame])
            t_ns = round(frame / FPS * 1e9)
            start = time.perf_counter_ns()
            identity.assign(poses)
            rule_set.update(poses, t_ns, frame)
            costs[frame] = time.perf_counter_ns() - start
            activations += len(rule_set.drain_events())
    finally:
        gc.enable()
    microseconds = costs / 1000.0
    return {
        "p50_us": float(np.percentile(microseconds, 50)),
        "p99_us": float(np.percentile(microseconds, 99)),
        "mean_us": float(microseconds.mean()),
        "rule_changes": float(activations),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    points, scores = _prepared_frames(args.frames)
    arena = [{"name": "arena", "shape": "circle", "center_px": [128.0, 128.0], "radius_px": 120.0}]
    long_rule = [{"name": "long", "kind": "expression", "when": LONG_EXPRESSION}]
    cases = {
        "size identity + courtship preset (demo)": {},
        "tracker identity + courtship preset": {"identity": {"method": "tracker"}},
        "size identity, no rules": {"rules": [], "daq": {"outputs": []}},
        "size identity + 7-term expression": {"rois": arena, "rules": long_rule, "daq": {"outputs": []}},
    }
    rows = [(name, _measure(changes, points, scores)) for name, changes in cases.items()]
    lines = [
        *heading(
            __file__, f"{args.frames} frames of the demo scene at {FPS:g} fps (ground truth, slots shuffled)."
        ),
        "| case | p50 µs | p99 µs | mean µs | rule state changes |",
        "|---|---|---|---|---|",
    ]
    for name, figures in rows:
        lines.append(
            f"| {name} | {figures['p50_us']:.1f} | {figures['p99_us']:.1f} | {figures['mean_us']:.1f} "
            f"| {figures['rule_changes']:.0f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        append_result("rules_cost", text, "Rules cost: identity + rules per frame")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
