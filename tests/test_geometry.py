"""sif.geometry: hand-computed values, Hungarian optimality, exact unions against shapely, frame round trips."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sif.geometry import (EMPTY_BOX, MAX_PAIR_BOXES, area, as_box, axis_to_viscot_square, clip_box,
                          hierarchical_iou, iou, is_valid_box, norm_to_pixel, pair_iou, pixel_to_norm,
                          round_box, union_area, union_box, union_iou, viscot_square_to_axis)

NAN, INF = float("nan"), float("inf")

# GEOS (shapely) drops boxes of subnormal size, so the oracle tests keep coordinates >= 1e-6 or 0
unit = st.one_of(st.just(0.0), st.floats(1e-6, 1.0))


@st.composite
def boxes01(draw) -> tuple[float, float, float, float]:
    x1, x2 = sorted((draw(unit), draw(unit)))
    y1, y2 = sorted((draw(unit), draw(unit)))
    return (x1, y1, x2, y2)


@st.composite
def grid_box(draw) -> tuple[float, float, float, float]:
    """Boxes on a coarse grid, so edges coincide often (the hard case for a union)."""
    x1, x2 = sorted(draw(st.lists(st.integers(0, 8), min_size=2, max_size=2, unique=True)))
    y1, y2 = sorted(draw(st.lists(st.integers(0, 8), min_size=2, max_size=2, unique=True)))
    return (x1 / 8, y1 / 8, x2 / 8, y2 / 8)


# ---- single boxes ----------------------------------------------------------------------------------

def test_is_valid_box():
    assert is_valid_box([0, 0, 1, 1]) and is_valid_box((0.1, 0.2, 0.3, 0.4)) and is_valid_box(np.array([0, 0, 2, 5.0]))
    assert is_valid_box([-3, -3, 7, 9])  # range is not checked
    for bad in ([0, 0, 0, 1], [0, 0, 1, 0], [1, 0, 0, 1], [0, 0, 1], [0, 0, 1, 1, 1], [NAN, 0, 1, 1],
                [0, 0, INF, 1], [False, False, True, True], ["0", 0, 1, 1], "abcd", None, 5, {}, [None] * 4):
        assert not is_valid_box(bad), bad
    assert as_box([1, 2, 3, 4]) == (1.0, 2.0, 3.0, 4.0)
    assert as_box([3, 2, 1, 0]) == (3.0, 2.0, 1.0, 0.0)  # order not checked by as_box


def test_area_iou_hand_values():
    assert area([0, 0, 2, 3]) == 6.0
    assert area([2, 0, 0, 3]) == 0.0 and area([NAN, 0, 1, 1]) == 0.0
    assert iou([0, 0, 2, 2], [1, 1, 3, 3]) == pytest.approx(1 / 7, abs=1e-15)  # inter 1, union 4+4-1
    assert iou([0, 0, 1, 1], [0, 0, 1, 1]) == 1.0
    assert iou([0, 0, 1, 1], [0, 0, 0.5, 1]) == 0.5
    assert iou([0, 0, 1, 1], [1, 0, 2, 1]) == 0.0  # touching edge
    assert iou([0, 0, 1, 1], [2, 2, 3, 3]) == 0.0
    assert iou([0, 0, 1, 1], [1, 1, 0, 0]) == 0.0  # inverted
    assert iou([0, 0, 1, 1], [0, 0, NAN, 1]) == 0.0 and iou("x", None) == 0.0


def test_clip_round_union_box():
    assert clip_box([-0.5, 0.2, 1.5, INF]) == (0.0, 0.2, 1.0, 1.0)
    assert clip_box([-1, -INF, 3, 0.5], lo=0, hi=2) == (0.0, 0.0, 2.0, 0.5)
    assert math.isnan(clip_box([NAN, 0, 1, 1])[0])
    assert round_box([0.12345, 0.0004, -0.0004, 0.9996]) == (0.123, 0.0, 0.0, 1.0)
    assert str(round_box([-0.0001, 0, 1, 1])[0]) == "0.0"  # no negative zero
    assert round_box([0.12345, 1, 2, 3], 2) == (0.12, 1.0, 2.0, 3.0)
    assert union_box([[0.1, 0.2, 0.3, 0.4], [0.2, 0.1, 0.5, 0.3]]) == (0.1, 0.1, 0.5, 0.4)
    assert union_box([[0.1, 0.2, 0.3, 0.4], [NAN, 0, 1, 1], [0.5, 0.5, 0.4, 0.6]]) == (0.1, 0.2, 0.3, 0.4)
    assert union_box([]) == EMPTY_BOX and not is_valid_box(union_box([[1, 1, 0, 0]]))


@given(st.floats(-2.0, 2.0, allow_nan=False))
@settings(max_examples=300, deadline=None)
def test_round_box_matches_chain_text(v):
    """round() and the chain's '{:.3f}' agree, so round_box predicts exactly what the text will say."""
    assert round_box([v, v, v, v])[0] == float(f"{v:.3f}")


