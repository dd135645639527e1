"""The benchmark interface and the strict rules every benchmark shares.

Scoring one completion (`Benchmark.score`):
* the answer is the first `<answer>...</answer>` (stripped); none, or an empty one, is WRONG and counted
  apart (`answer_found=False`, aggregate `answer_missing`). Correctness depends on the answer only; the
  chain's well-formedness is reported separately (`format_ok`, aggregate `format_rate`);
* box metrics (items with gt boxes): the LAST `<area>` of the chain; when it or the ground truth holds
  several boxes, the enclosing box of each (union box) is compared. No area, or a malformed last
  area, = IoU 0, a miss (no fallback to an earlier area).
  `hit` is IoU > `iou_threshold` (strictly, as VisCoT's scorer); the centres of both union boxes are kept
  (`box_center`, `gt_center`; the prediction clipped to the picture, the picture's centre when no box could
  be read) for the per-axis R^2 of the aggregate (`r2_x`, `r2_y`: 1 - SS_res / SS_tot over the boxed items;
  0 for a constant guess at the mean, negative below it);
* depth consistency (items with a depth map): the share of the chain's (box, depth) pairs whose depth is
  within 10% relative error of the map's mean m inside the box, with the depth reward's absolute floor
  (|m - p| <= max(0.1 m, 0.02), the reward's fixed-mode defaults; compat: pure relative, m = 0 a miss):
  an area that failed to parse counts as one miss, an invalid box or depth is a miss, a chain with no
  pair scores 0.

`compat=True` (per benchmark) reproduces the released scripts' quirks, for comparison only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence

from sif.chain import extract_answer, parse_chain
from sif.eval.benchmarks._files import default_cache_dir

Box = tuple[float, float, float, float]
DEPTH_REL_TOL = 0.1  # as the depth reward (reward.depth_tolerance)
DEPTH_ABS_FLOOR = 0.02  # as the depth reward's fixed mode (reward.depth_abs_floor); compat: 0


@dataclass
class EvalItem:
    id: str
    image: str  # absolute path of the (first) image
    question: str  # without the options (the prompt adds them from `choices`)
    answer: str  # the option letter for multiple choice, else the answer text
    choices: Optional[list[str]] = None
    category: str = "all"
    gt_boxes: list[Box] = field(default_factory=list)  # per-axis normalized [x1, y1, x2, y2]
    depth: Optional[str] = None  # .npy depth map (0 nearest .. 1 farthest)
    image_size: Optional[tuple[int, int]] = None  # (W, H)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ItemScore:
    id: str
    category: str
    correct: bool
    format_ok: bool
    answer_found: bool
    pred_answer: Optional[str]
    iou: Optional[float] = None
    hit: Optional[bool] = None
    depth_consistency: Optional[float] = None
    box_center: Optional[list[float]] = None  # (x, y) of the predicted union box, clipped to [0, 1]
    gt_center: Optional[list[float]] = None
    score: float = 0.0  # the item's contribution to accuracy (partial credit where a benchmark has it)
    details: dict[str, Any] = field(default_factory=dict)  # benchmark-specific (pairs, official IoU, ...)


@dataclass
class Judgement:
    """A benchmark's verdict on one answer (None = no answer found)."""

    correct: bool
    score: Optional[float] = None  # default 1.0 / 0.0 from `correct`
    details: dict[str, Any] = field(default_factory=dict)


def mean(values: Sequence[float]) -> Optional[float]:
    vals = [float(v) for v in values]
    return sum(vals) / len(vals) if vals else None


class Benchmark:
    """Subclasses set `name`, implement `load` and `judge`, and may add `official` metrics."""

    name: ClassVar[str] = ""

    def __init__(self, cfg: Any, cache_dir: str | Path | None = None) -> None:
        self.cfg = cfg
        self.compat = bool(getattr(cfg, "compat", False))
        self.iou_threshold = float(getattr(cfg, "iou_threshold", 0.5))
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir() / (self.name or "x")

    # ---- paths -------------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        if not getattr(self.cfg, "path", None):
            raise ValueError(f"benchmark {self.name!r}: set benchmark.path to the release file/folder")
        return Path(self.cfg.path).expanduser()

    @property
    def image_root(self) -> Path:
        """cfg.image_root, else the release folder (the file's folder when path is a file)."""
        root = getattr(self.cfg, "image_root", None)
        if root:
            return Path(root).expanduser().resolve()
        return (self.path if self.path.is_dir() else self.path.parent).resolve()

    @property
    def depth_root(self) -> Optional[str]:
        return getattr(self.cfg, "depth_root", None) or None

    # ---- interface ---------------------------------------------------------------------------------
    def load(self) -> list[EvalItem]:  # pragma: no cover - interface
        raise NotImplementedError

    def judge(self, item: EvalItem, answer: Optional[str]) -> Judgement:  # pragma: no cover - interface
        raise NotImplementedError

    def official(self, scores: list[ItemScore]) -> dict[str, Any]:
        """The benchmark's own aggregate numbers (added to `aggregate`'s dict)."""
        return {}

    # ---- scoring -----------------------------------------------------------------------------------
    def score(self, item: EvalItem, completion: Any) -> ItemScore:
        text = completion if isinstance(completion, str) else ""
        parsed = parse_chain(text)
        answer = extract_answer(text)
        found = answer is not None and answer.strip() != ""
        verdict = self.judge(item, answer.strip() if found else None)
        value = verdict.score if verdict.score is not None else (1.0 if verdict.correct else 0.0)
        out = ItemScore(id=item.id, category=item.category, correct=bool(verdict.correct),
                        format_ok=bool(parsed.valid), answer_found=found,
                        pred_answer=answer.strip() if found else None, score=float(value),
                        details=dict(verdict.details))
        if item.gt_boxes:
            out.iou = last_area_iou(parsed.last_boxes, item.gt_boxes)
            out.hit = out.iou > self.iou_threshold
            out.box_center, out.gt_center = box_centers(parsed.last_boxes, item.gt_boxes)
        if item.depth:
            out.depth_consistency = depth_consistency(parsed, self._depth_map(item.depth),
                                                      abs_floor=0.0 if self.compat else DEPTH_ABS_FLOOR)
        return out

    def _depth_map(self, path: str) -> Any:
        from sif.depth import load_depth_map  # cached per (path, mtime, size)

        return load_depth_map(path)

    # ---- aggregation -------------------------------------------------------------------------------
    def aggregate(self, scores: list[ItemScore]) -> dict[str, Any]:
        """overall (mean item score), per_category (+ counts), format_rate, answer_missing, box metrics
        where gt boxes exist, depth_consistency where computed, and the benchmark's `official` numbers."""
        out: dict[str, Any] = {"n": len(scores), "overall": mean([s.score for s in scores]) or 0.0}
        cats: dict[str, list[float]] = {}
        for s in scores:
            cats.setdefault(s.category, []).append(s.score)
        out["per_category"] = {c: mean(v) for c, v in sorted(cats.items())}
        out["per_category_n"] = {c: len(v) for c, v in sorted(cats.items())}
        out["format_rate"] = mean([1.0 if s.format_ok else 0.0 for s in scores]) or 0.0
        out["answer_missing"] = sum(1 for s in scores if not s.answer_found)
        boxed = [s for s in scores if s.iou is not None]
        if boxed:
            out["acc_at_iou"] = mean([1.0 if s.hit else 0.0 for s in boxed])
            out["mean_iou"] = mean([s.iou for s in boxed])  # type: ignore[misc]
            out["iou_threshold"] = self.iou_threshold
            out.update(center_r2([(s.box_center, s.gt_center) for s in boxed]))
        depths = [s.depth_consistency for s in scores if s.depth_consistency is not None]
        if depths:
            out["depth_consistency"] = mean(depths)
        out["compat"] = self.compat
        out.update(self.official(scores))
        return out


