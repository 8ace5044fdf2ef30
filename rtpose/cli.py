"""The `rtpose` command line: demo, run, check, listen, convert, replay, export."""

from __future__ import annotations

import argparse
import json
import math
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from rtpose.core.config import RigConfig, load_config
from rtpose.core.errors import RtposeError

DEMO_SECONDS = 20.0


def demo_config_path() -> Path:
    return Path(str(resources.files("rtpose") / "configs" / "demo.toml"))


def _add_run_arguments(parser: argparse.ArgumentParser, default_seconds: float | None) -> None:
    parser.add_argument(
        "--seconds",
        type=float,
        default=default_seconds,
        help=f"stop after this many seconds (default: {default_seconds or 'run until Ctrl-C'})",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="run folder (default: <record.root>/<timestamp>)"
    )
    parser.add_argument("--quiet", action="store_true", help="no live status line")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rtpose",
        description="Low-latency closed-loop pose estimation: camera -> pose model -> rules -> DAQ outputs.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run the full closed loop on the embedded default (synthetic flies, demo model, sim DAQ)",
        description=(
            "Runs the closed loop on the embedded default rig: a synthetic camera showing two flies, "
            "the bundled demo model in ONNX Runtime on the CPU, the male-approach rule driving a "
            "simulated DAQ output, poses on ZeroMQ at tcp://127.0.0.1:5555, and every frame recorded "
            "to a run folder. Ctrl-C stops early (outputs off, records kept)."
        ),
    )
    _add_run_arguments(demo, DEMO_SECONDS)
    run = commands.add_parser("run", help="run the closed loop from a rig config (TOML)")
    run.add_argument(
        "config", type=Path, help="rig config, e.g. a copy of the demo's (rtpose check --show-demo)"
    )
    _add_run_arguments(run, None)
    _add_listen_parser(commands)
    _add_convert_parser(commands)
    _add_replay_parser(commands)
    check = commands.add_parser("check", help="validate a rig config and its model without starting anything")
    check.add_argument("config", type=Path, nargs="?", help="rig config to check")
    check.add_argument("--show-demo", action="store_true", help="print the demo's config (a template)")
    _add_bench_parser(commands)
    backends = commands.add_parser(
        "backends",
        help="which engine backends this machine can run (driver, CUDA, TensorRT, torch, ONNX Runtime)",
        description=(
            "Lists the NVIDIA driver, cuda-python, TensorRT, torch and ONNX Runtime found here, their "
            'versions and problems (each with its fix), and which backend model.backend = "auto" '
            "picks and why. Starts nothing; safe on any machine."
        ),
    )
    backends.add_argument("--json", type=Path, metavar="OUT", help="also write the findings as JSON")
    commands.add_parser(
        "export",
        help="export models to rtpose model packages (`rtpose export demo --help`); needs rtpose[export]",
        add_help=False,
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["export"]:
        return _export(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _run(load_config(demo_config_path()), demo_config_path().parent, args)
        if args.command == "run":
            return _run(load_config(args.config), args.config.parent, args)
        if args.command == "listen":
            return _listen(args)
        if args.command == "check":
            return _check(args)
        if args.command == "bench":
            return _bench(args)
        if args.command == "convert":
            return _convert(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "backends":
            return _backends(args)
    except RtposeError as error:
        print(f"rtpose: {error}", file=sys.stderr)
        return 2
    return 2


def _add_listen_parser(commands: Any) -> None:
    listen = commands.add_parser(
        "listen",
        help="print the poses and events a running rtpose publishes (and write them to a file)",
        description=(
            "Subscribes to an rtpose stream and prints it: one refreshed line for poses (rate, frame "
            "id, latency, animals, outputs on, losses) and a line per event. --out writes every "
            "message as JSON lines (docs/wire-format.md). Ctrl-C stops."
        ),
    )
    listen.add_argument(
        "address", nargs="?", default="tcp://127.0.0.1:5555", help="stream address (default: %(default)s)"
    )
    listen.add_argument(
        "--topics",
        nargs="+",
        default=["pose.", "event.", "meta."],
        help="topic prefixes to subscribe to (default: %(default)s)",
    )
    listen.add_argument("--out", type=Path, default=None, help="write every message to this JSON-lines file")
    listen.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")


def _add_bench_parser(commands: Any) -> None:
    from rtpose.bench.engine import add_engine_parser
    from rtpose.bench.loopback_command import add_loopback_parser

    bench = commands.add_parser(
        "bench", help="measure the rig: `rtpose bench loopback --help`, `rtpose bench engine --help`"
    )
    bench_commands = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCH")
    add_loopback_parser(bench_commands)
    add_engine_parser(bench_commands)


def _bench(args: argparse.Namespace) -> int:
    if args.bench_command == "loopback":
        from rtpose.bench.loopback_command import run_loopback_command

        return run_loopback_command(args)
    if args.bench_command == "engine":
        from rtpose.bench.engine import run_engine_command

        return run_engine_command(args)
    return 2


def _add_convert_parser(commands: Any) -> None:
    convert = commands.add_parser(
        "convert",
        help="convert a recorded run to SLEAP (.slp), NWB (ndx-pose) or CSV",
        description=(
            "Converts a run folder (what `rtpose run` recorded, also one left by a killed process) "
            "to: slp, a SLEAP predictions file (tracks named by animal, point and instance scores, "
            "the recorded video referenced when there is one); nwb, an NWB file with ndx-pose (a "
            "PoseEstimation per animal, the rule states and outputs, timestamps from the record); "
            "csv, one row per frame and instance slot. slp and nwb need "
            "`pip install 'rtpose[convert]'`."
        ),
    )
    convert.add_argument("run_dir", type=Path, help="the run folder (holds frames.bin and frames.json)")
    convert.add_argument("--to", required=True, choices=["slp", "nwb", "csv"], help="output format")
    convert.add_argument(
        "-o", "--out", type=Path, default=None, help="output file (default: <run_dir>/<run name>.<format>)"
    )


def _convert(args: argparse.Namespace) -> int:
    from rtpose.convert import convert_run

    def progress(done: int, total: int) -> None:
        print(f"\rrtpose convert: {done}/{total} frames", end="", file=sys.stderr, flush=True)

    path, description = convert_run(args.run_dir, args.to, args.out, progress)
    print("", file=sys.stderr)
    print(f"wrote {path}: {description}")
    return 0


def _add_replay_parser(commands: Any) -> None:
    replay = commands.add_parser(
        "replay",
        help="run a recorded video through the same engine, identity and rules offline, and compare",
        description=(
            "Runs VIDEO through the pipeline offline: every frame, as fast as the engine goes, on the "
            "simulated DAQ (never real outputs). Given a run folder, it uses that run's config and "
            "model, processes exactly the frames the live run processed with the times the live run "
            "gave them (the video's sidecar, video_frame_ids.bin, maps video frames to frame ids), and "
            "reports where the rule and output decisions differ (exit code 1 if they do). Given a rig "
            "config, it processes every frame of the video. The replay is recorded to its own run "
            "folder (default: <run>-replay next to the run) with replay.json."
        ),
    )
    replay.add_argument("source", type=Path, help="a recorded run folder, or a rig config (TOML)")
    replay.add_argument(
        "--video", type=Path, required=True, help="the video to replay, e.g. <run>/video.mkv (record.video)"
    )
    replay.add_argument("--out", type=Path, default=None, help="run folder for the replay")
    replay.add_argument("--quiet", action="store_true", help="no live status line")


def _replay(args: argparse.Namespace) -> int:
    from rtpose.replay import replay

    outcome = replay(args.source, args.video, args.out, show_status=not args.quiet)
    result = outcome.result
    print(format_summary(result.summary, result.run_dir))
    if result.error:
        print(f"rtpose replay: stopped: {result.error}", file=sys.stderr)
        return 1
    comparison = outcome.comparison
    if comparison is None:
        return 0
    print(comparison.describe())
    if outcome.model_same is False:
        print("note: the model differs from the one the live run used (sha256)")
    if comparison.frames_live and not comparison.frames_compared:
        print(
            f"rtpose replay: none of the run's frames are in {args.video}: it is not this run's video "
            f"(a run records its own as video.mkv with record.video = true)",
            file=sys.stderr,
        )
    return 0 if comparison.identical else 1


def _listen(args: argparse.Namespace) -> int:
    from rtpose.stream.listen import listen

    listen(args.address, args.topics, args.out, args.seconds)
    return 0


def _export(argv: list[str]) -> int:
    try:
        from export.cli import main as export_main
    except ImportError as error:
        print(
            f"rtpose export needs the exporter's dependencies ({error.name} is missing). "
            "Install them with: pip install torch==2.13.0 && pip install 'rtpose[export]'",
            file=sys.stderr,
        )
        return 2
    code: int = export_main(argv)
    return code


def _backends(args: argparse.Namespace) -> int:
    from rtpose.engine.inventory import format_inventory, take_inventory

    inventory = take_inventory()
    print(format_inventory(inventory))
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(inventory.to_dict(), indent=2) + "\n", encoding="utf-8")
        except OSError as error:
            print(f"rtpose backends: cannot write {args.json}: {error}", file=sys.stderr)
            return 2
    return 0


def _check(args: argparse.Namespace) -> int:
    from rtpose.config_check import check_config

    if args.show_demo:
        print(demo_config_path().read_text(encoding="utf-8"))
        return 0
    if args.config is None:
        print("rtpose check: give a config file (or --show-demo)", file=sys.stderr)
        return 2
    config = load_config(args.config)
    checked = check_config(config, args.config.parent)
    metadata = checked.metadata
    print(
        f"{args.config}: OK — model {metadata.name!r} ({checked.model_path}), "
        f"{metadata.input.height}×{metadata.input.width}×{metadata.input.channels}, "
        f"K={metadata.max_instances}, nodes {metadata.node_names}; rules {[r.name for r in config.rules]}; "
        f"outputs {[o.name for o in config.daq.outputs]} on the {config.daq.backend} DAQ"
    )
    return 0


def _run(config: RigConfig, config_dir: Path, args: argparse.Namespace) -> int:
    from rtpose.session import RunOptions, run

    options = RunOptions(
        config_dir=config_dir, out=args.out, seconds=args.seconds, show_status=not args.quiet
    )
    print(
        f"rtpose: running ({'for ' + str(args.seconds) + ' s' if args.seconds else 'until Ctrl-C'}); "
        f"poses on {config.stream.address if config.stream.enabled else '(streaming off)'}",
        file=sys.stderr,
    )
    result = run(config, options)
    print(format_summary(result.summary, result.run_dir))
    if result.error:
        print(f"rtpose: stopped: {result.error}", file=sys.stderr)
        print(
            "rtpose: DAQ outputs are off"
            if result.summary["outputs_off_at_exit"]
            else "rtpose: WARNING: the DAQ did not confirm its outputs are off — check the rig",
            file=sys.stderr,
        )
    return result.exit_code


def _ms(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def format_summary(summary: dict[str, Any], run_dir: Path) -> str:
    lines = [
        f"run folder: {run_dir}",
        f"exit: {summary['exit_reason']}; outputs off at exit: {summary['outputs_off_at_exit']}",
        f"frames: {summary['frames_processed']} processed, {summary['frames_dropped']} dropped "
        f"(camera produced {summary['drops']['frames_produced_by_camera']}); "
        f"{summary['fps']:.1f} fps over {summary['duration_s']:.1f} s",
        "latency ms        p50     p99     max",
    ]
    for stage, values in summary["latency_ms"].items():
        lines.append(f"  {stage:<14}{_ms(values['p50']):>7} {_ms(values['p99']):>7} {_ms(values['max']):>7}")
    for name, rule in summary["rules"].items():
        lines.append(
            f"rule {name}: {rule['activations']} activations, active {rule['active_ms'] / 1000:.2f} s"
        )
    for name, output in summary["outputs"].items():
        lines.append(
            f"output {name}: on {output['activations']} times, {output['active_ms'] / 1000:.2f} s, "
            f"cut by limits {output['limit_cuts']} times"
        )
    for name, channel in summary["side_channels"].items():
        lines.append(f"{name}: {channel['handled']} frames, {channel['dropped']} dropped")
    video = summary.get("video")
    if video:
        lines.append(
            f"video: {video['frames_written']} frames ({video['codec']}), {video['dropped']} left out"
            + (f"; error: {video['error']}" if video["error"] else "")
        )
    return "\n".join(lines)