# ---- unions ----------------------------------------------------------------------------------------

def test_union_area_hand_values():
    assert union_area([]) == 0.0
    assert union_area([[0, 0, 2, 2], [1, 1, 3, 3]]) == 7.0
    assert union_area([[0, 0, 2, 2], [0.5, 0.5, 1, 1]]) == 4.0  # nested
    assert union_area([[0, 0, 1, 1]] * 5) == 1.0  # duplicates
    assert union_area([[0, 0, 3, 1], [0, 0, 1, 3], [2, 0, 3, 3]]) == 7.0  # U shape: 3 + 3 + 3 - 1 - 1
    assert union_area([[0, 0, 1, 1], [2, 2, 3, 4]]) == 3.0  # disjoint
    assert union_area([[0, 0, 1, 1], [NAN, 0, 1, 1], [1, 1, 0, 0], "junk", None]) == 1.0
    # a box of subnormal height does not make the others vanish (shapely 2.x returns 0.5 here)
    assert union_area([(0, 0.5, 1, 1), (0.5, 0, 1, 5e-324), (0, 0, 0.125, 0.125)]) == 0.515625


def test_union_iou_hand_values():
    assert union_iou([[0, 0, 2, 2]], [[1, 1, 3, 3]]) == pytest.approx(1 / 7, abs=1e-15)
    assert union_iou([[0, 0, 1, 1], [1, 0, 2, 1]], [[0, 0, 2, 1]]) == 1.0  # two halves = the whole
    # P = two unit squares (area 2); G = [0,0,1,1] + [0,0,.5,1] + [2,0,3,.5] (area 1.5, inside P)
    assert union_iou([[0, 0, 1, 1], [2, 0, 3, 1]], [[0, 0, 1, 1], [2, 0, 3, 0.5], [0, 0, 0.5, 1]]) == 0.75
    assert union_iou([], []) == 1.0 and union_iou([[NAN, 0, 1, 1]], [[1, 1, 0, 0]]) == 1.0
    assert union_iou([[0, 0, 1, 1]], []) == 0.0 and union_iou([], [[0, 0, 1, 1]]) == 0.0


@given(st.lists(st.one_of(boxes01(), grid_box()), max_size=8))
@settings(max_examples=400, deadline=None)
def test_union_area_equals_shapely(bs):
    from shapely.geometry import box as sbox
    from shapely.ops import unary_union

    with np.errstate(all="ignore"):
        want = unary_union([sbox(*b) for b in bs if is_valid_box(b)]).area if bs else 0.0
    assert abs(union_area(bs) - want) <= 1e-9


@given(st.lists(st.one_of(boxes01(), grid_box()), max_size=5), st.lists(st.one_of(boxes01(), grid_box()), max_size=5))
@settings(max_examples=300, deadline=None)
def test_union_iou_equals_shapely(p, g):
    from shapely.geometry import box as sbox
    from shapely.ops import unary_union

    sp = [sbox(*b) for b in p if is_valid_box(b)]
    sg = [sbox(*b) for b in g if is_valid_box(b)]
    if not sp and not sg:
        want = 1.0
    elif not sp or not sg:
        want = 0.0
    else:
        with np.errstate(all="ignore"):
            up, ug = unary_union(sp), unary_union(sg)
            want = up.intersection(ug).area / up.union(ug).area
    got = union_iou(p, g)
    assert abs(got - want) <= 1e-9 and 0.0 <= got <= 1.0


@given(boxes01(), boxes01())
@settings(max_examples=300, deadline=None)
def test_iou_range_symmetry_and_single_box_union(a, b):
    v = iou(a, b)
    assert 0.0 <= v <= 1.0 and v == iou(b, a)
    if is_valid_box(a) and is_valid_box(b):
        assert abs(union_iou([a], [b]) - v) <= 1e-12
    if is_valid_box(a):
        assert iou(a, a) == 1.0 and union_iou([a, a], [a]) == 1.0


def test_extreme_magnitudes_stay_finite():
    big, huge = (0, 0, 1e308, 1e308), (-1e308, -1e308, 1e308, 1e308)  # areas overflow float64
    assert iou(big, big) == 1.0 and iou(huge, big) == 0.25
    assert union_iou([huge, (0, 0, 1, 1)], [big]) == 0.25 and union_area([huge]) == math.inf
    assert pair_iou([huge, (0, 0, 1, 1)], [big, (0, 0, 1, 1)]) == (0.25 + 1.0) / 2
    assert iou((1e149, 1e149, 3e149, 3e149), (2e149, 2e149, 3e149, 3e149)) == 0.25  # below SAFE_COORD
    tiny = (1e-300, 1e-300, 2e-300, 2e-300)  # documented: an area that underflows counts as empty
    assert iou(tiny, tiny) == 0.0 and pair_iou([tiny], [tiny]) == 0.0 and union_iou([tiny], [tiny]) == 0.0


