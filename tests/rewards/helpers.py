"""Hand-written chains, a depth map with known box means, a fake judge, and a call helper."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from sif.rewards import build_reward_funcs

NAMES = ["format", "answer", "answer_progress", "box_iou", "box_iou_progress", "depth_consistency"]
RANGES = {"format": (0, 1), "answer": (0, 1), "answer_progress": (0, 2), "box_iou": (0, 1),
          "box_iou_progress": (0, 2), "depth_consistency": (0, 1)}
FULL = (0.0, 0.0, 1.0, 1.0)


def area_json(foci: Sequence[tuple[Sequence[float], float]]) -> str:
    return "[" + ",".join(
        '{"bbox_2d":[' + ",".join(f"{v:.3f}" for v in box) + f'],"depth":{d:.3f}' + "}" for box, d in foci) + "]"


def chain(areas: Sequence[Any], answer: str = "yes") -> str:
    """A chain in the canonical grammar. Each area is a list of (box, depth) or a raw string."""
    parts = ["<think>\n"]
    for i, a in enumerate(areas, 1):
        body = a if isinstance(a, str) else area_json(a)
        parts.append(f"<area>{body}</area>\n<text>step {i}</text>\n")
    parts.append(f"</think>\n<answer>\n{answer}\n</answer>")
    return "".join(parts)


def conv(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def make_depth(path: Path) -> str:
    """A 4x4 map: quadrants TL 0.0, TR 0.5, BL 1/64, BR 0.875 (exact in float16)."""
    d = np.zeros((4, 4), dtype=np.float16)
    d[:2, 2:] = 0.5
    d[2:, :2] = 1 / 64
    d[2:, 2:] = 0.875
    np.save(path, d, allow_pickle=False)
    return str(path)


TL, TR, BL, BR = (0.0, 0.0, 0.5, 0.5), (0.5, 0.0, 1.0, 0.5), (0.0, 0.5, 0.5, 1.0), (0.5, 0.5, 1.0, 1.0)


@dataclass
class FakeJudge:
    """Scores by a table {prediction: score}; records every score_many call."""

    table: dict = field(default_factory=dict)
    default: float = 0.0
    calls: list = field(default_factory=list)

    def score_many(self, items: list) -> list[float]:
        self.calls.append(list(items))
        return [self.table.get(it.prediction, self.default) for it in items]


def funcs(weights: Optional[dict] = None, paper_compat: bool = False, judge: Any = None, memory: Any = None,
          **cfg: Any) -> dict:
    w = weights if weights is not None else {n: 1.0 for n in NAMES}
    reward_cfg = {"weights": w, "paper_compat": paper_compat,
                  "answer_scorer": "judge" if judge is not None else "rule", **cfg}
    fs, _ = build_reward_funcs(reward_cfg, judge=judge, progress_memory=memory)
    return {f.__name__: f for f in fs}


class rows(list):
    """Marks a column given per completion (otherwise one value is repeated for every completion)."""


def call(fn: Any, texts: Sequence[Any], **cols: Any) -> list[float]:
    """Call a reward the way TRL does: every column a list with one entry per completion."""
    n = len(texts)
    kwargs = {k: (list(v) if isinstance(v, rows) else [v] * n) for k, v in cols.items()}
    kwargs.setdefault("trainer_state", None)
    out = fn(prompts=["q"] * n, completions=list(texts), completion_ids=None, **kwargs)
    assert len(out) == n and all(isinstance(x, float) and math.isfinite(x) for x in out)
    return out
