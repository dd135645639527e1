"""summary.png: one horizontal bar panel per metric (the objective first, then metrics that differ
between jobs), one bar per job labelled with the overrides that differ between jobs."""

from __future__ import annotations

import math
from pathlib import Path

from sif.io import atomic_path
from sif.sweeps.jobs import JobRecord, varying_keys, varying_metrics

MAX_PANELS = 4
MAX_LABEL_CHARS = 48


def job_label(record: JobRecord, keys: list[str]) -> str:
    parts = [f"{k.lstrip('+~').split('/')[-1]}={record.overrides.get(k, '-')}" for k in keys]
    label = ", ".join(parts) or record.name
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def panels(records: list[JobRecord], metrics: list[str]) -> list[str]:
    """The objective (if any), then metrics that vary between jobs; if none vary, the first metrics."""
    chosen = [m for m in ("objective",) if m in metrics]
    chosen += [m for m in varying_metrics(records, metrics) if m not in chosen and m != "wall_time_s"]
    if not chosen:
        chosen = [m for m in metrics if m != "wall_time_s"][:2] or metrics[:1]
    return chosen[:MAX_PANELS]


def plot_sweep(path: Path, records: list[JobRecord], metrics: list[str], title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    names = panels(records, metrics)
    keys = varying_keys(records)
    labels = [job_label(r, keys) for r in records]
    height = max(2.5, 0.32 * max(1, len(records)) + 1.2)
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(4.2 * max(1, len(names)) + 2.5, height),
                             squeeze=False, sharey=True)
    if not names:
        ax = axes[0][0]
        ax.text(0.5, 0.5, "no numeric metrics yet\n(no job has written summary.json)", ha="center", va="center")
        ax.set_axis_off()
    for i, name in enumerate(names):
        ax = axes[0][i]
        values = [r.metrics.get(name, math.nan) for r in records]
        colors = ["tab:blue" if r.status == "done" else "tab:gray" for r in records]
        ax.barh(range(len(records)), [0.0 if math.isnan(v) else v for v in values], color=colors)
        for y, v in enumerate(values):
            ax.text(0 if math.isnan(v) else v, y, " n/a" if math.isnan(v) else f" {v:.3g}", va="center", fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.set_yticks(range(len(records)))
        ax.set_yticklabels(labels, fontsize=7)
        ax.invert_yaxis()
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{title}: {len(records)} jobs (grey = not finished)", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
