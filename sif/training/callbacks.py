"""metrics.jsonl (one line per trainer log event, rank 0 only) and the loss-curve PNG."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Iterable

try:  # transformers is a dependency; the base class only matters to the Trainer's callback handler
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover
    TrainerCallback = object  # type: ignore[assignment,misc]


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _plain(value.item())
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


class MetricsJsonlCallback(TrainerCallback):  # type: ignore[misc]
    """Appends every log event as one JSON line {"step", "epoch", "time", **logs}; also keeps this session's
    events (`session`) for the summary. Lines are flushed at once, so a killed run keeps what it logged."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.session: list[dict] = []
        self.start_step = 0

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001 - HF callback signature
        self.start_step = int(state.global_step)
        if state.is_world_process_zero:
            _cut_torn_tail(self.path)

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
        if not logs:
            return
        record = {"step": int(state.global_step), "epoch": _plain(state.epoch), "time": round(time.time(), 3)}
        record.update({k: _plain(v) for k, v in logs.items()})
        peak = _peak_gpu_memory_gib()
        if peak is not None:  # what the run has needed so far on this rank's GPU (benchmarks read it)
            record["gpu/peak_memory_gib"] = peak
        self.session.append(record)
        if not state.is_world_process_zero:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()


def _peak_gpu_memory_gib() -> float | None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**30, 3)


def _cut_torn_tail(path: Path) -> None:
    """Drop a partial last line (a run killed mid-write), so appended records start on a line of their own."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


def read_metrics(path: str | Path) -> list[dict]:
    """The records of a metrics.jsonl; a torn last line (killed run) is ignored."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def series(records: Iterable[dict], key: str) -> list[tuple[int, float]]:
    """(step, value) of `key`, one per step (the last one logged wins: a resumed run re-logs its steps)."""
    by_step: dict[int, float] = {}
    for rec in records:
        value = rec.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            by_step[int(rec.get("step", 0))] = float(value)
    return sorted(by_step.items())


def plot_loss_curve(records: list[dict], out_png: str | Path, title: str = "loss") -> Path | None:
    """Training loss (and eval loss when present) against the step; None when nothing was logged."""
    train, evals = series(records, "loss"), series(records, "eval_loss")
    if not train and not evals:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sif.io import atomic_path

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    if train:
        ax.plot(*zip(*train), label="train loss", linewidth=1.2)
    if evals:
        ax.plot(*zip(*evals), "o-", label="eval loss", linewidth=1.2, markersize=4)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return out_png
