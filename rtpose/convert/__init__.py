"""Conversion of a run folder to the formats the field uses: SLEAP ``.slp``, NWB (ndx-pose), CSV.

One module per format; ``convert_run`` is what ``rtpose convert`` calls. SLEAP and NWB need
``pip install 'rtpose[convert]'`` (sleap-io, pynwb, ndx-pose), imported only when used.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rtpose.convert.run_data import RunData, read_run
from rtpose.core.errors import ConfigError

FORMATS = ("slp", "nwb", "csv")
SUFFIXES = {"slp": ".slp", "nwb": ".nwb", "csv": ".csv"}


def default_output(run_dir: Path, fmt: str) -> Path:
    """``<run_dir>/<run name>.<suffix>``: the converted file lives with its run."""
    run_dir = Path(run_dir)
    return run_dir / f"{run_dir.resolve().name}{SUFFIXES[fmt]}"


def convert_run(
    run_dir: Path,
    fmt: str,
    out: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Path, str]:
    """Convert the run folder ``run_dir`` to ``fmt``; returns the file written and a one-line
    description of what it holds."""
    if fmt not in FORMATS:
        raise ConfigError(f"--to {fmt!r}: unknown format (use one of {list(FORMATS)})")
    run = read_run(run_dir)
    path = Path(out) if out is not None else default_output(run_dir, fmt)
    if path.suffix.lower() != SUFFIXES[fmt]:
        raise ConfigError(f"{path}: a {fmt} file must end in {SUFFIXES[fmt]}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        from rtpose.convert.csv import write_csv

        write_csv(run, path, progress)
        return path, f"{len(run.frames)} frames × {run.frames['points'].shape[1]} slots"
    if fmt == "slp":
        from rtpose.convert.slp import write_slp

        report = write_slp(run, path, progress)
        note = f"; {report.frames_without_video} frames not in the video left out" * bool(
            report.frames_without_video
        )
        video = run.video_path or "no video recorded"
        return path, f"{report.labeled_frames} frames, {report.instances} instances, video {video}{note}"
    from rtpose.convert.nwb import write_nwb

    write_nwb(run, path)
    return path, f"{len(run.frames)} frames, animals {run.animal_names}"


__all__ = ["FORMATS", "RunData", "convert_run", "default_output", "read_run"]
