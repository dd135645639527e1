import numpy as np
import pytest

from sif.generate.expansion import FULL, grow_toward_border, make_distractor, merge_overlapping, reverse_expansion
from sif.geometry import iou


def test_growth_rule_by_hand():
    # every side moves t of the way to the border, wherever the box lies (the original's step collapsed
    # to one pixel for boxes right of centre)
    assert grow_toward_border((0.6, 0.2, 0.8, 0.4), 0.5) == pytest.approx((0.3, 0.1, 0.9, 0.7))
    assert grow_toward_border((0.1, 0.1, 0.2, 0.2), 1.0) == pytest.approx(FULL)


def test_chain_is_nested_from_full_image_to_targets():
    target = (0.6, 0.6, 0.7, 0.8)
    steps = reverse_expansion([target], np.random.default_rng(0), expansion_steps=2, distractor_prob=0.0)
    assert [s.role for s in steps] == ["full", "expanded", "expanded", "target"]
    assert steps[1].boxes[0] == pytest.approx((0.2, 0.2, 0.9, 0.933), abs=1e-3)  # t = 2/3
    assert steps[2].boxes[0] == pytest.approx((0.4, 0.4, 0.8, 0.867), abs=1e-3)  # t = 1/3
    for outer, inner in zip(steps, steps[1:]):
        (ox1, oy1, ox2, oy2), (ix1, iy1, ix2, iy2) = outer.boxes[0], inner.boxes[0]
        assert ox1 <= ix1 and oy1 <= iy1 and ox2 >= ix2 and oy2 >= iy2
    assert steps[-1].boxes == [target]


def test_multi_box_targets_get_a_union_step_and_merge_overlaps():
    assert merge_overlapping([(0, 0, 0.5, 0.5), (0.4, 0.4, 0.6, 0.6), (0.8, 0.8, 0.9, 0.9)]) == [
        (0.8, 0.8, 0.9, 0.9), (0, 0, 0.6, 0.6)]
    targets = [(0.05, 0.05, 0.1, 0.1), (0.9, 0.9, 0.95, 0.95)]
    # frames grown >= halfway to the border always overlap, so the coarsest frame is one merged box and
    # the finer one keeps the two foci apart
    steps = reverse_expansion(targets, np.random.default_rng(0), expansion_steps=2, distractor_prob=0.0)
    assert [s.role for s in steps] == ["full", "expanded", "expanded", "target"]
    assert [len(s.boxes) for s in steps] == [1, 1, 2, 2]
    # without expansion frames, several targets are first seen together as their union (as the original)
    steps = reverse_expansion(targets, np.random.default_rng(0), expansion_steps=0, distractor_prob=0.0)
    assert [s.role for s in steps] == ["full", "union", "target"]
    assert steps[1].boxes == [(0.05, 0.05, 0.95, 0.95)]


def test_distractor_never_overlaps_and_is_seeded():
    for seed in range(50):
        target = (0.4, 0.4, 0.55, 0.6)
        d = make_distractor(target, np.random.default_rng(seed))
        if d is not None:
            assert iou(d, target) < 0.001
            assert all(0 <= v <= 1 for v in d)
        assert d == make_distractor(target, np.random.default_rng(seed))
    roles = [s.role for s in reverse_expansion([(0.4, 0.4, 0.5, 0.5)], np.random.default_rng(1), 1, 1.0)]
    assert roles[1] == "distractor"
