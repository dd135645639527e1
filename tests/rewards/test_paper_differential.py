"""reward.paper_compat=true against a port of the original reward code (tests/rewards/original_port.py).

Hypothesis writes chains whose areas hold everything a policy can emit: valid foci, broken JSON, scalars,
strings (numbers written as strings, strings containing the key), missing keys, NaN / Infinity, booleans,
nested lists, wrong lengths, empty and large areas, areas outside <think>. Each reward must equal the
original's value exactly (to 1e-12 of float rounding), except where the original returns NaN or inf: ours
is then 0, the one documented departure (every reward stays finite). Plus the three families of cases that
disagreed before (issue 15), by name.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sif.depth import DepthMap
from tests.rewards import original_port as original
from tests.rewards.helpers import call, funcs

EXAMPLES = 5000
GT = [[0.2, 0.3, 0.5, 0.7]]
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def depth(tmp_path_factory):
    """A map written as stage=generate writes it (.npy + colour PNG); the oracle reads the PNG back as the
    original did, our paper mode reads the .npy."""
    from sif.depth import save_depth

    rng = np.random.default_rng(0)
    arr = rng.uniform(0.05, 1.0, size=(12, 16)).astype(np.float32)
    arr[0, :] = 0.0  # nearest: level 255, read back as depth 0 (the original's m = 0 division)
    arr[-1, :] = 1.0  # farthest: level 0
    path = tmp_path_factory.mktemp("d") / "d.npy"
    save_depth(arr, path, path.with_suffix(".png"))
    read_back = original.load_depth_from_color(path.with_suffix(".png"))
    assert np.array_equal(read_back, DepthMap.load(path).original_array)  # the same map, two ways
    return str(path), read_back


@pytest.fixture(scope="module")
def paper():
    return funcs(paper_compat=True)


# ---- what a policy can write -----------------------------------------------------------------------------
unit = st.floats(0.0, 1.0, allow_nan=False).map(lambda v: round(v, 3))
odd_number = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3), st.booleans(),
                       st.sampled_from([1e308, -1e308, 1e-320, 2.0, -0.0]))
coordinate = st.one_of(unit, unit, unit, odd_number, unit.map(lambda v: f"{v}"), st.none(),
                       st.lists(unit, max_size=2), st.sampled_from(["abc", "", "1e5"]))
good_box = st.tuples(unit, unit, unit, unit).map(lambda t: [min(t[0], t[2]), min(t[1], t[3]),
                                                             max(t[0], t[2]) + 0.01, max(t[1], t[3]) + 0.01])
near_gt = st.tuples(*(st.floats(-0.05, 0.05) for _ in range(4))).map(
    lambda d: [round(g + e, 3) for g, e in zip(GT[0], d)])
box = st.one_of(good_box, near_gt, near_gt, st.lists(coordinate, min_size=4, max_size=4),
                st.lists(coordinate, max_size=6), good_box.map(lambda b: [str(v) for v in b]),
                st.sampled_from(["0.1,0.2,0.3,0.4", None, 5, {"a": 1}]))
depth_value = st.one_of(unit, unit, odd_number, unit.map(str), st.none(), st.just([]))
item = st.one_of(
    st.fixed_dictionaries({"bbox_2d": box, "depth": depth_value}),
    st.fixed_dictionaries({"bbox_2d": box, "depth": depth_value}),
    st.fixed_dictionaries({"bbox_2d": box}), st.fixed_dictionaries({"depth": depth_value}),
    st.fixed_dictionaries({"x": unit}), odd_number, st.none(), st.sampled_from(["bbox_2d", "depth", "s", "xbbox_2dx"]),
    st.lists(st.sampled_from(["bbox_2d", "depth", 1]), max_size=2),
)


def _area(draw_items: list, kind: str, extra: str) -> str:
    if kind == "list":
        return json.dumps(draw_items)
    if kind == "dict":
        return json.dumps(draw_items[0] if draw_items and isinstance(draw_items[0], dict) else {"bbox_2d": GT[0]})
    if kind == "broken":
        text = json.dumps(draw_items)
        return text[: max(1, len(text) // 2)] if extra == "cut" else text[:-1] + ",]"
    return extra


area = st.builds(_area, st.lists(item, max_size=4),
                 st.sampled_from(["list", "list", "list", "dict", "broken", "raw"]),
                 st.sampled_from(["5", "null", "true", '"s"', '"bbox_2d"', "", " [ ] ", "cut", "[[0,0,1,1]]",
                                  "NaN", "{}", "[{}]", '[{"bbox_2d":[0,0,1,1],"depth":0.5}]']))
full = '[{"bbox_2d":[0,0,1,1],"depth":0.5}]'


@st.composite
def chains(draw):
    areas = draw(st.lists(area, min_size=0, max_size=5))
    if draw(st.booleans()):
        areas = [full] + areas
    if draw(st.integers(0, 9)) == 0:  # a large area
        areas.append(json.dumps([{"bbox_2d": draw(good_box), "depth": 0.5} for _ in range(40)]))
    body = "".join(f"<area>{a}</area>\n<text>t</text>\n" for a in areas)
    text = f"<think>\n{body}</think>\n<answer>\nA\n</answer>"
    if draw(st.integers(0, 9)) == 0:  # an area outside <think>, which the original read too
        text += f"<area>{draw(area)}</area>"
    return text


def _same(ours: float, theirs: float) -> None:
    if isinstance(theirs, float) and not math.isfinite(theirs):
        assert ours == 0.0, (ours, theirs)  # our documented departure: finite
    else:
        assert ours == pytest.approx(float(theirs), abs=1e-12, rel=1e-12), (ours, theirs)


# ---- the differential test -------------------------------------------------------------------------------
# One test scores each generated chain with all three rewards: drawing a chain costs ~6x more than scoring it,
# so three tests of 5,000 chains each spent two thirds of their time drawing the same kind of chains again.
@SETTINGS
@given(chains())
def test_every_paper_reward_equals_the_original(paper, depth, text):
    path, array = depth
    _same(call(paper["box_iou"], [text], gt_boxes=GT)[0], original.box_iou(text, GT))
    _same(call(paper["box_iou_progress"], [text], gt_boxes=GT)[0], original.box_iou_progress(text, GT))
    _same(call(paper["depth_consistency"], [text], depth=path)[0], original.depth_consistency(text, array))


# ---- the three families that disagreed (issue 15), with the original's values --------------------------
def _chain(*areas: str) -> str:
    return "<think>\n" + "".join(f"<area>{a}</area>\n<text>t</text>\n" for a in areas) + "</think>\n<answer>\nA\n</answer>"


GOOD = '[{"bbox_2d":[0.2,0.3,0.5,0.7],"depth":0.5}]'


@pytest.mark.parametrize("broken_first", ['[{"bbox_2d":[0.1,0.1,0.4,0.4],"depth":0.5},]',
                                          '[{"bbox_2d":[0.1,0.1,0.4],"depth":0.5}]'])
def test_broken_first_area_leaves_the_end_iou(paper, broken_first):
    text = _chain(full, broken_first, GOOD)
    assert original.box_iou_progress(text, GT) == 1.0
    assert call(paper["box_iou_progress"], [text], gt_boxes=GT) == [1.0]


def test_partly_broken_and_scalar_areas(paper, depth):
    path, array = depth
    partly = _chain('[{"bbox_2d":[0.2,0.3,0.5,0.7],"depth":0.5}, 5]')
    assert call(paper["depth_consistency"], [partly], depth=path)[0] == pytest.approx(
        original.depth_consistency(partly, array))
    scalar_first = _chain("5", GOOD)  # [[]] starts: end kept (1.0), not the 2.0 of a [] start
    assert original.box_iou_progress(scalar_first, GT) == 1.0
    assert call(paper["box_iou_progress"], [scalar_first], gt_boxes=GT) == [1.0]
    no_key = _chain('{"depth":0.5}', GOOD)  # a dict without the box key reads [] (the full-image default start)
    assert call(paper["box_iou_progress"], [no_key], gt_boxes=GT) == [pytest.approx(original.box_iou_progress(no_key, GT))]


def test_numbers_written_as_strings_count(paper):
    text = _chain('[{"bbox_2d":["0.2","0.3","0.5","0.7"],"depth":0.5}]')
    assert original.box_iou(text, GT) == pytest.approx(1.0)
    assert call(paper["box_iou"], [text], gt_boxes=GT) == [pytest.approx(1.0)]
    assert call(paper["box_iou"], [text, _chain(GOOD)], gt_boxes=GT) == [pytest.approx(1.0), 1.0]
