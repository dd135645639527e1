"""The zoom step: crops exact in pixels for hand-made boxes (issue 17)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from sif.zoom.crop import Crop, ZoomSettings, crop_rect, fit_budget, zoom

W, H = 200, 100
EXACT = ZoomSettings(margin=0.0, min_size=1, max_pixels=W * H)


def picture(w: int = W, h: int = H) -> Image.Image:
    """Every pixel different: red = x, green = y, so a crop's pixels say where they came from."""
    xs, ys = np.meshgrid(np.arange(w), np.arange(h))
    return Image.fromarray(np.stack([xs % 256, ys % 256, np.zeros_like(xs)], axis=-1).astype(np.uint8))


def px_box(l: int, t: int, r: int, b: int, w: int = W, h: int = H) -> tuple[float, ...]:
    return (l / w, t / h, r / w, b / h)


def test_a_box_in_whole_pixels_crops_exactly_those_pixels():
    rect = crop_rect(px_box(30, 10, 70, 60), W, H, EXACT)
    assert rect == (30, 10, 70, 60)
    [crop] = zoom(picture(), [px_box(30, 10, 70, 60)], EXACT)
    assert crop.pixels == (30, 10, 70, 60) and crop.rgb.size == (40, 50) and crop.scale == 1.0
    arr = np.asarray(crop.rgb)
    assert arr[0, 0, 0] == 30 and arr[0, 0, 1] == 10  # top-left pixel is the original (30, 10)
    assert arr[-1, -1, 0] == 69 and arr[-1, -1, 1] == 59  # right/bottom edges exclusive
    assert crop.box == pytest.approx((0.15, 0.1, 0.35, 0.6))


def test_fractional_edges_round_outward():
    # x 30.4 .. 69.2 px -> floor 30 .. ceil 70; y 10.5 .. 59.5 -> 10 .. 60
    assert crop_rect((30.4 / W, 10.5 / H, 69.2 / W, 59.5 / H), W, H, EXACT) == (30, 10, 70, 60)


def test_margin_widens_each_side_by_its_fraction_of_the_box():
    s = ZoomSettings(margin=0.25, min_size=1, max_pixels=W * H)
    # 40 x 40 px box at (80, 30): 10 px more on each side
    assert crop_rect(px_box(80, 30, 120, 70), W, H, s) == (70, 20, 130, 80)
    # at the picture's edge the margin is cut by the picture, not shifted
    assert crop_rect(px_box(0, 0, 40, 40), W, H, s) == (0, 0, 50, 50)


def test_a_tiny_box_grows_to_min_size_around_its_centre_and_stays_inside():
    s = ZoomSettings(margin=0.0, min_size=28, max_pixels=W * H)
    assert crop_rect(px_box(100, 50, 102, 52), W, H, s) == (87, 37, 115, 65)  # centre (101, 51), 28 px
    assert crop_rect(px_box(0, 0, 2, 2), W, H, s) == (0, 0, 28, 28)  # shifted right/down, not clipped
    assert crop_rect(px_box(198, 98, 200, 100), W, H, s) == (172, 72, 200, 100)
    # a picture smaller than min_size: the whole side
    small = picture(20, 10)
    [crop] = zoom(small, [(0.4, 0.4, 0.5, 0.5)], s)
    assert crop.pixels == (0, 0, 20, 10)


@pytest.mark.parametrize("box", [
    (0.5, 0.5, 0.5, 0.6),  # zero width
    (0.6, 0.2, 0.5, 0.4),  # inverted
    (0.1, 0.2, 0.3),  # three numbers
    (0.1, float("nan"), 0.3, 0.4),
    (0.1, 0.2, float("inf"), 0.4),
    ("0.1", 0.2, 0.3, 0.4),
    (True, 0.2, 0.3, 0.4),
    None,
    {"bbox_2d": [0.1, 0.2, 0.3, 0.4]},
])
def test_degenerate_and_malformed_boxes_are_refused(box):
    assert crop_rect(box, W, H, EXACT) is None
    assert zoom(picture(), [box], EXACT) == []


