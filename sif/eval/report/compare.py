"""Several eval runs side by side: one table (markdown + CSV) and a grouped bar chart.

A run is a folder holding the results.json that stage=eval writes. `stage.metric=accuracy` charts
overall and per-category accuracy; any other numeric aggregate key (format_rate, acc_at_iou, mean_iou,
depth_consistency, a benchmark's official number) charts that one value per run.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from sif.eval.report.markdown import fmt
from sif.io import atomic_path

log = logging.getLogger("sif.eval")
METRICS = ("format_rate", "answer_missing", "acc_at_iou", "mean_iou", "depth_consistency")


@dataclass
class EvalRun:
    label: str
    path: Path
    results: dict[str, Any]

    @property
    def aggregate(self) -> dict[str, Any]:
        return self.results.get("aggregate") or {}


def find_runs(patterns: Sequence[str]) -> list[EvalRun]:
    """Eval run folders named by `patterns` (paths or globs; a results.json path names its folder), in the
    order given, each once; folders without results.json are skipped with a warning."""
    folders: list[Path] = []
    for pattern in patterns:
        expanded = str(Path(str(pattern)).expanduser())
        matches = sorted(glob.glob(expanded)) or [expanded]
        for m in matches:
            folder = Path(m)
            folder = folder.parent if folder.name == "results.json" else folder
            if not (folder / "results.json").is_file():
                log.warning("compare: %s has no results.json (not a finished eval run); skipped", folder)
                continue
            if folder.resolve() not in [f.resolve() for f in folders]:
                folders.append(folder)
    if not folders:
        raise ValueError(f"stage.runs {list(patterns)} matched no eval run folder with a results.json")
    names = [f.name for f in folders]
    runs = []
    for folder in folders:
        label = folder.name if names.count(folder.name) == 1 else f"{folder.parent.name}/{folder.name}"
        runs.append(EvalRun(label, folder, json.loads((folder / "results.json").read_text(encoding="utf-8"))))
    return runs


def categories(runs: Sequence[EvalRun]) -> list[str]:
    seen: list[str] = []
    for r in runs:
        for c in (r.aggregate.get("per_category") or {}):
            if c not in seen:
                seen.append(c)
    return seen


def table(runs: Sequence[EvalRun]) -> tuple[list[str], list[list[Any]]]:
    """(header, rows): run, benchmark, backend, model, n, overall, per category, then METRICS."""
    cats = categories(runs)
    header = ["run", "benchmark", "backend", "model", "n", "overall", *cats, *METRICS]
    rows = []
    for r in runs:
        res, agg = r.results, r.aggregate
        model = res.get("checkpoint") or (res.get("model") or {}).get("path") or (res.get("model") or {}).get("name")
        backend = res.get("backend") or {}
        if backend.get("name") == "openai" and backend.get("model"):
            model = backend["model"]
        per = agg.get("per_category") or {}
        rows.append([r.label, (res.get("benchmark") or {}).get("name"), backend.get("name"), model, agg.get("n"),
                     agg.get("overall"), *[per.get(c) for c in cats], *[agg.get(m) for m in METRICS]])
    return header, rows


def markdown(header: list[str], rows: list[list[Any]]) -> str:
    esc = lambda v: fmt(v).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buf.getvalue()


def chart(runs: Sequence[EvalRun], path: Path, metric: str = "accuracy") -> Path:
    """Grouped bars: groups = overall + categories (metric=accuracy) or the one metric, a bar per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if metric == "accuracy":
        groups = ["overall", *categories(runs)]
        values = [[r.aggregate.get("overall") if g == "overall" else (r.aggregate.get("per_category") or {}).get(g)
                   for g in groups] for r in runs]
    else:
        groups = [metric]
        values = [[r.aggregate.get(metric)] for r in runs]
    width = 0.8 / max(1, len(runs))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(groups) * max(1, len(runs)) ** 0.5 + 2), 4.5))
    for i, (run, vals) in enumerate(zip(runs, values)):
        xs = [g + (i - (len(runs) - 1) / 2) * width for g in range(len(groups))]
        ys = [float(v) if isinstance(v, (int, float)) else 0.0 for v in vals]
        bars = ax.bar(xs, ys, width=width, label=run.label)
        for bar, v in zip(bars, vals):
            ax.annotate(fmt(v, 2), (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                        va="bottom", fontsize=7)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=20, ha="right")
    ax.set_ylabel(metric)
    top = max([float(v) for vals in values for v in vals if isinstance(v, (int, float))] + [1.0])
    ax.set_ylim(0, top * 1.1)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(f"{metric} per run")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:  # like every other artifact: never a half-written PNG
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def write_comparison(runs: Sequence[EvalRun], out_dir: Path, metric: str = "accuracy") -> dict[str, Any]:
    """compare.md, compare.csv and compare.png in `out_dir`; returns their paths and the markdown table."""
    from sif.io import write_text

    if metric != "accuracy" and not any(isinstance(r.aggregate.get(metric), (int, float)) for r in runs):
        raise ValueError(f"stage.metric={metric!r}: no run has this number (use accuracy or one of "
                         f"{sorted({k for r in runs for k, v in r.aggregate.items() if isinstance(v, (int, float))})})")
    header, rows = table(runs)
    md = markdown(header, rows)
    write_text(out_dir / "compare.md", md)
    write_text(out_dir / "compare.csv", to_csv(header, rows))
    png = chart(runs, out_dir / "compare.png", metric)
    best: Optional[EvalRun] = max(runs, key=lambda r: float(r.aggregate.get("overall") or 0.0))
    return {"runs": [str(r.path) for r in runs], "compare_md": str(out_dir / "compare.md"),
            "compare_csv": str(out_dir / "compare.csv"), "chart": str(png), "best_run": best.label if best else None,
            "table": md}
