"""depth_consistency: hand-computed shares on a 4x4 map with known quadrant means, both modes."""

from __future__ import annotations

import pytest

from tests.rewards.helpers import BL, BR, TL, TR, call, chain, funcs, make_depth

# quadrant means: TL 0.0, TR 0.5, BL 1/64 = 0.015625, BR 0.875


@pytest.fixture()
def depth_path(tmp_path):
    return make_depth(tmp_path / "d.npy")


def share(compat, texts, depth, **cfg):
    return call(funcs(weights={"depth_consistency": 1.0}, paper_compat=compat, **cfg)["depth_consistency"],
                texts, depth=depth)


def test_near_camera_boxes_and_m_zero(depth_path):
    text = chain([[(TR, 0.5), (TL, 0.0)], [(BL, 0.025)]])
    # fixed: TR |0| ok; TL m = 0: |0 - 0| <= max(0, 0.02) ok; BL |0.015625 - 0.025| = 0.009375 <= 0.02 ok
    assert share(False, [text], depth_path) == [1.0]
    # paper: TR ok; TL 0 / 0 -> skipped (a miss); BL 0.009375 / 0.015625 = 0.6 > 0.1 miss
    assert share(True, [text], depth_path) == [pytest.approx(1 / 3)]


@pytest.mark.parametrize("compat", [False, True])
def test_relative_tolerance_edges(compat, depth_path):
    text = chain([[(TR, 0.56)], [(TR, 0.54)]])  # relative errors 0.12 (miss) and 0.08 (hit)
    assert share(compat, [text], depth_path) == [0.5]
    assert share(compat, [text], depth_path, depth_tolerance=0.2) == [1.0]


def test_abs_floor_is_configurable(depth_path):
    text = chain([[(BL, 0.025)]])  # error 0.009375
    assert share(False, [text], depth_path, depth_abs_floor=0.005) == [0.0]
    assert share(False, [text], depth_path, depth_abs_floor=0.01) == [1.0]


@pytest.mark.parametrize("compat", [False, True])
def test_broken_area_counts_one_miss(compat, depth_path):
    text = chain([[(TR, 0.5)], "[{not json", [(BR, 0.875)]])
    assert share(compat, [text], depth_path) == [pytest.approx(2 / 3)]


def test_empty_area_list(depth_path):
    text = chain([[(TR, 0.5)], "[]"])
    assert share(True, [text], depth_path) == [1.0]  # paper: [] holds no depth entry, n = 1
    assert share(False, [text], depth_path) == [0.5]  # fixed: an area without foci is one miss


def test_invalid_boxes_and_depths(depth_path):
    inverted = (0.5, 0.5, 0.2, 0.2)
    outside = (-0.5, 0.0, 1.0, 0.5)  # clipped by the map to the top half: mean 0.25
    text = chain([[(TR, 0.5), (inverted, 0.5)], [(BR, 1.5)], [(outside, 0.25)]])
    # fixed: TR hit; inverted, depth 1.5 and the out-of-range box are misses -> 1/4
    assert share(False, [text], depth_path) == [0.25]
    # paper: TR hit; inverted box has no pixel (skip); |0.875 - 1.5| / 0.875 miss; outside box clipped: hit
    assert share(True, [text], depth_path) == [0.5]


@pytest.mark.parametrize("compat", [False, True])
def test_missing_or_unreadable_map_gives_zero(compat, tmp_path, depth_path):
    text = [chain([[(TR, 0.5)]])]
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not an npy file")
    assert share(compat, text, str(tmp_path / "absent.npy")) == [0.0]
    assert share(compat, text, str(bad)) == [0.0]
    assert share(compat, text, None) == [0.0]
    assert share(compat, ["", "<think>", chain(["[{not json"])], depth_path) == [0.0, 0.0, 0.0]
