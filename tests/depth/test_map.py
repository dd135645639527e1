"""DepthMap (exact O(1) box means with the original's pixel bounds), normalisation, colour, storage."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from PIL import Image

from sif.depth import (DepthMap, colorize, load_depth_map, normalize_depth, normalize_disparity, save_depth,
                       spectral_palette)
from sif.depth.map import colorize_indexed, depth_to_levels


def original_calculate_avg_depth(depth_map: np.ndarray, normalized_bbox) -> float:
    """SIFThinker's calculate_avg_depth, verbatim in logic (spec 1.3), as the reference."""
    h, w = depth_map.shape[:2]
    x1, y1, x2, y2 = normalized_bbox
    x1_pix, y1_pix = int(math.floor(x1 * w)), int(math.floor(y1 * h))
    x2_pix, y2_pix = int(math.ceil(x2 * w)), int(math.ceil(y2 * h))
    x1_pix, y1_pix = max(0, min(x1_pix, w - 1)), max(0, min(y1_pix, h - 1))
    x2_pix, y2_pix = max(0, min(x2_pix, w)), max(0, min(y2_pix, h))
    if x2_pix <= x1_pix or y2_pix <= y1_pix:
        raise ValueError("empty")
    return float(np.mean(depth_map[y1_pix:y2_pix, x1_pix:x2_pix], dtype=np.float64))


SMALL = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], dtype=np.float32)  # 3 wide, 2 high


@pytest.mark.parametrize("box, expected", [
    ((0, 0, 1, 1), 2.5),                 # whole map
    ((0, 0, 0.5, 1), 2.0),               # x2p = ceil(1.5) = 2 -> columns 0, 1 -> (0+1+3+4)/4
    ((0.9, 0.9, 1, 1), 5.0),             # x1p = floor(2.7) = 2, y1p = floor(1.8) = 1
    ((1.0, 1.0, 1.2, 1.2), 5.0),         # starts clipped to w-1 / h-1, ends to w / h
    ((-0.5, -0.5, 0.34, 0.5), 0.5),      # starts clipped to 0; x2p = ceil(1.02) = 2
    ((0.34, 0.0, 0.66, 0.5), 1.0),       # floor(1.02) = 1, ceil(1.98) = 2, ceil(1.0) = 1 -> pixel (0, 1)
    ((1.5, 0.0, 2.0, 1.0), 3.5),         # wholly right of the image: the original clamps to the last column
])
def test_box_mean_exact_values_with_the_original_pixel_bounds(box, expected):
    dm = DepthMap(SMALL)
    assert dm.box_mean(box) == pytest.approx(expected, abs=1e-12)
    assert dm.box_mean(box) == pytest.approx(original_calculate_avg_depth(SMALL, box), abs=1e-12)


@pytest.mark.parametrize("box", [(0.5, 0.5, 0.5, 0.5), (-0.5, -0.5, 0.0, 0.0), (0.2, 0.6, 0.9, 0.4)])
def test_empty_boxes_raise_like_the_original(box):
    with pytest.raises(ValueError):
        original_calculate_avg_depth(SMALL, box)
    with pytest.raises(ValueError, match="covers no pixel"):
        DepthMap(SMALL).box_mean(box)


def test_box_mean_matches_the_original_on_random_boxes():
    rng = np.random.default_rng(0)
    depth = rng.random((97, 131)).astype(np.float32)
    dm = DepthMap(depth)
    checked = 0
    for _ in range(2000):
        x = np.sort(rng.uniform(-0.1, 1.1, 2))
        y = np.sort(rng.uniform(-0.1, 1.1, 2))
        box = (x[0], y[0], x[1], y[1])
        try:
            ref = original_calculate_avg_depth(depth, box)
        except ValueError:
            with pytest.raises(ValueError):
                dm.box_mean(box)
            continue
        assert abs(dm.box_mean(box) - ref) < 1e-9
        checked += 1
    assert checked > 1500


@pytest.mark.parametrize("bad, message", [
    (np.array([[0.0, np.nan]]), "non-finite"),
    (np.array([[0.0, np.inf]]), "non-finite"),
    (np.zeros((2, 2, 3)), "2-D"),
    (np.zeros(4), "2-D"),
    (np.zeros((0, 3)), "empty"),
    (np.array([["a", "b"]]), "real numbers"),
])
def test_bad_maps_are_refused_naming_the_problem(bad, message):
    with pytest.raises(ValueError, match=message):
        DepthMap(bad)


@pytest.mark.parametrize("box", [(0, 0, 1), (0, 0, float("nan"), 1), (0, 0, float("inf"), 1), None, "abcd"])
def test_bad_boxes_are_refused_naming_the_problem(box):
    with pytest.raises(ValueError, match="4 finite numbers"):
        DepthMap(SMALL).box_mean(box)


def test_box_means_vectorised_equals_box_mean_and_names_the_bad_box():
    rng = np.random.default_rng(2)
    dm = DepthMap(rng.random((50, 70)).astype(np.float32))
    lo = rng.uniform(-0.01, 0.8, (500, 2))  # some start before the edge, some end past it
    boxes = np.concatenate([lo, lo + rng.uniform(0.02, 0.5, (500, 2))], axis=1)
    got = dm.box_means(boxes)
    assert got.shape == (500,) and got.dtype == np.float64
    assert np.array_equal(got, np.array([dm.box_mean(b) for b in boxes]))
    with pytest.raises(ValueError, match="box 1 .* covers no pixel"):
        dm.box_means([(0, 0, 1, 1), (0.5, 0.5, 0.5, 0.5)])
    with pytest.raises(ValueError, match="box 0 has a non-finite"):
        dm.box_means([(0, 0, np.nan, 1)])


