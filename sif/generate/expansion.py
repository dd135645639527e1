"""Reverse expansion: the focus chain from the full image down to the ground-truth boxes (spec 1.4).

The original grew boxes by a step computed from the *difference* of the left and right margins
(`1 - max(x1) - min(x2)`), which collapses to one pixel for boxes right of centre (spec 7, bug 1), and then
used only the first of five frames. Our rule: expanded frame i of k moves every side of each target box a
fraction i/(k+1) of the way to the image border, so frames are nested, evenly spaced between the target
and the full image, and independent of where the target lies. Overlapping boxes are merged as in the
original; a union step is added when several boxes remain; the optional distractor-and-correction step
follows the original's placement rule (adjust_3f_bbox), with a seeded generator.

Forward order of the returned steps: full image -> (distractor) -> (union) -> coarsest .. finest
expansion -> target boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from sif.geometry import iou, round_box, union_box

Box = tuple[float, float, float, float]
FULL: Box = (0.0, 0.0, 1.0, 1.0)


@dataclass
class FocusStep:
    boxes: list[Box]
    role: str  # full | distractor | union | expanded | target


def grow_toward_border(box: Box, t: float) -> Box:
    x1, y1, x2, y2 = box
    return (x1 * (1 - t), y1 * (1 - t), x2 + (1 - x2) * t, y2 + (1 - y2) * t)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def merge_overlapping(boxes: Sequence[Box]) -> list[Box]:
    """Repeatedly replace any two boxes whose interiors overlap by their bounding box."""
    out = list(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                if _overlap(out[i], out[j]):
                    merged = union_box([out[i], out[j]])
                    out = [b for k, b in enumerate(out) if k not in (i, j)] + [merged]
                    changed = True
                    break
            if changed:
                break
    return out


def _scale_about_centre(box: Box, s: float) -> Box:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (box[2] - box[0]) * s / 2, (box[3] - box[1]) * s / 2
    return (max(0.0, cx - hw), max(0.0, cy - hh), min(1.0, cx + hw), min(1.0, cy + hh))


def make_distractor(target: Box, rng: np.random.Generator) -> Box | None:
    """A box of similar size that does not overlap `target` (the original's adjust_3f_bbox rule)."""
    s = _scale_about_centre(_scale_about_centre(target, 1.2), float(rng.uniform(0.7, 1.3)))
    w, h = s[2] - s[0], s[3] - s[1]
    corners = [(target[2], target[3]), (target[2], target[1] - h), (target[0] - w, target[3]),
               (target[0] - w, target[1] - h)]
    fits = [(x, y) for x, y in corners if x >= 0 and y >= 0 and x + w <= 1 and y + h <= 1]
    if fits:
        x, y = fits[int(rng.integers(len(fits)))]
        cand: Box = (x, y, x + w, y + h)
    else:
        cand = s
        for _ in range(1000):
            dx = float(rng.uniform(-s[0], 1 - s[2]))
            dy = float(rng.uniform(-s[1], 1 - s[3]))
            trial = (s[0] + dx, s[1] + dy, s[2] + dx, s[3] + dy)
            if iou(target, trial) < 0.001:
                cand = trial
                break
    cand = round_box(cand, 3)
    if cand[2] - cand[0] < 0.01 or cand[3] - cand[1] < 0.01 or iou(target, cand) >= 0.001:
        return None
    return cand


def reverse_expansion(targets: Sequence[Box], rng: np.random.Generator, expansion_steps: int = 1,
                      distractor_prob: float = 0.5) -> list[FocusStep]:
    """The focus steps, in forward (coarse -> fine) order, ending at the target boxes."""
    targets = [round_box(b, 3) for b in targets]
    if not targets:
        return [FocusStep([FULL], "full")]
    frames: list[list[Box]] = []
    for i in range(expansion_steps, 0, -1):  # coarsest first
        t = i / (expansion_steps + 1)
        frame = merge_overlapping([grow_toward_border(b, t) for b in targets])
        frames.append([round_box(b, 3) for b in frame])
    steps = [FocusStep([FULL], "full")]
    coarsest = frames[0] if frames else targets
    union = union_box(coarsest)
    want_distractor = float(rng.random()) < distractor_prob  # drawn always: same stream either way
    if want_distractor:  # placed off the targets themselves, as the original (whose first frame ~ GT)
        distractor = make_distractor(union_box(targets), rng)
        if distractor is not None and all(iou(distractor, b) < 0.001 for b in targets):
            steps.append(FocusStep([distractor], "distractor"))
    if len(coarsest) > 1:
        steps.append(FocusStep([round_box(union, 3)], "union"))
    for frame in frames:
        if frame != steps[-1].boxes and frame != [FULL]:
            steps.append(FocusStep(frame, "expanded"))
    if targets != steps[-1].boxes:
        steps.append(FocusStep(list(targets), "target"))
    return steps
