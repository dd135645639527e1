"""The sweep summary: after a multirun, one table (summary.md, summary.csv) and one plot (summary.png) of
every job in the sweep folder: its overrides and its final metrics.

Wired in conf/config.yaml as a Hydra callback (`hydra.callbacks.sweep_summary`); `on_multirun_end` runs in
the process that launched the multirun, whatever the launcher (basic, submitit local or SLURM), once every
job has returned. The table covers every job folder in the sweep folder, so a re-run or an extended grid
with the same `sweep_name` adds to it; a different `sweep_name` starts a new table.
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from sif.sweeps.jobs import JobRecord, collect_jobs, constant_overrides, metric_columns, varying_keys

log = logging.getLogger("sif.sweeps")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_csv(path: Path, records: list[JobRecord], override_keys: list[str], metrics: list[str]) -> None:
    from sif.io import atomic_path  # numpy, via sif.io: only when a summary is written

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["job", "num", "status", *override_keys, *metrics])
        for r in records:
            writer.writerow([r.name, "" if r.num is None else r.num, r.status,
                             *[r.overrides.get(k, "") for k in override_keys],
                             *[repr(r.metrics[m]) if m in r.metrics else "" for m in metrics]])


def render_markdown(title: str, sweep_dir: Path, records: list[JobRecord], metrics: list[str]) -> str:
    varying = varying_keys(records)
    done = sum(r.status == "done" for r in records)
    lines = [f"# Sweep summary: {title}", "", f"Folder: `{sweep_dir}`", "",
             f"{len(records)} jobs: {done} done, {len(records) - done} not finished."]
    constant = constant_overrides(records)
    if constant:
        lines += ["", "Same in every job: " + ", ".join(f"`{c}`" for c in constant)]
    header = ["job", "status", *varying, *metrics]
    lines += ["", "| " + " | ".join(_md_cell(h) for h in header) + " |",
              "|" + "|".join("---" for _ in header) + "|"]
    for r in records:
        cells = [r.name, r.status, *[r.overrides.get(k, "") for k in varying],
                 *[_fmt(r.metrics.get(m)) for m in metrics]]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    lines += ["", "Per-job files: `<job>/summary.json`, `<job>/.hydra/overrides.yaml`, `<job>/launch.log`.", ""]
    return "\n".join(lines)


def write_sweep_summary(sweep_dir: Path, title: str | None = None, plot: bool = True) -> dict[str, Path]:
    """Write summary.md, summary.csv and (with `plot`) summary.png into `sweep_dir`; returns their paths."""
    from sif.io import write_text

    sweep_dir = Path(sweep_dir)
    records = collect_jobs(sweep_dir)
    metrics = metric_columns(records)
    all_keys: list[str] = []
    for r in records:
        all_keys += [k for k in r.overrides if k not in all_keys]
    paths = {"md": sweep_dir / "summary.md", "csv": sweep_dir / "summary.csv"}
    sweep_dir.mkdir(parents=True, exist_ok=True)
    write_csv(paths["csv"], records, all_keys, metrics)
    write_text(paths["md"], render_markdown(title or sweep_dir.name, sweep_dir, records, metrics))
    if plot:
        from sif.sweeps.plot import plot_sweep

        paths["png"] = plot_sweep(sweep_dir / "summary.png", records, metrics, title or sweep_dir.name)
    return paths


class SweepSummary(Callback):
    """Hydra callback: the sweep table and plot at the end of every multirun."""

    def __init__(self, enabled: bool = True, plot: bool = True) -> None:
        self.enabled = enabled
        self.plot = plot

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            paths = write_sweep_summary(sweep_dir, title=str(config.get("sweep_name", sweep_dir.name)),
                                        plot=self.plot)
        except Exception:  # noqa: BLE001 - the jobs have run; a table failure must not hide that
            log.exception("could not write the sweep summary into %s", sweep_dir)
            return
        log.info("sweep summary: %s", ", ".join(str(p) for p in paths.values()))
