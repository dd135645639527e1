"""Boxes: validity, conversions, IoU, exact union IoU, Hungarian pair IoU, hierarchical IoU (spec 3.6, 1.9).

Convention: `(x1, y1, x2, y2)` normalized per axis to the original image (0..1). Boxes reaching these
functions are often untrusted model output, so every function accepts any sequence and never raises on
numeric input: a box is *valid* when it is 4 finite real numbers (bools are not numbers) with x2>x1 and
y2>y1; invalid boxes (NaN/inf, wrong length, strings, inverted or zero-size) are skipped by the set
functions and give area/IoU 0. Boxes with a coordinate beyond SAFE_COORD (a model may write 1e300) are
scaled down by a power of two (exact) before an IoU, so no width or area overflows: every IoU is a finite
number in [0, 1]. Below SAFE_COORD the arithmetic is the plain one (sif.rewards._fastgeom repeats it); a
box whose area underflows (sides under ~1e-154) counts as empty there. The only ValueError is a
non-positive or non-finite image size in the pixel/VisCoT conversions, a caller bug, not bad model output.

Bounded work: the set functions read at most MAX_UNION_BOXES valid boxes per argument (union area and union
IoU are exact for those) and pair_iou matches at most MAX_PAIR_BOXES per side (the first ones given). Real
chains have a handful of boxes per area; the caps only stop an adversarial completion from stalling training.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Sequence

import numpy as np

Box = tuple[float, float, float, float]

MAX_UNION_BOXES = 256
MAX_PAIR_BOXES = 64
SAFE_COORD = 1e150  # |coordinates| up to this give widths, areas and sums of areas far below float max
EMPTY_BOX: Box = (0.0, 0.0, 0.0, 0.0)


def as_box(b: Any) -> Box | None:
    """4 finite real numbers as a float tuple (order not checked), else None."""
    try:
        if isinstance(b, (str, bytes, dict)) or len(b) != 4:
            return None
        out = []
        for v in b:
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                return None
            f = float(v)
            if not math.isfinite(f):
                return None
            out.append(f)
    except Exception:  # noqa: BLE001 - anything that is not a sized sequence of numbers
        return None
    return (out[0], out[1], out[2], out[3])


def is_valid_box(b: Any) -> bool:
    """4 finite numbers with x2>x1 and y2>y1 (the [0,1] range is not checked)."""
    t = as_box(b)
    return t is not None and t[2] > t[0] and t[3] > t[1]


def _valid(b: Any) -> Box | None:
    t = as_box(b)
    return t if t is not None and t[2] > t[0] and t[3] > t[1] else None


def _collect(boxes: Any, cap: int, keep_invalid: bool = False) -> list[Box]:
    """The first `cap` valid boxes of an iterable (finite 4-number boxes when keep_invalid)."""
    out: list[Box] = []
    try:
        it = iter(boxes)
    except TypeError:
        return out
    try:
        for b in it:
            t = as_box(b) if keep_invalid else _valid(b)
            if t is not None:
                out.append(t)
                if len(out) >= cap:
                    break
    except Exception:  # noqa: BLE001 - a misbehaving iterable ends the list
        pass
    return out


def clip_box(b: Sequence[float], lo: float = 0.0, hi: float = 1.0) -> Box:
    """Each coordinate clamped to [lo, hi] (NaN stays NaN; ordering is not repaired)."""
    def c(v: float) -> float:
        f = float(v)
        return f if math.isnan(f) else min(max(f, lo), hi)
    return (c(b[0]), c(b[1]), c(b[2]), c(b[3]))


def round_box(b: Sequence[float], ndigits: int = 3) -> Box:
    """Coordinates rounded like the chain text writes them (round() equals format(v, '.3f'); the tests check
    it), without negative zeros."""
    r = [round(float(v), ndigits) + 0.0 for v in b[:4]]  # -0.0 + 0.0 == +0.0
    return (r[0], r[1], r[2], r[3])


def union_box(boxes: Iterable[Sequence[float]]) -> Box:
    """Bounding box of the valid boxes; EMPTY_BOX (invalid) when there are none."""
    vb = _collect(boxes, 1 << 30)
    if not vb:
        return EMPTY_BOX
    return (min(b[0] for b in vb), min(b[1] for b in vb), max(b[2] for b in vb), max(b[3] for b in vb))


def area(b: Any) -> float:
    """Width x height of a valid box, else 0 (inf if a huge box overflows)."""
    t = _valid(b)
    return 0.0 if t is None else (t[2] - t[0]) * (t[3] - t[1])


def _unit(x: float) -> float:
    """Clamp to [0, 1]; NaN -> 0 (a reward must never turn NaN)."""
    return min(1.0, x) if x > 0.0 else 0.0


def _pow2_scale(m: float) -> float:
    """1 when m <= SAFE_COORD (nothing can overflow), else the power of two that brings m into [0.5, 1)
    (power-of-two scaling is exact, so IoUs are unchanged)."""
    return 1.0 if m <= SAFE_COORD else math.ldexp(1.0, -math.frexp(m)[1])


def _scaled(boxes: list[Box]) -> list[Box]:
    """The boxes, scaled down together when a model wrote huge numbers (1e300) that would overflow."""
    k = _pow2_scale(max((abs(v) for b in boxes for v in b), default=0.0))
    return boxes if k == 1.0 else [(b[0] * k, b[1] * k, b[2] * k, b[3] * k) for b in boxes]


def iou(a: Any, b: Any) -> float:
    """Continuous IoU (no +1 pixel); 0 if either box is invalid or they do not overlap."""
    p, q = _valid(a), _valid(b)
    if p is None or q is None:
        return 0.0
    p, q = _scaled([p, q])
    return overlap_iou(p, q)


def overlap_iou(p: Box, q: Box) -> float:
    """The IoU arithmetic on two boxes already known to be finite, non-degenerate and safely scaled."""
    w = min(p[2], q[2]) - max(p[0], q[0])
    h = min(p[3], q[3]) - max(p[1], q[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
    return _unit(inter / union) if union > 0 else 0.0


def _cover(boxes: list[Box], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Boolean grid: cell (i, j) between xs[i..i+1], ys[j..j+1] is inside some box (2-D difference array)."""
    b = np.asarray(boxes, dtype=np.float64)
    i1, i2 = np.searchsorted(xs, b[:, 0]), np.searchsorted(xs, b[:, 2])
    j1, j2 = np.searchsorted(ys, b[:, 1]), np.searchsorted(ys, b[:, 3])
    d = np.zeros((len(xs), len(ys)), dtype=np.int32)
    np.add.at(d, (i1, j1), 1)
    np.add.at(d, (i2, j1), -1)
    np.add.at(d, (i1, j2), -1)
    np.add.at(d, (i2, j2), 1)
    return d.cumsum(0).cumsum(1)[:-1, :-1] > 0


