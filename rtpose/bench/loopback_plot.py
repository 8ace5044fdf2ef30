"""The loopback report as a figure: latency histogram, time course, where the time goes, and the
feature method's cross-correlation. matplotlib (``pip install 'rtpose[plots]'``), Agg backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rtpose.bench.loopback import LoopbackReport
from rtpose.bench.loopback_analysis import distribution
from rtpose.core.extras import require


def loopback_figure(report: LoopbackReport) -> Any:
    """A 2×2 matplotlib Figure (not shown; save it with ``savefig``)."""
    require("matplotlib", "plots", "Loopback plots")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 8), layout="constrained")
    histogram, course, breakdown, correlation = figure.subplots(2, 2).flat
    edge = report.edge
    if edge is not None:
        latency = edge.from_exposure_start_ms
        stats = distribution(latency)
        histogram.hist(latency, bins=60, color="tab:blue")
        for name, style in (("p50", "-"), ("p99", "--")):
            histogram.axvline(
                stats[name], color="black", linestyle=style, label=f"{name} {stats[name]:.2f} ms"
            )
        histogram.legend()
        histogram.set_title("Exposure start → output edge (DAQ clock)")
        course.plot(edge.output_edge_ms / 1000.0, latency, ".", markersize=2)
        course.set_title("Latency over the run")
    else:
        for axes in (histogram, course):
            axes.text(0.5, 0.5, "no frame_toggle output wired", ha="center", transform=axes.transAxes)
    histogram.set_xlabel("latency (ms)")
    histogram.set_ylabel("frames")
    course.set_xlabel("time since the inputs started (s)")
    course.set_ylabel("latency (ms)")
    _breakdown(breakdown, report)
    feature = report.feature
    if feature is not None:
        correlation.plot(feature.lags_ms, feature.correlation)
        correlation.axvline(feature.lag_ms, color="black", label=f"lag {feature.lag_ms:.2f} ms")
        correlation.legend()
    else:
        correlation.text(
            0.5, 0.5, "no analog_feature output wired", ha="center", transform=correlation.transAxes
        )
    correlation.set_title("Feature method: recorded vs offline feature")
    correlation.set_xlabel("lag (ms)")
    correlation.set_ylabel("normalised cross-correlation")
    figure.suptitle(f"rtpose loopback latency — {report.frames} frames, {report.run_dir.name}")
    return figure


def _breakdown(axes: Any, report: LoopbackReport) -> None:
    """Stacked p50 of rtpose's own stages beside the DAQ-measured p50."""
    left = 0.0
    for name, values in report.software_ms.items():
        width = float(np.median(values))
        axes.barh("rtpose timestamps", width, left=left, label=name)
        left += width
    if report.edge is not None:
        measured = float(np.median(report.edge.from_exposure_start_ms))
        axes.barh("DAQ-measured", measured, color="tab:gray", label="DAQ-measured total")
    axes.set_xlabel("median time (ms)")
    axes.set_title("Where the time goes (p50 per stage)")
    axes.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)


def save_plot(report: LoopbackReport, path: Path) -> Path:
    figure = loopback_figure(report)
    figure.savefig(path, dpi=100)
    return path