wide = st.floats(allow_nan=False, allow_infinity=False)


@given(st.lists(st.tuples(wide, wide, wide, wide), max_size=4), st.lists(st.tuples(wide, wide, wide, wide), max_size=4),
       st.booleans())
@settings(max_examples=300, deadline=None)
def test_any_finite_boxes_give_finite_scores(p, g, compat):
    for v in (union_iou(p, g), pair_iou(p, g, compat), hierarchical_iou(p, g, compat)):
        assert 0.0 <= v <= 1.0
    if p and g:
        assert 0.0 <= iou(p[0], g[0]) <= 1.0 and iou(p[0], g[0]) == iou(g[0], p[0])


@given(boxes01(), boxes01(), st.integers(-400, 1000))
@settings(max_examples=300, deadline=None)
def test_iou_is_invariant_under_power_of_two_scaling(a, b, e):
    # exact: scaling by 2**e is exact, no product underflows for e >= -400, and beyond SAFE_COORD the
    # boxes are scaled back down by a power of two
    k = 2.0 ** e
    assert iou([v * k for v in a], [v * k for v in b]) == iou(a, b)
    assert union_iou([[v * k for v in a], [v * k for v in b]], [[v * k for v in b]]) == pytest.approx(
        union_iou([a, b], [b]), rel=1e-12, abs=1e-300)


# ---- Hungarian pair IoU ----------------------------------------------------------------------------

A, B = (0, 0, 1, 1), (2, 0, 3, 1)
C, D, E = (0, 0, 1, 1), (2, 0, 3, 0.5), (0, 0, 0.5, 1)  # IoU(A,C)=1, IoU(B,D)=0.5, IoU(A,E)=0.5


def test_pair_iou_2x3_both_modes():
    # optimal matching A-C (1.0) + B-D (0.5) = 1.5; E unmatched
    assert pair_iou([A, B], [C, D, E]) == 1.5 / 3  # fixed: / max(2, 3)
    assert pair_iou([A, B], [C, D, E], paper_compat=True) == 1.5 / 2  # paper: / min(2, 3)
    assert pair_iou([C, D, E], [A, B]) == 0.5 and pair_iou([C, D, E], [A, B], paper_compat=True) == 0.75
    assert hierarchical_iou([A, B], [C, D, E]) == (0.75 + 0.5) / 2
    assert hierarchical_iou([A, B], [C, D, E], paper_compat=True) == (0.75 + 0.75) / 2


def test_pair_iou_is_optimal_not_greedy():
    # 1-D intervals (height 1): g1=[0,6], g2=[6,10], p1=[0,10], p2=[0,3]
    g1, g2, p1, p2 = (0, 0, 6, 1), (6, 0, 10, 1), (0, 0, 10, 1), (0, 0, 3, 1)
    assert iou(p1, g1) == 0.6 and iou(p2, g1) == 0.5 and iou(p1, g2) == 0.4 and iou(p2, g2) == 0.0
    # greedy would take p1-g1 (0.6) and leave p2-g2 (0): 0.3; optimal p1-g2 + p2-g1 = 0.9
    assert pair_iou([p1, p2], [g1, g2]) == pytest.approx(0.45, abs=1e-15)


def test_pair_iou_edge_cases_and_invalid_boxes():
    assert pair_iou([], []) == 1.0 and pair_iou([A], []) == 0.0 and pair_iou([], [A]) == 0.0
    inv = (0.5, 0.5, 0.2, 0.2)
    # fixed drops invalid boxes entirely; paper counts finite inverted boxes as IoU-0 boxes
    assert pair_iou([A, inv], [C]) == 1.0
    assert pair_iou([A, inv], [C], paper_compat=True) == 1.0  # / min(2, 1)
    assert pair_iou([inv], [C], paper_compat=True) == 0.0 and pair_iou([inv], [C]) == 0.0
    assert pair_iou([inv], [], paper_compat=False) == 1.0  # both empty after dropping
    assert pair_iou([[NAN, 0, 1, 1]], [[NAN, 0, 1, 1]], paper_compat=True) == 1.0  # NaN never counts
    assert hierarchical_iou((b for b in [A]), iter([C])) == 1.0  # generators are read once


