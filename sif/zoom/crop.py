"""The zoom step of active zoom (issue 17): the boxes of one `<area>` -> the crop(s) of the picture shown next.

Pure: pictures in, pictures out, no model. The rules, in order, for each box (normalized to the ORIGINAL
picture, as every box in a chain is; crops never change the coordinate frame of later boxes):

1. A box that is not 4 finite numbers with x2 > x1 and y2 > y1 is refused (no crop).
2. A box entirely outside the picture is refused; one partly outside is clipped to the picture
   (`outside="clip"`) or refused (`outside="refuse"`).
3. The margin widens each side by `margin` x the box's side (so 0.1 makes a box 1.2x wider and taller).
4. A side shorter than `min_size` pixels grows to `min_size` (or the picture's side, if smaller) around
   the box's centre, shifted back inside the picture, never clipped smaller.
5. The pixel rectangle is the smallest integer one covering the result (floor the left/top edge, ceil the
   right/bottom), so a box given in whole pixels crops exactly those pixels.
6. The crop keeps the picture's native resolution unless it has more than `max_pixels` pixels; then it is
   scaled down (aspect kept) to fit the budget. Crops are never scaled up here (the processor's own
   `min_pixels` does that when it must).

`mode="union"` makes one crop covering all the area's boxes (after rules 1-2); `mode="per_box"` one crop per
box, at most `max_crops`. The depth map, when given, is cropped to the same rectangle and scaled the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from PIL import Image

from sif.geometry import Box, as_box, is_valid_box

ZOOM_MODES = ("union", "per_box")
OUTSIDE_RULES = ("clip", "refuse")


@dataclass(frozen=True)
class ZoomSettings:
    mode: str = "union"  # union | per_box
    margin: float = 0.1  # each side widened by this fraction of the box's side
    min_size: int = 28  # pixels: the smallest side of a crop (one merged Qwen2.5-VL patch)
    max_pixels: int = 200_704  # pixel budget per crop (256 merged patches of 28x28)
    max_crops: int = 4  # per area, in per_box mode
    outside: str = "clip"  # clip | refuse: a box partly outside the picture

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in ZOOM_MODES:
            problems.append(f"mode {self.mode!r} is not one of {list(ZOOM_MODES)}")
        if self.outside not in OUTSIDE_RULES:
            problems.append(f"outside {self.outside!r} is not one of {list(OUTSIDE_RULES)}")
        if not (math.isfinite(self.margin) and self.margin >= 0):
            problems.append(f"margin must be a finite number >= 0, got {self.margin}")
        if self.min_size < 1 or self.max_pixels < 1 or self.max_crops < 1:
            problems.append("min_size, max_pixels and max_crops must be >= 1")
        if self.min_size * self.min_size > self.max_pixels:
            problems.append(f"min_size {self.min_size} squared exceeds max_pixels {self.max_pixels}")
        if problems:
            raise ValueError("zoom settings: " + "; ".join(problems))


@dataclass(frozen=True)
class Crop:
    """One crop: where it lies in the original picture (pixels and normalized) and what the model sees."""

    pixels: tuple[int, int, int, int]  # left, top, right, bottom in the original picture (right/bottom exclusive)
    box: Box  # the same rectangle normalized to the original picture
    rgb: Image.Image
    depth: Image.Image | None = None

    @property
    def scale(self) -> float:
        """Shown pixels per original pixel (1.0 at native resolution, < 1 when the budget scaled it down)."""
        return self.rgb.width / (self.pixels[2] - self.pixels[0])


def _inside(box: Box, outside: str) -> Box | None:
    """Rule 2 on a valid box: None when refused, else the box clipped to [0, 1]."""
    x1, y1, x2, y2 = box
    if x2 <= 0 or y2 <= 0 or x1 >= 1 or y1 >= 1:
        return None
    clipped = (max(x1, 0.0), max(y1, 0.0), min(x2, 1.0), min(y2, 1.0))
    if clipped != box and outside == "refuse":
        return None
    return clipped


def _grow(lo: float, hi: float, size: float, min_side: float) -> tuple[float, float]:
    """Rule 4 on one axis, in pixels: widen [lo, hi] to at least min_side around its centre, inside [0, size]."""
    need = min(min_side, size)
    if hi - lo >= need:
        return lo, hi
    centre = (lo + hi) / 2
    lo, hi = centre - need / 2, centre + need / 2
    if lo < 0:
        lo, hi = 0.0, need
    if hi > size:
        lo, hi = size - need, size
    return lo, hi


def crop_rect(box: Any, width: int, height: int, settings: ZoomSettings = ZoomSettings()
              ) -> tuple[int, int, int, int] | None:
    """Rules 1-5: the integer pixel rectangle (left, top, right, bottom) to crop for one box, or None."""
    if not is_valid_box(box) or width < 1 or height < 1:
        return None
    valid = as_box(box)
    kept = _inside(valid, settings.outside)
    if kept is None:
        return None
    x1, y1, x2, y2 = kept
    mx, my = (x2 - x1) * settings.margin, (y2 - y1) * settings.margin
    left, right = max(x1 - mx, 0.0) * width, min(x2 + mx, 1.0) * width
    top, bottom = max(y1 - my, 0.0) * height, min(y2 + my, 1.0) * height
    left, right = _grow(left, right, width, settings.min_size)
    top, bottom = _grow(top, bottom, height, settings.min_size)
    # round to 1e-6 px first: a box given in whole pixels (k / width) lands on exactly those pixels
    l_px = max(0, math.floor(round(left, 6)))
    t_px = max(0, math.floor(round(top, 6)))
    r_px = min(width, math.ceil(round(right, 6)))
    b_px = min(height, math.ceil(round(bottom, 6)))
    return (l_px, t_px, r_px, b_px)


def fit_budget(w: int, h: int, max_pixels: int) -> tuple[int, int]:
    """Rule 6: (w, h) unchanged when w*h <= max_pixels, else the largest size of the same aspect inside it."""
    if w * h <= max_pixels:
        return w, h
    s = math.sqrt(max_pixels / (w * h))
    nw, nh = max(1, math.floor(w * s)), max(1, math.floor(h * s))
    while nw * nh > max_pixels:  # floor rounding can still overshoot by a row
        if nw >= nh:
            nw -= 1
        else:
            nh -= 1
    return nw, nh


def _cut(picture: Image.Image, rect: tuple[int, int, int, int], size: tuple[int, int]) -> Image.Image:
    part = picture.crop(rect)
    return part if part.size == size else part.resize(size, Image.Resampling.BICUBIC)


def _union(rects: Iterable[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    rs = list(rects)
    return (min(r[0] for r in rs), min(r[1] for r in rs), max(r[2] for r in rs), max(r[3] for r in rs))


def zoom(rgb: Image.Image, boxes: Sequence[Any], settings: ZoomSettings = ZoomSettings(),
         depth: Image.Image | None = None) -> list[Crop]:
    """The crops for one `<area>`'s boxes (an empty list when every box is refused)."""
    if depth is not None and depth.size != rgb.size:
        raise ValueError(f"depth map {depth.size} and picture {rgb.size} differ in size")
    width, height = rgb.size
    rects = [r for r in (crop_rect(b, width, height, settings) for b in boxes) if r is not None]
    if not rects:
        return []
    rects = [_union(rects)] if settings.mode == "union" else rects[: settings.max_crops]
    crops = []
    for rect in rects:
        size = fit_budget(rect[2] - rect[0], rect[3] - rect[1], settings.max_pixels)
        crops.append(Crop(pixels=rect, box=(rect[0] / width, rect[1] / height, rect[2] / width, rect[3] / height),
                          rgb=_cut(rgb, rect, size), depth=None if depth is None else _cut(depth, rect, size)))
    return crops
