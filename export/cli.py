"""``rtpose export``: build model packages.

The rtpose CLI calls ``main(argv_after_export)`` lazily, so that the runtime never imports torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import rtpose
from rtpose.core.errors import RtposeError
from rtpose.core.extras import require

DEMO_MODEL_DIR = Path(rtpose.__file__).resolve().parent / "models" / "demo"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rtpose export",
        description="Build rtpose model packages (model.onnx + rtpose-model.json).",
    )
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    demo = kinds.add_parser(
        "demo",
        help="train the demo fly model on synthetic frames (CPU, a few minutes) and export it",
        description=(
            "Train the demo's centroid and centered-instance UNets on synthetic two-fly frames from "
            "rtpose's fly scene, on the CPU, then export them as one fused model package."
        ),
    )
    demo.add_argument(
        "-o",
        "--out",
        type=Path,
        default=DEMO_MODEL_DIR,
        help=f"package folder to write (default: the bundled demo model, {DEMO_MODEL_DIR})",
    )
    demo.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps per stage (default 1200; a few give a quick, inaccurate model)",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed for frames and weights (default 0)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.kind == "demo":
        if args.steps is not None and args.steps < 1:
            print("rtpose export demo: --steps must be at least 1", file=sys.stderr)
            return 2
        try:
            require("torch", "export", "training the demo model")
            require("tqdm", "export", "training the demo model")
            from export.demo_training import train_demo_package

            metadata = train_demo_package(args.out, steps=args.steps, seed=args.seed, progress=not args.quiet)
        except RtposeError as error:
            print(f"rtpose export demo: {error}", file=sys.stderr)
            return 1
        seconds = metadata.provenance.get("training_seconds")
        print(f"wrote model package {metadata.name!r} to {args.out} (trained in {seconds} s)")
        return 0
    return 2  # pragma: no cover - argparse rejects other kinds


if __name__ == "__main__":
    raise SystemExit(main())
