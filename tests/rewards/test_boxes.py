"""box_iou and box_iou_progress: hand-computed values in both modes, and the bug-18 reward hack."""

from __future__ import annotations

import pytest

from sif.rewards.boxes import PROGRESS_MIN_END, progress_value
from tests.rewards.helpers import FULL, call, chain, funcs

G = (0.6, 0.6, 0.8, 0.8)  # area 0.04; the full image's IoU with it is 0.04
DISTRACTOR = (0.0, 0.0, 0.1, 0.1)  # misses G
NEAR = (0.5, 0.5, 0.9, 0.9)  # contains G: IoU 0.04 / 0.16 = 0.25


def rewards(compat: bool, texts, gt=(G,)):
    fs = funcs(paper_compat=compat)
    gt_col = [list(b) for b in gt]
    return (call(fs["box_iou"], texts, gt_boxes=gt_col), call(fs["box_iou_progress"], texts, gt_boxes=gt_col))


@pytest.mark.parametrize("compat", [False, True])
def test_last_area_equal_to_gt(compat):
    iou, prog = rewards(compat, [chain([[(FULL, 0.5)], [(NEAR, 0.5)], [(G, 0.5)]])])
    assert iou == [1.0]
    # paper: start = NEAR (first non-full area), 1 + (1 - 0.25) = 1.75; fixed: 1 + (1 - 0.04) = 1.96
    assert prog == pytest.approx([1.75 if compat else 1.96])


def test_two_box_last_area_min_vs_max_denominator():
    p1, p2 = (0.0, 0.0, 0.5, 0.5), (0.5, 0.5, 1.0, 1.0)
    text = [chain([[(FULL, 0.5)], [(p1, 0.5), (p2, 0.5)]])]
    # union IoU: |P1 ∪ P2| = 0.5, |G| = 0.25 inside it -> 0.5
    # pair IoU: P1-G matched with IoU 1; paper 1 / min(2, 1) = 1.0; fixed 1 / max(2, 1) = 0.5
    fixed, _ = rewards(False, text, gt=[p1])
    paper, _ = rewards(True, text, gt=[p1])
    assert fixed == [pytest.approx((0.5 + 0.5) / 2)] and paper == [pytest.approx((0.5 + 1.0) / 2)]


def test_reward_hack_of_bug_18_pays_in_paper_mode_only():
    honest = chain([[(FULL, 0.5)], [(NEAR, 0.5)], [(G, 0.5)]])
    hack = chain([[(FULL, 0.5)], [(DISTRACTOR, 0.5)], [(G, 0.5)]])
    _, paper = rewards(True, [honest, hack])
    _, fixed = rewards(False, [honest, hack])
    assert paper == pytest.approx([1.75, 2.0])  # the irrelevant first box earns 0.25 more
    assert fixed == pytest.approx([1.96, 1.96])  # fixed: independent of the intermediate boxes


def test_bonus_gate_and_whole_image_focus():
    miss = (0.6, 0.6, 1.0, 1.0)  # HIoU 0.04 / 0.16 = 0.25 < 0.5
    texts = [chain([[(FULL, 0.5)], [(miss, 0.5)]]),
             chain([[(FULL, 0.5)], [(DISTRACTOR, 0.5)], [(miss, 0.5)]]),
             chain([[(FULL, 0.5)]])]
    _, paper = rewards(True, texts)
    _, fixed = rewards(False, texts)
    # paper: start == last -> 0.25; distractor start -> 0.25 + 0.25; whole image only -> 0.04 + 0
    assert paper == pytest.approx([0.25, 0.5, 0.04])
    # fixed: below PROGRESS_MIN_END no bonus at all; the whole image is the baseline itself
    assert fixed == pytest.approx([0.25, 0.25, 0.04])


def test_progress_value_rule():
    assert progress_value(0.8, 0.1, 0.3, paper_compat=True) == pytest.approx(1.5)
    assert progress_value(0.8, 0.1, 0.3, paper_compat=False) == pytest.approx(1.3)
    assert progress_value(0.4, 0.1, 0.3, paper_compat=False) == 0.4
    assert progress_value(PROGRESS_MIN_END, 0.0, 0.2, paper_compat=False) == pytest.approx(0.8)
    assert progress_value(0.2, 0.5, 0.0, paper_compat=True) == 0.2


def test_broken_areas_fixed_uses_last_area_paper_keeps_the_end_iou():
    broken_mid = chain([[(FULL, 0.5)], "[{not json", [(G, 0.5)]])
    iou_f, prog_f = rewards(False, [broken_mid])
    iou_p, prog_p = rewards(True, [broken_mid])
    assert iou_f == [1.0] and prog_f == pytest.approx([1.96])
    # paper: the broken area reads [[]] and is the first "non-full" area; HIoU([[]]) raises, but the original
    # had already set reward = end IoU, and its handler keeps it (issue 15: not 0)
    assert iou_p == [1.0] and prog_p == [1.0]


@pytest.mark.parametrize("compat", [False, True])
def test_zero_cases(compat):
    texts = ["", "<think></think>", chain([[(FULL, 0.5)], "[]"]), chain([[(FULL, 0.5)], "[{not json"]),
             chain([[(FULL, 0.5)], '[{"bbox_2d":[0.1,0.2,0.3],"depth":0.5}]'])]
    iou, prog = rewards(compat, texts)
    assert iou == [0.0] * 5 and prog == [0.0] * 5


@pytest.mark.parametrize("compat", [False, True])
def test_no_or_bad_gt_boxes_give_zero(compat):
    text = [chain([[(FULL, 0.5)], [(G, 0.5)]])]
    assert rewards(compat, text, gt=[]) == ([0.0], [0.0])
    assert rewards(compat, text, gt=[(0.5, 0.5, 0.2, 0.2), ("a", 0, 1, 1)]) == ([0.0], [0.0])


def test_paper_mode_reads_areas_outside_think_fixed_does_not():
    text = "<area>" + '[{"bbox_2d":[0.6,0.6,0.8,0.8],"depth":0.5}]' + "</area> <answer>yes</answer>"
    assert rewards(True, [text])[0] == [1.0]
    assert rewards(False, [text])[0] == [0.0]