def test_properties_and_float32_array():
    dm = DepthMap(SMALL.astype(np.float16))
    assert (dm.height, dm.width) == (2, 3) and dm.array.dtype == np.float32
    assert np.array_equal(dm.array, SMALL)
    with pytest.raises(ValueError):
        dm.array[0, 0] = 1.0  # read-only: the integral image stays consistent with it


def test_load_reads_float16_npy_and_refuses_pickles(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, SMALL.astype(np.float16))
    assert np.array_equal(DepthMap.load(path).array, SMALL)
    bad = tmp_path / "obj.npy"
    np.save(bad, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="obj.npy"):
        DepthMap.load(bad)
    nan = tmp_path / "nan.npy"
    np.save(nan, np.array([[np.nan]], dtype=np.float16))
    with pytest.raises(ValueError, match="nan.npy.*non-finite"):
        DepthMap.load(nan)


def test_load_depth_map_caches_by_path_and_mtime(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, SMALL.astype(np.float16))
    first = load_depth_map(path)
    assert load_depth_map(str(path)) is first  # same absolute path -> cached object
    np.save(path, (SMALL + 1).astype(np.float16))
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    second = load_depth_map(path)
    assert second is not first and second.box_mean((0, 0, 1, 1)) == pytest.approx(3.5)


def test_normalize_depth_and_disparity_exact_values():
    metric = np.array([[1.0, 2.0], [3.0, 5.0]])
    assert np.array_equal(normalize_depth(metric), np.array([[0.0, 0.25], [0.5, 1.0]], dtype=np.float32))
    assert np.array_equal(normalize_disparity(metric), np.array([[1.0, 0.75], [0.5, 0.0]], dtype=np.float32))
    assert normalize_depth(metric).dtype == np.float32
    for fn in (normalize_depth, normalize_disparity):
        assert np.array_equal(fn(np.full((2, 3), 7.0)), np.zeros((2, 3), dtype=np.float32))
        with pytest.raises(ValueError):
            fn(np.array([[1.0, np.nan]]))


def test_palette_is_matplotlib_spectral_r_as_the_original_built_it():
    import matplotlib

    cmap = matplotlib.colormaps["Spectral_r"]
    expected = (cmap(np.arange(256) / 255.0)[:, :3] * 255).astype(np.uint8)
    assert np.array_equal(spectral_palette(), expected)
    # the original's encoder indexed the LUT with the uint8 level: same colours
    assert np.array_equal((cmap(np.arange(256, dtype=np.uint8))[:, :3] * 255).astype(np.uint8), expected)


def test_colorize_near_is_red_far_is_blue_and_levels_truncate():
    depth = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    assert depth_to_levels(depth).tolist() == [[255, 127, 0]]  # floor((1 - d) * 255)
    img = np.asarray(colorize(depth))
    assert img.shape == (1, 3, 3) and img.dtype == np.uint8
    near, far = img[0, 0].astype(int), img[0, 2].astype(int)
    assert near[0] > near[2] + 50 and far[2] > far[0] + 50  # red vs blue
    assert np.array_equal(img[0], spectral_palette()[[255, 127, 0]])


def test_the_indexed_picture_has_exactly_the_rgb_colours():
    depth = np.concatenate([np.linspace(0, 1, 256), [-0.5, 1.5, 0.25]]).reshape(1, -1)  # every level + clipping
    indexed = colorize_indexed(depth)
    assert indexed.mode == "P" and np.array_equal(np.asarray(indexed), depth_to_levels(depth))
    assert np.array_equal(np.asarray(indexed.convert("RGB")), np.asarray(colorize(depth)))
    with pytest.raises(ValueError, match="2-D"):
        colorize_indexed(np.zeros((2, 2, 2)))


def test_save_depth_writes_float16_npy_and_png_atomically(tmp_path):
    depth = np.random.default_rng(1).random((30, 40)).astype(np.float32)
    npy, png = tmp_path / "sub" / "d.npy", tmp_path / "sub" / "d.png"
    save_depth(depth, npy, png)
    stored = np.load(npy, allow_pickle=False)
    assert stored.dtype == np.float16 and np.array_equal(stored, depth.astype(np.float16))
    with Image.open(png) as opened:
        assert opened.mode == "P"  # the levels with Spectral_r as palette: one byte per pixel to encode
        pic = np.asarray(opened.convert("RGB"))
    assert np.array_equal(pic, np.asarray(colorize(stored.astype(np.float32))))
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["d.npy", "d.png"]  # no temp files left
    with pytest.raises(ValueError, match="finite"):
        save_depth(np.array([[np.nan]]), tmp_path / "bad.npy", tmp_path / "bad.png")
    assert not (tmp_path / "bad.npy").exists() and not (tmp_path / "bad.png").exists()


def test_box_mean_is_constant_time():
    """Four lookups whatever the box: a full-image box costs no more than a 1-pixel one."""
    import time

    dm = DepthMap(np.random.default_rng(0).random((1080, 1920)).astype(np.float32))
    def timed(box):
        start = time.perf_counter()
        for _ in range(2000):
            dm.box_mean(box)
        return time.perf_counter() - start
    small, full = min(timed((0.5, 0.5, 0.5005, 0.5005)) for _ in range(3)), min(timed((0, 0, 1, 1)) for _ in range(3))
    assert full < 3 * small