def test_boxes_outside_the_picture_refused_partly_outside_clipped_by_rule():
    assert crop_rect((1.1, 0.2, 1.5, 0.4), W, H, EXACT) is None  # entirely right of the picture
    assert crop_rect((-0.5, -0.5, 0.0, 0.5), W, H, EXACT) is None  # touches the edge only
    assert crop_rect((-0.1, 0.5, 0.25, 1.3), W, H, EXACT) == (0, 50, 50, 100)
    refuse = ZoomSettings(margin=0.0, min_size=1, max_pixels=W * H, outside="refuse")
    assert crop_rect((-0.1, 0.5, 0.25, 1.3), W, H, refuse) is None
    assert crop_rect((0.0, 0.5, 0.25, 1.0), W, H, refuse) == (0, 50, 50, 100)  # on the edge is inside


def test_union_mode_one_crop_per_box_mode_several_and_capped():
    boxes = [px_box(10, 10, 30, 30), px_box(150, 60, 170, 90), (0.5, 0.5, 0.5, 0.5)]
    [union] = zoom(picture(), boxes, EXACT)
    assert union.pixels == (10, 10, 170, 90)
    per = zoom(picture(), boxes, ZoomSettings(mode="per_box", margin=0.0, min_size=1, max_pixels=W * H))
    assert [c.pixels for c in per] == [(10, 10, 30, 30), (150, 60, 170, 90)]  # the degenerate one refused
    capped = zoom(picture(), boxes, ZoomSettings(mode="per_box", margin=0.0, min_size=1, max_pixels=W * H,
                                                 max_crops=1))
    assert [c.pixels for c in capped] == [(10, 10, 30, 30)]


def test_the_pixel_budget_scales_down_keeping_the_aspect_and_never_up():
    assert fit_budget(40, 50, 2000) == (40, 50)
    assert fit_budget(400, 200, 20000) == (200, 100)
    assert fit_budget(3, 1000, 1000) == (1, 577)  # scale sqrt(1/3): width floors to 1 px, never 0
    s = ZoomSettings(margin=0.0, min_size=1, max_pixels=50 * 25)
    [crop] = zoom(picture(), [(0.0, 0.0, 1.0, 1.0)], s)
    assert crop.pixels == (0, 0, W, H) and crop.rgb.size == (50, 25) and crop.scale == 0.25
    assert crop.box == (0.0, 0.0, 1.0, 1.0)


def test_the_depth_map_is_cut_and_scaled_like_the_picture():
    rgb = picture()
    depth = Image.fromarray((np.arange(W * H).reshape(H, W) % 251).astype(np.uint8))
    [crop] = zoom(rgb, [px_box(30, 10, 70, 60)], EXACT, depth=depth)
    assert crop.depth.size == crop.rgb.size
    assert np.array_equal(np.asarray(crop.depth), np.asarray(depth)[10:60, 30:70])
    with pytest.raises(ValueError, match="differ in size"):
        zoom(rgb, [(0.1, 0.1, 0.2, 0.2)], EXACT, depth=depth.resize((10, 10)))


def test_bad_settings_are_refused_with_every_problem_named():
    with pytest.raises(ValueError, match="mode 'tiles'.*outside 'wrap'"):
        ZoomSettings(mode="tiles", outside="wrap")
    with pytest.raises(ValueError, match="min_size 100 squared exceeds max_pixels 400"):
        ZoomSettings(min_size=100, max_pixels=400)


coord = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5))


@settings(max_examples=400, deadline=None)
@given(box=st.lists(coord, min_size=0, max_size=6), w=st.integers(1, 300), h=st.integers(1, 300),
       margin=st.floats(0, 2), min_size=st.integers(1, 40))
def test_any_box_gives_a_rectangle_inside_the_picture_or_none(box, w, h, margin, min_size):
    s = ZoomSettings(margin=margin, min_size=min_size, max_pixels=max(min_size * min_size, 64))
    rect = crop_rect(box, w, h, s)
    if rect is None:
        return
    l, t, r, b = rect
    assert 0 <= l < r <= w and 0 <= t < b <= h
    assert r - l >= min(min_size, w) and b - t >= min(min_size, h)
    # the crop covers the (clipped) box
    x1, y1, x2, y2 = (float(v) for v in box)
    assert l <= max(x1, 0) * w + 1e-6 and r >= min(x2, 1) * w - 1e-6
    assert t <= max(y1, 0) * h + 1e-6 and b >= min(y2, 1) * h - 1e-6
    assert math.isfinite(l + t + r + b)


def test_crop_is_a_plain_record():
    [crop] = zoom(picture(), [(0.1, 0.1, 0.5, 0.5)], EXACT)
    assert isinstance(crop, Crop) and crop.depth is None
