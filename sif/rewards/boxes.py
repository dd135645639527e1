"""`box_iou` (0..1) and `box_iou_progress` (0..2): where the chain looks vs the ground-truth boxes.

Both use the hierarchical IoU of `sif.geometry` (HIoU = (union IoU + pair IoU) / 2; fixed mode divides the
pair IoU by max(|P|, |G|), paper mode by min(|P|, |G|), bug 19).

Which boxes (spec §3.6 (3)):
* fixed: the areas inside <think> as `sif.chain.parse_chain` reads them; the last area's boxes. A last
  area that is not a well-formed JSON list of foci, or a sample without ground-truth boxes, gives 0.
* paper_compat: the original's `extract_area_content` over the whole text (`sif.chain.paper_area_content`),
  scored with the original's arithmetic on the raw values (`sif.rewards.paper_geometry`: numbers written as
  strings count, `float()` and shapely as the original); where the original raised, its handler's value:
  0, except that a start area that raises leaves box_iou_progress at the end IoU (it was assigned first).

`box_iou_progress`, paper rule: r = end + max(0, end - st), end = HIoU(last area), st = HIoU of the first
area whose box list is not exactly [[0,0,1,1]] (default: the full image). The bonus is largest when the
first real focus misses the target, so emitting an irrelevant first box pays (bug 18, the reward hack of
spec §3.6 (3)).

Fixed rule: r = end + bonus, bonus = max(0, end - base) if end >= PROGRESS_MIN_END else 0, where
base = HIoU([[0,0,1,1]], G) is the IoU of the full image, the focus every chain starts from (spec 1.7).
* The baseline is a property of the sample, not of the completion: no choice of intermediate boxes can
  change the reward of a given last area, so a deliberately bad first focus earns nothing (and a
  distractor-then-correction chain, as in the SFT data, is not penalised either).
* The bonus is paid only for a real hit (HIoU >= 0.5, the usual detection threshold), so it rewards
  the refinement "from the whole image to the target", not near misses; "focusing" on the whole image
  earns no bonus (end = base), which also closes the whole-image-box hack of anchors §4 row 12.
* r stays in [0, 2): end <= 1 and bonus <= end.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

from sif.rewards._fastgeom import hierarchical_iou
from sif.rewards.suite import RewardCall, RewardSuite, register_reward

Box = tuple[float, float, float, float]
FULL_IMAGE: Box = (0.0, 0.0, 1.0, 1.0)
PROGRESS_MIN_END = 0.5
PaperScores = tuple[float, float]  # (box_iou, box_iou_progress) of the original's code


def gt_boxes(value: Any) -> list[Box]:
    """The valid ground-truth boxes of a `gt_boxes` cell (malformed entries are dropped)."""
    from sif.data.schema import box_problem

    out: list[Box] = []
    if isinstance(value, (list, tuple)):
        for b in value[:1000]:
            if box_problem(b) is None:
                out.append(tuple(float(v) for v in b))  # type: ignore[arg-type]
    return out


def hiou(pred: Sequence[Box], gt: Sequence[Box], paper_compat: bool) -> float:
    """sif.geometry's hierarchical IoU (computed by the plain-Python fast path for small inputs)."""
    v = float(hierarchical_iou(list(pred), list(gt), paper_compat=paper_compat))
    return v if math.isfinite(v) else 0.0


def _is_full(area: Any) -> bool:
    try:
        return area == [[0, 0, 1, 1]]
    except Exception:  # noqa: BLE001
        return False


def paper_areas(suite: RewardSuite, text: str, key: str) -> list[list[Any]]:
    """`sif.chain.paper_area_content(text, key)`, shared by the paper-mode rewards of a batch."""
    from sif.chain import paper_area_content

    return suite.memo(("paper_areas", key, text), lambda: paper_area_content(text, key))


