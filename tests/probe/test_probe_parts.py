"""The grounding probe's parts: box parsing of untrusted text, metrics by hand, reproducible items."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sif.probe.metrics import grounding_metrics, mean_box, parse_box
from sif.probe.tasks import HELD_OUT_OFFSET, ProbeTask, box_text, probe_item


def test_parse_box():
    assert parse_box("[0.100,0.200,0.300,0.400]") == (0.1, 0.2, 0.3, 0.4)
    assert parse_box("the box is 1, 2, 3 and 4.5 done") == (1.0, 2.0, 3.0, 4.5)
    assert parse_box("[0.1,0.2,0.3]") is None and parse_box("") is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parse_box_never_raises(text):
    box = parse_box(text)
    assert box is None or len(box) == 4


def test_metrics_by_hand():
    truths = [(0.0, 0.0, 0.2, 0.2), (0.4, 0.4, 0.6, 0.6), (0.8, 0.8, 1.0, 1.0)]
    perfect = grounding_metrics(truths, truths)
    assert perfect["mean_iou"] == 1.0 and perfect["acc_at_iou"] == 1.0 and perfect["r2_x"] == 1.0
    # one answer missing (centre (0.5, 0.5), IoU 0), one shifted by half its width (IoU 1/3)
    m = grounding_metrics([truths[0], (0.5, 0.4, 0.7, 0.6), None], truths)
    assert m["mean_iou"] == pytest.approx((1 + 1 / 3) / 3) and m["acc_at_iou"] == pytest.approx(1 / 3)
    assert m["parsed"] == pytest.approx(2 / 3)
    # x truth 0.1 / 0.5 / 0.9 (SS_tot 0.32); answers 0.1 / 0.6 / 0.5 -> SS_res 0.01 + 0.16
    assert m["r2_x"] == pytest.approx(1 - 0.17 / 0.32)
    assert mean_box(truths) == pytest.approx((0.4, 0.4, 0.6, 0.6))


def test_items_are_reproducible_and_held_out_scenes_differ():
    task = ProbeTask(width=96, height=72, seed=3)
    a, b = probe_item(task, 5), probe_item(task, 5)
    assert a.answer == b.answer == box_text(a.box) and a.question == b.question
    assert list(a.image.getdata()) == list(b.image.getdata())
    held = probe_item(task, 5, held_out=True)
    assert held.box != a.box and HELD_OUT_OFFSET > 10 ** 6
    blank = probe_item(ProbeTask(width=96, height=72, seed=3, blank=True), 5)
    assert blank.box == a.box and len(set(blank.image.getdata())) == 1
