"""The ``rtpose bench loopback`` command line: parse, check the wiring, run, analyse, report."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import Any


def sim_config_path() -> Path:
    return Path(str(resources.files("rtpose") / "configs" / "loopback_sim.toml"))


def add_loopback_parser(bench_commands: Any) -> None:
    loopback = bench_commands.add_parser(
        "loopback",
        help="measure the closed loop's latency on the DAQ clock (exposure signal → output signal)",
        description=(
            "Runs the rig's loop while the DAQ's analog inputs record the camera's exposure signal "
            "and rtpose's outputs, then reports the latency distribution: edge method (a "
            "frame_toggle output, paired with each frame's exposure by frame id) and feature method "
            "(an analog_feature output cross-correlated with the same feature computed from the "
            "recorded poses), beside rtpose's own per-stage timestamps. Without CONFIG it uses the "
            "bundled simulated-DAQ loopback rig (2 ms injected output latency). Wiring: docs/daq.md."
        ),
    )
    loopback.add_argument(
        "config",
        type=Path,
        nargs="?",
        default=None,
        help="rig config with the loopback wiring (default: sim)",
    )
    loopback.add_argument(
        "--seconds", type=float, default=10.0, help="how long to run (default: %(default)s)"
    )
    loopback.add_argument("--json", type=Path, default=None, help="write the report as JSON here")
    loopback.add_argument("--plot", type=Path, default=None, help="write the plots as a PNG here")
    loopback.add_argument("--out", type=Path, default=None, help="run folder (default: <record.root>/<time>)")
    loopback.add_argument("--exposure-input", default=None, help="input recording the exposure signal")
    loopback.add_argument("--toggle-input", default=None, help="input wired to the frame_toggle output")
    loopback.add_argument("--feature-input", default=None, help="input wired to the analog_feature output")
    loopback.add_argument("--quiet", action="store_true", help="no live status line")


def run_loopback_command(args: argparse.Namespace) -> int:
    from rtpose.bench.loopback import analyse_run, find_wiring, write_json
    from rtpose.config_check import check_config
    from rtpose.core.config import load_config
    from rtpose.session import RunOptions, run

    config_path = args.config or sim_config_path()
    config = load_config(config_path)
    checked = check_config(config, config_path.parent)
    wiring = find_wiring(config, args.exposure_input, args.toggle_input, args.feature_input)
    if args.plot is not None:
        from rtpose.core.extras import require

        require("matplotlib", "plots", "rtpose bench loopback --plot")  # before the run, not after
    print(f"rtpose bench loopback: running {config_path} for {args.seconds} s", file=sys.stderr)
    options = RunOptions(
        config_dir=config_path.parent, out=args.out, seconds=args.seconds, show_status=not args.quiet
    )
    result = run(config, options)
    if result.exit_code != 0:
        print(f"rtpose bench loopback: the run failed: {result.error}", file=sys.stderr)
        return result.exit_code
    report = analyse_run(result.run_dir, config, list(checked.metadata.node_names), wiring)
    print(report.text())
    if args.json is not None:
        write_json(report, args.json)
        print(f"report: {args.json}", file=sys.stderr)
    if args.plot is not None:
        from rtpose.bench.loopback_plot import save_plot

        save_plot(report, args.plot)
        print(f"plots: {args.plot}", file=sys.stderr)
    return 0
