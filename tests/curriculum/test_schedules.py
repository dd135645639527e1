"""Curricula: weights at 0, 0.5 and 1 by hand for every schedule, state round trip, sample order."""

from __future__ import annotations

import math

import pytest

from sif.config.training import CurriculumConfig
from sif.curriculum import Curriculum, build_curriculum
from sif.registry import CURRICULA

BASE = {"format": 1.0, "answer_progress": 1.0, "box_iou_progress": 1.0, "depth_consistency": 1.0}
START = {"format": 2.0, "box_iou_progress": 0.5, "depth_consistency": 0.5}
END = {"format": 0.5, "box_iou_progress": 1.5, "depth_consistency": 1.5}


def make(name: str, **kw) -> Curriculum:
    cfg = CurriculumConfig(name=name, start_weights=dict(START), end_weights=dict(END), **kw)
    return build_curriculum(cfg, BASE)


def test_registry():
    assert CURRICULA.names() == ["cosine", "linear", "none", "paper", "step"]


@pytest.mark.parametrize("name", ["none", "paper"])
def test_constant_schedules_ignore_start_end(name):
    c = make(name)
    for p in (0.0, 0.5, 1.0):
        assert c.weights_at(p) == BASE


def test_linear():
    c = make("linear")
    assert c.weights_at(0.0) == {"format": 2.0, "answer_progress": 1.0, "box_iou_progress": 0.5,
                                 "depth_consistency": 0.5}
    assert c.weights_at(0.5) == {"format": 1.25, "answer_progress": 1.0, "box_iou_progress": 1.0,
                                 "depth_consistency": 1.0}
    assert c.weights_at(1.0) == {"format": 0.5, "answer_progress": 1.0, "box_iou_progress": 1.5,
                                 "depth_consistency": 1.5}


def test_cosine():
    c = make("cosine")
    assert c.weights_at(0.0)["format"] == pytest.approx(2.0)
    assert c.weights_at(0.5)["format"] == pytest.approx(1.25)  # (1 - cos(pi/2)) / 2 = 0.5
    t = (1 - math.cos(math.pi / 4)) / 2  # 0.1464...: slow start
    assert c.weights_at(0.25)["format"] == pytest.approx(2.0 - 1.5 * t)
    assert c.weights_at(0.25)["box_iou_progress"] == pytest.approx(0.5 + 1.0 * t)
    assert c.weights_at(1.0)["format"] == pytest.approx(0.5)
    assert c.weights_at(0.5)["answer_progress"] == 1.0  # not named: keeps the base weight


def test_step_one_milestone_switches_at_once():
    c = make("step", milestones=[0.5])
    assert c.weights_at(0.0)["format"] == 2.0
    assert c.weights_at(0.4999)["format"] == 2.0
    assert c.weights_at(0.5)["format"] == 0.5
    assert c.weights_at(1.0) == {**BASE, **END}


def test_step_two_milestones_go_halfway_first():
    c = make("step", milestones=[0.75, 0.25])  # order does not matter
    assert c.weights_at(0.1)["format"] == 2.0
    assert c.weights_at(0.5)["format"] == 1.25
    assert c.weights_at(0.5)["depth_consistency"] == 1.0
    assert c.weights_at(0.8)["format"] == 0.5


def test_step_needs_a_milestone():
    with pytest.raises(ValueError, match="milestone"):
        make("step", milestones=[])


def test_progress_is_clamped_and_current_remembered():
    c = make("linear")
    assert c.weights_at(-3) == c.weights_at(0.0)
    assert c.weights_at(7.5) == c.weights_at(1.0)
    assert c.weights_at(math.nan) == c.weights_at(0.0)
    c.weights_at(0.5)
    assert c.current["format"] == 1.25 and c.progress == 0.5
    assert c.weight_vector(1.0, ["depth_consistency", "format", "absent"]) == [1.5, 0.5, 0.0]


def test_unknown_names_are_ignored_with_a_warning(caplog):
    cfg = {"name": "linear", "start_weights": {"format": 3.0, "typo_reward": 9.0}, "end_weights": {}}
    c = build_curriculum(cfg, BASE)
    assert "typo_reward" in caplog.text
    assert c.weights_at(0.0) == {**BASE, "format": 3.0}
    assert c.weights_at(1.0) == BASE  # end_weights empty: the base weight


def test_state_round_trip():
    c = make("cosine")
    c.weights_at(0.3)
    state = c.state_dict()
    assert state["name"] == "cosine" and state["progress"] == 0.3
    fresh = make("cosine")
    fresh.load_state_dict(state)
    assert fresh.progress == 0.3 and fresh.current == c.current
    fresh.load_state_dict("garbage")  # type: ignore[arg-type]
    assert fresh.progress == 0.3


def test_unknown_curriculum_and_order():
    with pytest.raises(KeyError, match="known: cosine"):
        build_curriculum({"name": "nope"}, BASE)
    with pytest.raises(ValueError, match="order_by"):
        build_curriculum({"name": "none", "order_by": "random"}, BASE)


def _chain(n: int) -> str:
    return "<think>" + "<area>[]</area><text>t</text>" * n + "</think><answer>a</answer>"


def test_sample_order_by_chain_length_is_stable_and_puts_unknowns_last():
    samples = [{"chain": _chain(3)}, {"chain": _chain(1)}, {}, {"chain": _chain(3)}, {"chain": _chain(2)},
               {"chain": None}, {"chain": _chain(1)}]
    c = build_curriculum({"name": "none", "order_by": "chain_length"}, BASE)
    assert c.sample_order(samples, seed=1) == [1, 6, 4, 0, 3, 2, 5]


def test_sample_order_by_num_objects():
    samples = [{"num_objects": 4}, {"num_objects": 2}, {"num_objects": True}, {"num_objects": 2},
               {"num_objects": math.nan}, {"num_objects": 1}]
    c = build_curriculum({"name": "linear", "order_by": "num_objects"}, BASE)
    assert c.sample_order(samples, seed=0) == [5, 1, 3, 0, 2, 4]


def test_sample_order_none_is_identity():
    c = build_curriculum({"name": "none"}, BASE)
    assert c.sample_order([{"chain": _chain(5)}, {"chain": _chain(1)}, {}], seed=3) == [0, 1, 2]
    assert c.sample_order([], seed=3) == []
