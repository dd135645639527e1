"""Grounding metrics of box answers: per-axis R^2 of the box centre, mean IoU, Acc@0.5, parse rate.

A model's answer is untrusted text: the box is the first four numbers in it (regex, never evaluated), clipped
to the picture for the centre; no box counts as the picture's centre for R^2 and as IoU 0. Acc@0.5 counts
IoU > 0.5, strictly, as the eval scorer.
"""

from __future__ import annotations

import re
from typing import Optional, Sequence

_NUMBER = re.compile(r"-?\d{1,6}(?:\.\d{1,12})?")
Box = tuple[float, float, float, float]


def parse_box(text: str) -> Optional[Box]:
    nums = [float(x) for x in _NUMBER.findall(str(text)[:2000])[:4]]
    return (nums[0], nums[1], nums[2], nums[3]) if len(nums) == 4 else None


def grounding_metrics(preds: Sequence[Optional[Sequence[float]]], truths: Sequence[Sequence[float]],
                      threshold: float = 0.5) -> dict[str, float]:
    from sif.eval.benchmarks.base import box_centers, center_r2
    from sif.geometry import iou

    if len(preds) != len(truths) or not truths:
        raise ValueError(f"{len(preds)} predictions for {len(truths)} truths")
    ious = [iou(p, t) if p is not None else 0.0 for p, t in zip(preds, truths)]
    pairs = [box_centers([p] if p is not None else [], [t]) for p, t in zip(preds, truths)]
    r2 = center_r2(pairs)
    return {"n": len(truths), "mean_iou": sum(ious) / len(ious),
            "acc_at_iou": sum(v > threshold for v in ious) / len(ious),
            "r2_x": r2.get("r2_x", 0.0), "r2_y": r2.get("r2_y", 0.0),
            "parsed": sum(p is not None for p in preds) / len(preds)}


def mean_box(boxes: Sequence[Sequence[float]]) -> Box:
    n = len(boxes)
    if not n:
        raise ValueError("no boxes to average")
    return tuple(sum(float(b[k]) for b in boxes) / n for k in range(4))  # type: ignore[return-value]