def paper_box_scores(suite: RewardSuite, text: str, gt: list[Box]) -> PaperScores:
    """(box_iou, box_iou_progress) exactly as the original's iou_reward / iou_reward_modify computed them
    (sif.rewards.paper_geometry on the raw area values); non-finite results are 0."""
    return suite.memo(("paper_box", text, tuple(gt)),
                      lambda: _paper_box_scores(paper_areas(suite, text, "bbox_2d"), gt))


def _paper_box_scores(areas: list[list[Any]], gt: list[Box]) -> PaperScores:
    from sif.rewards.paper_geometry import finite_or_zero, hiou as paper_hiou

    gt_lists = [list(b) for b in gt]
    plain = 0.0
    try:  # iou_reward: HIoU of the last area; any exception -> 0
        if areas[-1]:
            plain = paper_hiou(areas[-1], gt_lists)
    except Exception:  # noqa: BLE001 - the original's handler
        plain = 0.0
    progress = 0.0
    try:  # iou_reward_modify: the reward is the end IoU BEFORE the start IoU is computed
        start: list[Any] = [[0, 0, 1, 1]]
        for area in areas:
            if not _is_full(area):
                start = area
                break
        if areas[-1]:
            end = paper_hiou(areas[-1], gt_lists)
            progress = end
            st = paper_hiou(start, gt_lists)
            progress = progress + (end - st if end >= st else 0.0)
    except Exception:  # noqa: BLE001 - keeps whatever was assigned, as the original did
        pass
    return finite_or_zero(plain), finite_or_zero(progress)


def fixed_end(suite: RewardSuite, text: str, gt: list[Box]) -> Optional[float]:
    """HIoU of the last area inside <think>, or None when there is nothing to score."""
    if not gt:
        return None
    areas = suite.parse(text).areas
    if not areas or not areas[-1]:
        return None
    last = [f.bbox for f in areas[-1]]
    return suite.memo(("fixed_end", text, tuple(gt)), lambda: hiou(last, gt, False))


def progress_value(end: float, st: float, base: float, paper_compat: bool) -> float:
    """The box progress rule: paper end + max(0, end - st); fixed end + [end >= 0.5] max(0, end - base)."""
    if paper_compat:
        return end + max(0.0, end - st)
    return end + (max(0.0, end - base) if end >= PROGRESS_MIN_END else 0.0)


@register_reward("box_iou", lo=0.0, hi=1.0)
def box_iou_reward(suite: RewardSuite, call: RewardCall) -> list[float]:
    """Hierarchical IoU of the last area's boxes vs the ground-truth boxes."""
    out = []
    for i, text in enumerate(call.texts):
        gt = gt_boxes(call.cols.get("gt_boxes", i))
        try:
            if suite.paper_compat:
                out.append(paper_box_scores(suite, text, gt)[0])
            else:
                end = fixed_end(suite, text, gt)
                out.append(0.0 if end is None else end)
        except Exception:  # noqa: BLE001 - the original's "any exception -> 0"
            suite.count("errors/box_iou_row")
            out.append(0.0)
    return out


@register_reward("box_iou_progress", lo=0.0, hi=2.0)
def box_iou_progress_reward(suite: RewardSuite, call: RewardCall) -> list[float]:
    """Last-area HIoU plus the within-chain progress bonus (see the module docstring for both rules)."""
    out = []
    base_cache: dict[tuple, float] = {}
    for i, text in enumerate(call.texts):
        gt = gt_boxes(call.cols.get("gt_boxes", i))
        try:
            if suite.paper_compat:
                out.append(paper_box_scores(suite, text, gt)[1])
                continue
            end = fixed_end(suite, text, gt)
            if end is None:
                out.append(0.0)
                continue
            key = tuple(gt)
            if key not in base_cache:
                base_cache[key] = hiou([FULL_IMAGE], gt, False)
            out.append(progress_value(end, 0.0, base_cache[key], False))
        except Exception:  # noqa: BLE001
            suite.count("errors/box_iou_progress_row")
            out.append(0.0)
    return out
