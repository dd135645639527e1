"""Per-axis R^2 of box centres, the control rows of a synthetic eval, and the report that shows them."""

from __future__ import annotations

import json

import pytest

from sif.eval.benchmarks.base import box_centers, center_r2
from sif.eval.controls import BLIND, CONSTANT_BOX, blind_aggregate, control_rows
from sif.eval.report.markdown import controls_grid, results_table


def test_center_r2_by_hand():
    # truth x = 0.2, 0.4, 0.6 (mean 0.4, SS_tot 0.08); prediction 0.2, 0.5, 0.6 -> SS_res 0.01
    pairs = [([0.2, 0.1], [0.2, 0.1]), ([0.5, 0.2], [0.4, 0.2]), ([0.6, 0.3], [0.6, 0.3])]
    r2 = center_r2(pairs)
    assert r2["r2_x"] == pytest.approx(1 - 0.01 / 0.08) and r2["r2_y"] == pytest.approx(1.0)
    assert center_r2([([0.5, 0.5], [0.4, 0.4]), ([0.5, 0.5], [0.6, 0.6])]) == {"r2_x": 0.0, "r2_y": 0.0}
    assert center_r2([([0.5, 0.5], [0.4, 0.4])]) == {}                       # one pair: undefined


def test_box_centers_clip_to_the_picture_and_default_to_its_centre():
    assert box_centers([[0.5, 0.5, 1.5, 0.7]], [[0.0, 0.0, 0.2, 0.4]]) == ([0.75, 0.6], [0.1, 0.2])
    assert box_centers([], [[0.0, 0.0, 0.2, 0.4]]) == ([0.5, 0.5], [0.1, 0.2])
    assert box_centers([["a", None, 1, 2], [0.1, 0.1, 0.3, 0.3]], [[0, 0, 1, 1]])[0] == pytest.approx([0.2, 0.2])
    assert box_centers([[float("nan")] * 4], [])[1] is None


def _s(q, a, cat, boxes, choices=None):
    return {"question": q, "answer": a, "answer_text": a, "category": cat, "gt_boxes": boxes, "choices": choices}


def test_control_rows_and_the_table_that_shows_them(tmp_path):
    lr = "Is the red cube to the left or to the right of the blue sphere?"
    train = [_s(lr, "left", "left_right", [[0.1, 0.1, 0.3, 0.3]]), _s(lr, "left", "left_right", [[0.1, 0.1, 0.3, 0.3]]),
             _s(lr, "right", "left_right", [[0.1, 0.1, 0.3, 0.3]])]
    held = [_s(lr, "left", "left_right", [[0.1, 0.1, 0.3, 0.3]]), _s(lr, "right", "left_right", [[0.6, 0.6, 0.8, 0.8]])]
    blind = {"overall": 0.5, "per_category": {"left_right": 0.5}, "mean_iou": 0.1, "acc_at_iou": 0.0,
             "r2_x": -0.2, "r2_y": -0.1}
    (tmp_path / "results.json").write_text(json.dumps({"aggregate": blind}))
    rows = control_rows(train, held, blind=blind_aggregate(tmp_path))
    assert rows["question-only prior"]["overall"] == 0.5 and rows["chance"]["overall"] == 0.5
    assert rows[CONSTANT_BOX]["mean_iou"] == pytest.approx(0.5) and rows[CONSTANT_BOX]["acc_at_iou"] == 0.5
    assert rows[BLIND]["overall"] == 0.5
    agg = {"n": 2, "overall": 1.0, "per_category": {"left_right": 1.0}, "per_category_n": {"left_right": 2},
           "acc_at_iou": 1.0, "mean_iou": 0.9, "r2_x": 0.95, "r2_y": 0.9, "controls": {"rows": rows}}
    header, grid = controls_grid(agg)
    assert header[:3] == ["", "accuracy", "left_right"] and [r[0] for r in grid] == [
        "this model", "chance", "question-only prior", "majority answer", CONSTANT_BOX, BLIND]
    assert grid[0][1:] == ["1.000", "1.000", "1.000", "0.900", "0.950", "0.900"]
    table = results_table(agg)
    assert "Against image-blind controls" in table and "| blind control | 0.500 | 0.500 |" in table
    assert "controls" not in [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| c")]


def test_missing_blind_results_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="blind-control results"):
        blind_aggregate(tmp_path / "nowhere")