def _grid(*groups: list[Box]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    pts = np.asarray([b for g in groups for b in g], dtype=np.float64)
    xs, ys = np.unique(pts[:, [0, 2]]), np.unique(pts[:, [1, 3]])
    return xs, ys, np.diff(xs), np.diff(ys)


def _cells_area(mask: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> float:
    return float(dx @ (mask.astype(np.float64) @ dy))


def union_area(boxes: Iterable[Sequence[float]]) -> float:
    """Exact area of the union of the valid boxes (coordinate compression, O(n^2) cells)."""
    vb = _collect(boxes, MAX_UNION_BOXES)
    if not vb:
        return 0.0
    if len(vb) == 1:
        return area(vb[0])
    xs, ys, dx, dy = _grid(vb)
    return _cells_area(_cover(vb, xs, ys), dx, dy)


def union_iou(pred: Iterable[Sequence[float]], gt: Iterable[Sequence[float]]) -> float:
    """IoU of the two unions (the original's shapely `compute_global_iou`), exact; invalid boxes skipped;
    both empty -> 1.0, one empty -> 0.0."""
    p, g = _collect(pred, MAX_UNION_BOXES), _collect(gt, MAX_UNION_BOXES)
    if not p and not g:
        return 1.0
    if not p or not g:
        return 0.0
    if len(p) == 1 and len(g) == 1:
        return iou(p[0], g[0])
    both = _scaled(p + g)
    p, g = both[:len(p)], both[len(p):]
    xs, ys, dx, dy = _grid(p, g)
    cp, cg = _cover(p, xs, ys), _cover(g, xs, ys)
    union = _cells_area(cp | cg, dx, dy)
    return _unit(_cells_area(cp & cg, dx, dy) / union) if union > 0 else 0.0


def iou_matrix(pred: list[Box], gt: list[Box]) -> np.ndarray:
    """Pairwise continuous IoU (rows pred, columns gt); invalid (inverted/empty) boxes score 0. Each pair
    with a huge coordinate is scaled down by a power of two first, as in iou()."""
    a = np.asarray(pred, dtype=np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(gt, dtype=np.float64).reshape(-1, 4)[None, :, :]
    m = np.maximum(np.abs(a).max(-1), np.abs(b).max(-1))
    k = np.where(m > SAFE_COORD, np.ldexp(1.0, -np.frexp(m)[1]), 1.0)[..., None]
    a, b = a * k, b * k
    w = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    h = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    ok_a = (a[..., 2] > a[..., 0]) & (a[..., 3] > a[..., 1])
    ok_b = (b[..., 2] > b[..., 0]) & (b[..., 3] > b[..., 1])
    inter = np.where((w > 0) & (h > 0) & ok_a & ok_b, w * h, 0.0)
    union = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where((inter > 0) & (union > 0), inter / np.where(union > 0, union, 1.0), 0.0)
    return np.nan_to_num(np.clip(out, 0.0, 1.0), nan=0.0)


def pair_iou(pred: Iterable[Sequence[float]], gt: Iterable[Sequence[float]],
             paper_compat: bool = False) -> float:
    """Mean IoU of the optimal one-to-one matching (Hungarian on -IoU).

    Fixed: matched IoU sum / max(|P|, |G|), so unmatched boxes cost; invalid boxes are dropped.
    Paper (spec bug 19): sum / min(|P|, |G|), no penalty for unmatched boxes; finite 4-number boxes that are
    inverted or empty still count (IoU 0), as in the original. Both empty -> 1.0, one empty -> 0.0."""
    p = _collect(pred, MAX_PAIR_BOXES, keep_invalid=paper_compat)
    g = _collect(gt, MAX_PAIR_BOXES, keep_invalid=paper_compat)
    if not p and not g:
        return 1.0
    if not p or not g:
        return 0.0
    from scipy.optimize import linear_sum_assignment  # lazy: keeps `import sif.geometry` light

    m = iou_matrix(p, g)
    rows, cols = linear_sum_assignment(-m)
    total = float(m[rows, cols].sum())
    return _unit(total / (min(len(p), len(g)) if paper_compat else max(len(p), len(g))))


def hierarchical_iou(pred: Iterable[Sequence[float]], gt: Iterable[Sequence[float]],
                     paper_compat: bool = False) -> float:
    """(union_iou + pair_iou) / 2: the paper's "hierarchical IoU"."""
    p, g = list(_iter_safe(pred)), list(_iter_safe(gt))
    return _unit((union_iou(p, g) + pair_iou(p, g, paper_compat)) / 2.0)


def _iter_safe(boxes: Any) -> Iterable[Any]:
    try:
        return list(boxes)[: 1 << 16]
    except Exception:  # noqa: BLE001
        return []


# ---- coordinate frames -----------------------------------------------------------------------------

def _check_size(width: float, height: float) -> tuple[float, float]:
    w, h = float(width), float(height)
    if not (math.isfinite(w) and math.isfinite(h) and w > 0 and h > 0):
        raise ValueError(f"image size must be positive and finite, got {width}x{height}")
    return w, h


def pixel_to_norm(box_px: Sequence[float], width: float, height: float) -> Box:
    """Pixel box -> per-axis normalized box (not clipped)."""
    w, h = _check_size(width, height)
    return (float(box_px[0]) / w, float(box_px[1]) / h, float(box_px[2]) / w, float(box_px[3]) / h)


def norm_to_pixel(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """Normalized box -> the smallest integer pixel box covering it (floor x1/y1, ceil x2/y2), clamped to
    the image. Products are rounded to 1e-6 px first so pixel -> norm -> pixel is exact. Non-finite -> 0."""
    w, h = _check_size(width, height)

    def px(v: Any, scale: float, up: bool) -> int:
        f = float(v) * scale
        if not math.isfinite(f):
            return 0
        f = round(f, 6)
        return int(min(max(math.ceil(f) if up else math.floor(f), 0), scale))

    return (px(box[0], w, False), px(box[1], h, False), px(box[2], w, True), px(box[3], h, True))


def viscot_square_to_axis(box: Sequence[float], width: float, height: float) -> Box:
    """VisCoT's box (normalized to the image padded to a centred square of side S=max(W,H), spec 1.9) ->
    per-axis normalized box of the original image: x_pix = x*S - (S-W)/2, y_pix = y*S - (S-H)/2, then /W,
    /H, clipped to [0,1]."""
    w, h = _check_size(width, height)
    s = max(w, h)
    ox, oy = (s - w) / 2, (s - h) / 2
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    return clip_box(((x1 * s - ox) / w, (y1 * s - oy) / h, (x2 * s - ox) / w, (y2 * s - oy) / h))


def axis_to_viscot_square(box: Sequence[float], width: float, height: float) -> Box:
    """Inverse of viscot_square_to_axis (for VisCoT's official scorer), clipped to [0,1]."""
    w, h = _check_size(width, height)
    s = max(w, h)
    ox, oy = (s - w) / 2, (s - h) / 2
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    return clip_box(((x1 * w + ox) / s, (y1 * h + oy) / s, (x2 * w + ox) / s, (y2 * h + oy) / s))
