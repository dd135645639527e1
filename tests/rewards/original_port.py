"""A port of the original SIFThinker reward code (GRPO-SIF `qwen_module.py`, spec 3.6): the oracle that
`reward.paper_compat=true` is tested against, case by case.

Written from the original's behaviour, statement for statement where it matters (the loose `in` tests on
untyped JSON, the exception handlers that keep partial results, `float()` on coordinates in the pair IoU,
shapely polygons with raw values in the global IoU, the reward assigned before the start IoU is computed).
What is left out: printing, logging and the LLM judge; the colour PNG is read with PIL instead of OpenCV (the
channel order is handled). Never imported by `sif`.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
from scipy.optimize import linear_sum_assignment
from shapely.geometry import Polygon
from shapely.ops import unary_union

AREA = re.compile(r"<area>(.*?)</area>", re.DOTALL)


def extract_content(text: str, key: str) -> list:
    """extract_area_content (key "bbox_2d") / extract_depth_content (key "depth")."""
    result = []
    for area in AREA.findall(text):
        values: list = []
        try:
            data = json.loads(area)
            if isinstance(data, list):
                for item in data:
                    if key in item:  # a TypeError here (an int, None...) keeps what was read so far
                        values.append(item[key])
            else:
                if key in data:  # a str: substring test; a number or None: TypeError
                    values.append(data[key])
        except Exception:  # noqa: BLE001 - the original caught everything, then appended []
            values.append([])
        result.append(values)
    return result


def single_iou(box1, box2) -> float:
    box1 = [float(x) for x in box1]
    box2 = [float(x) for x in box2]
    x_left, y_top = max(box1[0], box2[0]), max(box1[1], box2[1])
    x_right, y_bottom = min(box1[2], box2[2]), min(box1[3], box2[3])
    if x_right < x_left or y_bottom < y_top:
        return 0.0
    inter = (x_right - x_left) * (y_bottom - y_top)
    area1 = (box1[2] - box1[0]) * (box1[3] - box1[1])
    area2 = (box2[2] - box2[0]) * (box2[3] - box2[1])
    union = area1 + area2 - inter
    return inter / union if union != 0 else 0.0


def pair_iou(pred, gt) -> float:
    if not pred and not gt:
        return 1.0
    if not pred or not gt:
        return 0.0
    matrix = np.array([[single_iou(p, g) for g in gt] for p in pred])
    rows, cols = linear_sum_assignment(-matrix)
    return float(matrix[rows, cols].sum() / min(len(pred), len(gt)))


def global_iou(pred, gt) -> float:
    def polygons(boxes):
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


def hiou(pred, gt) -> float:
    return (global_iou(pred, gt) + pair_iou(pred, gt)) / 2


def box_iou(text: str, gt) -> float:
    """iou_reward (`bboxaccuracy`)."""
    reward = 0.0
    try:
        last = extract_content(text, "bbox_2d")[-1]
        if last:
            reward = hiou(last, gt)
    except Exception:  # noqa: BLE001
        pass
    return reward


def box_iou_progress(text: str, gt) -> float:
    """iou_reward_modify (`bboxaccuracy_w_progress`): the reward is the end IoU before the start IoU is
    computed, so an exception there leaves the end IoU."""
    reward = 0.0
    try:
        areas = extract_content(text, "bbox_2d")
        start = [[0, 0, 1, 1]]
        for area in areas:
            if area != [[0, 0, 1, 1]]:
                start = area
                break
        last = areas[-1]
        if last:
            end = hiou(last, gt)
            reward = end
            st = hiou(start, gt)
            reward = reward + (end - st if end >= st else 0.0)
    except Exception:  # noqa: BLE001
        pass
    return reward


def load_depth_from_color(png_path) -> np.ndarray:
    """The depth map back from its colour picture: the nearest Spectral_r palette colour (KD-tree) of each
    pixel gives its level, depth = 1 - level / 255; a picture with equal channels is read as grey / 255."""
    import matplotlib
    from PIL import Image
    from scipy.spatial import KDTree

    rgb = np.asarray(Image.open(png_path).convert("RGB")).astype(np.int16)
    if np.abs(rgb[..., 0] - rgb[..., 1]).max() <= 2 and np.abs(rgb[..., 1] - rgb[..., 2]).max() <= 2:
        return rgb[..., 0].astype(np.float32) / 255.0
    palette = (matplotlib.colormaps["Spectral_r"](np.arange(256) / 255.0)[:, :3] * 255).astype(np.uint8)
    _, levels = KDTree(palette).query(rgb.reshape(-1, 3), k=1)
    return 1.0 - levels.reshape(rgb.shape[:2]).astype(np.float32) / 255.0


def avg_depth(depth_map: np.ndarray, box) -> float:
    h, w = depth_map.shape[:2]
    x1, y1, x2, y2 = box
    x1p, y1p = int(math.floor(x1 * w)), int(math.floor(y1 * h))
    x2p, y2p = int(math.ceil(x2 * w)), int(math.ceil(y2 * h))
    x1p, y1p = max(0, min(x1p, w - 1)), max(0, min(y1p, h - 1))
    x2p, y2p = max(0, min(x2p, w)), max(0, min(y2p, h))
    if x2p <= x1p or y2p <= y1p:
        raise ValueError("no pixel")
    return float(np.mean(depth_map[y1p:y2p, x1p:x2p]))


def depth_consistency(text: str, depth_map: np.ndarray) -> float:
    """depth_reward, on the depth array `load_depth_from_color` gives."""
    reward = 0.0
    try:
        boxes = extract_content(text, "bbox_2d")
        depths = extract_content(text, "depth")
        total = sum(len(d) for d in depths)
        for i, area in enumerate(boxes):
            for j, box in enumerate(area):
                try:
                    mean = avg_depth(depth_map, box)
                    stated = depths[i][j]
                    if abs(mean - stated) / mean <= 0.1:
                        reward = reward + 1 / total
                except Exception:  # noqa: BLE001
                    continue
    except Exception:  # noqa: BLE001
        pass
    return reward