@given(st.lists(boxes01(), max_size=4), st.lists(boxes01(), max_size=4), st.booleans())
@settings(max_examples=300, deadline=None)
def test_pair_iou_equals_brute_force(p, g, compat):
    pv = [b for b in p if compat or is_valid_box(b)]
    gv = [b for b in g if compat or is_valid_box(b)]
    if not pv or not gv:
        want = 1.0 if not pv and not gv else 0.0
    else:
        small, big = (pv, gv) if len(pv) <= len(gv) else (gv, pv)
        best = max(sum(iou(s, big[j]) for s, j in zip(small, perm))
                   for perm in itertools.permutations(range(len(big)), len(small)))
        want = best / (min if compat else max)(len(pv), len(gv))
    got = pair_iou(p, g, compat)
    assert abs(got - want) <= 1e-12 and 0.0 <= got <= 1.0
    h = hierarchical_iou(p, g, compat)
    assert 0.0 <= h <= 1.0


def test_huge_and_hostile_inputs_are_bounded():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 0.5, size=(20_000, 2))
    many = np.concatenate([xy, xy + 0.01 + rng.uniform(0, 0.5, size=(20_000, 2))], axis=1).tolist()
    junk = [None, "x", [NAN] * 4, [INF, 0, 1, 1], [1, 2], {"a": 1}, [True, False, True, True]] * 1000
    pair_iou([A], [A])  # import scipy outside the timed part
    for v in (union_area(many), union_iou(many, many[::-1]), pair_iou(many, many),
              pair_iou(many, many, paper_compat=True), hierarchical_iou(many + junk, junk + many),
              union_iou(junk, junk), pair_iou(junk, [A]), union_area(5), union_iou(None, 3.0)):
        assert 0.0 <= v and math.isfinite(v)
    assert pair_iou([A] * 1000, [A] * 10) == 10 / MAX_PAIR_BOXES  # at most 64 boxes per side are matched


# ---- coordinate frames -----------------------------------------------------------------------------

def test_viscot_square_to_axis_by_hand():
    # 200x100: S=200, the image sits 50 px below the square's top; x is unchanged
    assert viscot_square_to_axis([0.25, 0.25, 0.75, 0.75], 200, 100) == (0.25, 0.0, 0.75, 1.0)
    got = viscot_square_to_axis([0.1, 0.3, 0.5, 0.6], 200, 100)  # y: 60-50=10 -> .1, 120-50=70 -> .7
    assert got == pytest.approx((0.1, 0.1, 0.5, 0.7), abs=1e-12)
    got = viscot_square_to_axis([0.3, 0.1, 0.6, 0.5], 100, 200)  # portrait: x: 60-50=10 -> .1, 120-50 -> .7
    assert got == pytest.approx((0.1, 0.1, 0.7, 0.5), abs=1e-12)
    assert viscot_square_to_axis([0.0, 0.0, 1.0, 0.2], 200, 100) == (0.0, 0.0, 1.0, 0.0)  # in the padding
    assert viscot_square_to_axis([0.1, 0.2, 0.3, 0.4], 64, 64) == pytest.approx((0.1, 0.2, 0.3, 0.4))
    assert axis_to_viscot_square([0.25, 0.0, 0.75, 1.0], 200, 100) == (0.25, 0.25, 0.75, 0.75)


@given(boxes01(), st.integers(1, 4000), st.integers(1, 4000))
@settings(max_examples=300, deadline=None)
def test_axis_square_axis_round_trip(b, w, h):
    sq = axis_to_viscot_square(b, w, h)
    assert all(0.0 <= v <= 1.0 for v in sq)
    back = viscot_square_to_axis(sq, w, h)
    assert all(abs(x - y) <= 1e-9 for x, y in zip(back, b))


@given(st.integers(1, 5000), st.integers(1, 5000), st.data())
@settings(max_examples=300, deadline=None)
def test_pixel_norm_round_trip(w, h, data):
    x1 = data.draw(st.integers(0, w - 1))
    x2 = data.draw(st.integers(x1 + 1, w))
    y1 = data.draw(st.integers(0, h - 1))
    y2 = data.draw(st.integers(y1 + 1, h))
    assert norm_to_pixel(pixel_to_norm((x1, y1, x2, y2), w, h), w, h) == (x1, y1, x2, y2)


def test_pixel_conversions_by_hand():
    assert pixel_to_norm((20, 10, 100, 50), 200, 100) == (0.1, 0.1, 0.5, 0.5)
    assert norm_to_pixel((0.101, 0.1, 0.5049, 1.2), 200, 100) == (20, 10, 101, 100)  # covers, clamped
    assert norm_to_pixel((NAN, 0, INF, 1), 10, 10) == (0, 0, 0, 10)
    for bad in ((0, 10), (10, -1), (NAN, 5)):
        with pytest.raises(ValueError):
            pixel_to_norm((0, 0, 1, 1), *bad)
