"""Image-blind control rows (sif.eval.baselines), computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from sif.eval.baselines import (
    CHANCE, MAJORITY, PRIOR, baselines, constant_box_prior, fit_constant_box, mentioned_objects, question_template,
)

REL = "Which is closer to the camera, the red cube or the blue sphere?"
LR = "Is the red cube to the left or to the right of the blue sphere?"
COUNT = "How many cubes are there?"
COLOR = "What color is the object nearest to the camera?"


def _s(question, answer, category, choices=None, answer_text=None):
    return {"question": question, "answer": answer, "category": category, "choices": choices,
            "answer_text": answer_text if answer_text is not None else answer}


def test_templates_mask_colour_shape_and_number_words():
    assert question_template("How many cubes are there?") == question_template("How many spheres are there?")
    assert question_template(REL) == "which is closer to the camera, the _ _ or the _ _?"
    assert mentioned_objects(REL) == ["red cube", "blue sphere"]


def test_chance_counts_words_not_option_letters():
    train = [_s(LR, "A", "left_right", ["left", "right"], "left"), _s(LR, "right", "left_right"),
             _s(COUNT, "2", "counting"), _s(COUNT, "3", "counting"), _s(COUNT, "B", "counting", ["1", "2", "5", "7"], "2")]
    held_out = [_s(LR, "left", "left_right"),                                # open: {left, right} -> 1/2
                _s(LR, "B", "left_right", ["left", "right"], "right"),       # MC: 1/2
                _s(REL, "red cube", "relative_depth"),                        # open, object answer: 2 named -> 1/2
                _s(COUNT, "3", "counting")]                                   # open: training takes {2, 3} -> 1/2
    train.append(_s(REL, "blue sphere", "relative_depth"))
    rows = baselines(train, held_out)
    assert rows[CHANCE]["left_right"] == pytest.approx(0.5)   # the old code said (1/4 + 1/2) / 2 here
    assert rows[CHANCE]["relative_depth"] == pytest.approx(0.5)
    assert rows[CHANCE]["counting"] == pytest.approx(0.5)
    assert rows[CHANCE]["overall"] == pytest.approx(0.5)


def test_question_only_prior_rules_by_hand():
    train = [_s(LR, "right", "left_right"), _s(LR, "B", "left_right", ["left", "right"], "right"),
             _s(LR, "left", "left_right"),
             _s(COUNT, "2", "counting"), _s(COUNT, "2", "counting"), _s(COUNT, "3", "counting"),
             _s(COLOR, "red", "attribute"), _s(COLOR, "blue", "attribute"), _s(COLOR, "blue", "attribute"),
             _s(REL, "blue sphere", "relative_depth")]
    held_out = [
        _s(REL, "A", "relative_depth", ["red cube", "blue sphere"], "red cube"),   # first named: hit
        _s(REL, "blue sphere", "relative_depth"),                                 # first named (red cube): miss
        _s(LR, "right", "left_right"),                                            # majority right: hit
        _s(LR, "A", "left_right", ["left", "right"], "left"),                     # miss
        _s(COUNT, "C", "counting", ["1", "3", "4", "5"], "4"),                    # among options: 3 -> miss
        _s(COUNT, "2", "counting"),                                               # open: 2 -> hit
        _s(COLOR, "B", "attribute", ["red", "blue", "green"], "blue"),            # blue -> hit
    ]
    rows = baselines(train, held_out)
    prior = rows[PRIOR]
    assert prior["relative_depth"] == 0.5 and prior["left_right"] == 0.5
    assert prior["counting"] == 0.5 and prior["attribute"] == 1.0
    assert prior["overall"] == pytest.approx(4 / 7)
    # the majority answer is a separate row: "right" (tied with "2" and "blue"; the first seen wins), 1 hit
    assert rows[MAJORITY]["overall"] == pytest.approx(1 / 7)


def test_no_training_samples_is_an_error():
    with pytest.raises(ValueError, match="no training samples"):
        baselines([], [{"answer": "A"}])


def test_constant_box_fits_the_one_box_and_scores_held_out_items():
    box = [0.2, 0.3, 0.6, 0.7]
    train = [{"category": "c", "gt_boxes": [box]} for _ in range(5)]
    assert fit_constant_box([box] * 5) == pytest.approx(tuple(box))
    held = [{"category": "c", "gt_boxes": [box]},                        # IoU 1
            {"category": "c", "gt_boxes": [[0.2, 0.3, 0.3, 0.7]]},       # IoU 0.04/0.16 = 0.25
            {"category": "c", "gt_boxes": [[0.7, 0.7, 0.9, 0.9]]}]       # IoU 0
    out = constant_box_prior(train, held)
    assert out["mean_iou"]["c"] == pytest.approx(1.25 / 3)
    assert out["acc_at_iou"]["overall"] == pytest.approx(1 / 3)


def test_constant_box_compares_union_boxes_and_beats_the_median():
    rng = np.random.default_rng(0)
    gts = []
    for _ in range(200):
        x, y = rng.uniform(0, 0.8, 2)
        gts.append([x, y, x + 0.2, y + 0.2])
    fitted = fit_constant_box(gts)
    from sif.eval.baselines import _ious
    arr = np.asarray(gts)
    assert _ious(np.asarray(fitted), arr).mean() >= _ious(np.median(arr, axis=0), arr).mean()
    two = [{"category": "c", "gt_boxes": [[0.1, 0.1, 0.2, 0.2], [0.5, 0.5, 0.6, 0.6]]}]
    assert constant_box_prior(two, two)["mean_iou"]["c"] == pytest.approx(1.0)   # union [0.1,0.1,0.6,0.6]