def last_area_iou(last_boxes: Sequence[Sequence[float]], gt_boxes: Sequence[Sequence[float]]) -> float:
    """IoU of the union box of the chain's last area and the union box of the gt boxes (0 when none)."""
    from sif.geometry import iou, union_box

    boxes = [tuple(float(v) for v in b) for b in (last_boxes or [])]
    if not boxes or not gt_boxes:
        return 0.0
    try:
        value = float(iou(union_box(boxes), union_box([tuple(b) for b in gt_boxes])))
    except (ValueError, TypeError, ZeroDivisionError):
        return 0.0
    return value if math.isfinite(value) else 0.0


def box_centers(last_boxes: Sequence[Sequence[float]],
                gt_boxes: Sequence[Sequence[float]]) -> tuple[list[float], Optional[list[float]]]:
    """Centres (x, y) of the predicted union box - clipped to the picture; (0.5, 0.5) when no valid box - and
    of the ground-truth union box (None without one)."""
    from sif.geometry import EMPTY_BOX, as_box, clip_box, union_box

    def centre(boxes: Sequence[Sequence[float]]) -> Optional[list[float]]:
        u = union_box([clip_box(b) for b in (as_box(x) for x in list(boxes or [])) if b is not None])
        if u == EMPTY_BOX:
            return None
        return [(u[0] + u[2]) / 2, (u[1] + u[3]) / 2]

    return centre(last_boxes) or [0.5, 0.5], centre(gt_boxes)


def center_r2(pairs: Sequence[tuple[Optional[Sequence[float]], Optional[Sequence[float]]]]) -> dict[str, float]:
    """Per-axis R^2 of predicted box centres against the truth: {"r2_x", "r2_y"}; {} with fewer than 2 pairs
    or no spread in the truth."""
    good = [(p, t) for p, t in pairs if p is not None and t is not None]
    out: dict[str, float] = {}
    if len(good) < 2:
        return out
    for axis, key in ((0, "r2_x"), (1, "r2_y")):
        truth = [float(t[axis]) for _, t in good]
        centre = sum(truth) / len(truth)
        total = sum((v - centre) ** 2 for v in truth)
        if total > 0:
            out[key] = 1.0 - sum((float(p[axis]) - v) ** 2 for (p, _), v in zip(good, truth)) / total
    return out


def depth_consistency(parsed: Any, depth_map: Any, rel_tol: float = DEPTH_REL_TOL,
                      abs_floor: float = DEPTH_ABS_FLOOR) -> float:
    """Share of the chain's (box, depth) pairs with |m - p| <= max(rel_tol * m, abs_floor), m the map's
    mean inside the box (the depth reward's fixed rule). An area without usable foci counts one miss; a
    box outside [0, 1] / inverted / empty, or a depth outside [0, 1], is a miss; no pair at all gives 0.
    abs_floor=0 gives the paper's pure relative rule (m = 0 then a miss)."""
    total = hits = 0
    for area in list(getattr(parsed, "areas", None) or []):
        if not area:
            total += 1
            continue
        for focus in area:
            total += 1
            try:
                box = tuple(float(v) for v in focus.bbox)
                p = float(focus.depth)
                if not (len(box) == 4 and all(0.0 <= v <= 1.0 for v in box) and box[2] > box[0]
                        and box[3] > box[1] and 0.0 <= p <= 1.0):
                    continue
                m = float(depth_map.box_mean(box))
            except (ValueError, TypeError, AttributeError):
                continue
            if math.isfinite(m) and (m > 0 or abs_floor > 0) and abs(m - p) <= max(rel_tol * abs(m), abs_floor):
                hits += 1
    return hits / total if total else 0.0
