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
    _add_sleapnn_parser(kinds)
    return parser


def _add_sleapnn_parser(kinds: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sleapnn = kinds.add_parser(
        "sleap-nn",
        help="export a trained sleap-nn top-down pair (centroid + centered-instance or top-down ID)",
        description=(
            "Export a sleap-nn top-down model pair as one fused rtpose model package. Give the two "
            "sleap-nn model folders (each with best.ckpt and training_config.yaml): the centroid "
            "model first, then the centered_instance or multi_class_topdown (ID) model. The graph "
            "reproduces sleap-nn's own top-down predictions (integral refinement included)."
        ),
    )
    sleapnn.add_argument("centroid_dir", type=Path, metavar="CENTROID_DIR", help="the centroid model folder")
    sleapnn.add_argument(
        "instance_dir",
        type=Path,
        metavar="INSTANCE_DIR",
        help="the centered_instance or multi_class_topdown model folder",
    )
    sleapnn.add_argument(
        "-o", "--out", type=Path, required=True, metavar="PACKAGE_DIR", help="package folder to write"
    )
    sleapnn.add_argument(
        "--max-instances",
        type=int,
        metavar="K",
        help="instance slots: the most animals per frame (default for ID models: the number of classes)",
    )
    sleapnn.add_argument(
        "--frame-size",
        type=_frame_size,
        metavar="HxW",
        help=(
            "the rig's frame size, e.g. 1024x1024 (default: the training size, max_height × max_width in "
            "the configs); other sizes are rescaled to fit the training size, as sleap-nn does"
        ),
    )
    sleapnn.add_argument(
        "--channels",
        type=int,
        choices=(1, 3),
        help="channels of the rig's frames, 1 (grayscale) or 3 (RGB) (default: as the model was trained)",
    )
    sleapnn.add_argument(
        "--fp16", action="store_true", help="also write model.fp16.onnx for TensorRT (convolutions in fp16)"
    )
    sleapnn.add_argument(
        "--onnx-only",
        action="store_true",
        help="write only model.onnx (no instance.onnx for fast mode, no model.pt2 for the torch backend)",
    )
    sleapnn.add_argument("--name", help="package name shown in messages and run records")
    sleapnn.add_argument("--quiet", action="store_true", help="print only the final line")


def _frame_size(text: str) -> tuple[int, int]:
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"expected HxW such as 1024x768, got {text!r}")
    height, width = (int(part) for part in parts)
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"frame size must be positive, got {text!r}")
    return height, width


def _export_sleapnn(args: argparse.Namespace) -> int:
    if args.max_instances is not None and args.max_instances < 1:
        print(
            f"rtpose export sleap-nn: --max-instances must be at least 1, got {args.max_instances}",
            file=sys.stderr,
        )
        return 2
    try:
        require("torch", "export", "exporting sleap-nn models")
        require("yaml", "export", "reading sleap-nn training configs")
        from export.sleapnn_export import SleapNnExportOptions, export_sleapnn

        options = SleapNnExportOptions(
            max_instances=args.max_instances,
            frame_size=args.frame_size,
            channels=args.channels,
            fp16=args.fp16,
            name=args.name,
            runtime_variants=not args.onnx_only,
        )
        report = (lambda message: None) if args.quiet else _print_flush
        metadata = export_sleapnn(args.centroid_dir, args.instance_dir, args.out, options, report)
    except RtposeError as error:
        print(f"rtpose export sleap-nn: {error}", file=sys.stderr)
        return 1
    if args.quiet:
        print(f"wrote model package {metadata.name!r} to {args.out}")
    return 0


def _print_flush(message: str) -> None:
    print(message, flush=True)


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
    if args.kind == "sleap-nn":
        return _export_sleapnn(args)
    return 2  # pragma: no cover - argparse rejects other kinds


if __name__ == "__main__":
    raise SystemExit(main())
