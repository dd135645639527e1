"""The original's box arithmetic for `reward.paper_compat=true`, with its semantics on untyped JSON values.

The original scored the RAW values of `extract_area_content` (whatever JSON a completion holds) with:
* a pair IoU that converts every coordinate with `float()` (so `"0.2"` and `true` are numbers) and matches
  boxes with the Hungarian algorithm, dividing by min(|P|, |G|);
* a global IoU over shapely polygons built from the raw values, skipping a box when `x2 <= x1 or y2 <= y1`
  compared on those raw values (strings compare as strings; a string against a number raises);
* HIoU = (global + pair) / 2; any exception is the caller's (the rewards turn it into the original's 0).
This module reproduces that, statement for statement, so paper mode scores every completion exactly as the
original did (tests/rewards/test_paper_differential.py checks it against a port of the original code).
Our one departure: a result that is not finite (the original could return NaN or inf for coordinates near
the float limit) is 0, keeping every reward finite. sif.geometry stays the definition for fixed mode.
"""

from __future__ import annotations

import math
from typing import Any, Sequence


def single_iou(box1: Sequence[Any], box2: Sequence[Any]) -> float:
    a = [float(v) for v in box1]
    b = [float(v) for v in box2]
    x_left, y_top = max(a[0], b[0]), max(a[1], b[1])
    x_right, y_bottom = min(a[2], b[2]), min(a[3], b[3])
    if x_right < x_left or y_bottom < y_top:
        return 0.0
    inter = (x_right - x_left) * (y_bottom - y_top)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union != 0 else 0.0


def pair_iou(pred: Sequence[Any], gt: Sequence[Any]) -> float:
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    if not pred and not gt:
        return 1.0
    if not pred or not gt:
        return 0.0
    matrix = np.array([[single_iou(p, g) for g in gt] for p in pred])
    rows, cols = linear_sum_assignment(-matrix)
    return float(matrix[rows, cols].sum() / min(len(pred), len(gt)))


def global_iou(pred: Sequence[Any], gt: Sequence[Any]) -> float:
    from shapely.geometry import Polygon
    from shapely.ops import unary_union

    def polygons(boxes: Sequence[Any]) -> list:
        out = []
        for box in boxes:
            x1, y1, x2, y2 = box
            if x2 <= x1 or y2 <= y1:
                continue
            out.append(Polygon([(x1, y1), (x2, y1), (x2, y2), (x1, y2)]))
        return out

    pa, pb = polygons(pred), polygons(gt)
    a = unary_union(pa) if pa else Polygon()
    b = unary_union(pb) if pb else Polygon()
    if a.is_empty and b.is_empty:
        return 1.0
    if a.is_empty or b.is_empty:
        return 0.0
    inter = a.intersection(b).area
    union = a.area + b.area - inter
    return float(inter / union) if union != 0 else 0.0


def hiou(pred: Sequence[Any], gt: Sequence[Any]) -> float:
    """(global IoU + pair IoU) / 2 on raw values; raises where the original raised."""
    return (global_iou(pred, gt) + pair_iou(pred, gt)) / 2


def finite_or_zero(value: float) -> float:
    return value if isinstance(value, float) and math.isfinite(value) else 0.0
