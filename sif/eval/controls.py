"""The image-blind controls of an eval run on the synthetic benchmark, for its results table and report.

Rows (sif.eval.baselines): chance, the question-only prior, the majority answer, the constant-box prior, and -
when the run is given the results of a **blind-control arm** (the same training with blank pictures,
`image_inputs=blank`; `stage=pipeline` with a `blind` step runs it) - that arm's numbers. They need the
training split the model learned from: `stage.controls_train` when set, else `dataset.path` (a
samples.jsonl), else the synthetic cache's training split when it exists (never generated here).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Optional, Sequence

log = logging.getLogger("sif.eval")
BLIND = "blind control"
CONSTANT_BOX = "constant-box prior"


def training_file(cfg: Any) -> Optional[Path]:
    """Where the training samples of this eval's model are, or None."""
    explicit = cfg.stage.get("controls_train") if hasattr(cfg.stage, "get") else None
    if explicit:
        path = Path(str(explicit)).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"stage.controls_train={explicit!r} is not a file")
        return path
    if cfg.dataset.get("path"):
        path = Path(str(cfg.dataset.path)).expanduser()
        return path if path.is_file() else None
    if str(cfg.dataset.get("source", "")) != "synth":
        return None
    from sif.generate.dataset_cache import synth_cache_root

    root = synth_cache_root(cfg)
    return root / "train" / "samples.jsonl" if (root / "train" / "DONE").exists() else None


def blind_aggregate(path: Any) -> dict:
    """The aggregate of a blind arm's eval: its results.json, or the eval folder holding it."""
    p = Path(str(path)).expanduser()
    if p.is_dir():
        p = p / "results.json"
    if not p.is_file():
        raise FileNotFoundError(f"blind-control results {p} not found (stage.blind_results)")
    return json.loads(p.read_text(encoding="utf-8"))["aggregate"]


def _records(path: Path) -> list[dict]:
    from sif.io import read_jsonl

    return [r for r in read_jsonl(path) if isinstance(r, dict) and "answer" in r]


def control_rows(train: Sequence[dict], held_out: Sequence[dict], iou_threshold: float = 0.5,
                 blind: Optional[dict] = None) -> dict[str, dict]:
    """{row name: {"overall", "per_category", and for box rows "mean_iou", "acc_at_iou", "r2_x", "r2_y"}}."""
    from sif.eval.baselines import baselines, constant_box_prior

    rows: dict[str, dict] = {}
    for name, values in baselines(train, held_out).items():
        rows[name] = {"overall": values.get("overall"),
                      "per_category": {k: v for k, v in values.items() if k != "overall"}}
    if any(s.get("gt_boxes") for s in train) and any(s.get("gt_boxes") for s in held_out):
        box = constant_box_prior(train, held_out, iou_threshold)
        rows[CONSTANT_BOX] = {"mean_iou": box["mean_iou"].get("overall"), "acc_at_iou": box["acc_at_iou"].get("overall"),
                              "r2_x": box["r2_x"], "r2_y": box["r2_y"]}
    if blind is not None:
        rows[BLIND] = {k: blind.get(k) for k in ("overall", "per_category", "mean_iou", "acc_at_iou", "r2_x", "r2_y")}
    return rows


def synth_controls(cfg: Any, items: Sequence[Any], iou_threshold: float) -> Optional[dict]:
    """The control rows of an eval of `items` (EvalItems of the synthetic benchmark), or None when the training
    split cannot be found; {"train_file", "rows"}."""
    path = training_file(cfg)
    blind_path = cfg.stage.get("blind_results") if hasattr(cfg.stage, "get") else None
    if path is None:
        log.info("eval: no training split found, so no control rows (set stage.controls_train)")
        return None
    held_out = [{"question": it.question, "answer": it.answer, "choices": it.choices, "category": it.category,
                 "gt_boxes": [list(b) for b in it.gt_boxes]} for it in items]
    blind = blind_aggregate(blind_path) if blind_path else None
    return {"train_file": str(path), "blind_results": str(blind_path) if blind_path else None,
            "rows": control_rows(_records(path), held_out, iou_threshold, blind)}
