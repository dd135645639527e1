"""format and answer rewards: exact values on hand-written completions, both modes; TRL plumbing."""

from __future__ import annotations

import math

import pytest

from sif.registry import REWARDS
from sif.rewards import build_reward_funcs
from tests.rewards.helpers import FULL, NAMES, TR, FakeJudge, call, chain, conv, funcs, rows

GOOD = chain([[(FULL, 0.5)], [(TR, 0.5)]], answer="yes")


def test_registry_names_and_callable_names():
    assert set(NAMES) <= set(REWARDS.names())
    fs, ws = build_reward_funcs({"weights": {"depth_consistency": 0.5, "format": 0.0, "answer": 2.0}})
    assert [f.__name__ for f in fs] == ["depth_consistency", "format", "answer"]  # config order kept
    assert ws == [0.5, 0.0, 2.0]  # weight 0 stays in, so TRL still logs rewards/format/mean
    assert fs[0].suite is fs[1].suite  # one shared state


def test_unknown_reward_and_bad_scorer_fail_at_build_time():
    with pytest.raises(KeyError, match="known: .*box_iou"):
        build_reward_funcs({"weights": {"nope": 1.0}})
    with pytest.raises(ValueError, match="needs a judge"):
        build_reward_funcs({"weights": {"answer": 1.0}, "answer_scorer": "judge"})
    with pytest.raises(ValueError, match="rule' or 'judge"):
        build_reward_funcs({"weights": {"answer": 1.0}, "answer_scorer": "llm"})


@pytest.mark.parametrize("compat", [False, True])
def test_format_valid_and_invalid(compat):
    f = funcs(paper_compat=compat)["format"]
    assert call(f, [GOOD, conv(GOOD), "", "<think></think><answer>x</answer>"]) == [1.0, 1.0, 0.0, 0.0]


def test_format_modes_differ_where_documented():
    empty_area = chain(["[]"])
    junk_outside = "Sure! " + GOOD
    five_decimals = chain(['[{"bbox_2d":[0.12345,0,1,1],"depth":0.5}]'])
    texts = [empty_area, junk_outside, five_decimals]
    assert call(funcs()["format"], texts) == [0.0, 0.0, 0.0]
    assert call(funcs(paper_compat=True)["format"], texts) == [1.0, 1.0, 0.0]


def test_completion_shapes_are_equivalent():
    f = funcs()["format"]
    shapes = [GOOD, conv(GOOD), [{"role": "assistant", "content": [{"type": "text", "text": GOOD}]}],
              {"role": "assistant", "content": GOOD}, GOOD.encode()]
    assert call(f, shapes) == [1.0] * 5
    weird = [None, 17, [{"role": "user", "content": GOOD}], [{"content": None}], b"\xff\xfe", [[[]]]]
    assert call(f, weird) == [0.0] * 6


@pytest.mark.parametrize("compat", [False, True])
def test_answer_rule(compat):
    f = funcs(paper_compat=compat)["answer"]
    texts = [chain([[(FULL, 0.5)]], "Yes."), chain([[(FULL, 0.5)]], "no"), "no answer tag", "<answer></answer>"]
    assert call(f, texts, answer="yes") == [1.0, 0.0, 0.0, 0.0]


def test_answer_rule_choices_and_number_tolerance():
    f = funcs()["answer"]
    texts = [chain([[(FULL, 0.5)]], "(B) red"), chain([[(FULL, 0.5)]], "A")]
    assert call(f, texts, answer="B", choices=["blue", "red"]) == [1.0, 0.0]
    loose = funcs(number_tolerance=0.1)["answer"]
    nums = [chain([[(FULL, 0.5)]], "10.5"), chain([[(FULL, 0.5)]], "12")]
    assert call(loose, nums, answer="10") == [1.0, 0.0]
    assert call(funcs()["answer"], nums, answer="10") == [0.0, 0.0]


def test_judge_one_batched_call_shared_by_answer_and_progress():
    judge = FakeJudge(table={"yes": 0.9, "maybe": 0.4})
    fs = funcs(weights={"answer": 1.0, "answer_progress": 1.0}, judge=judge)
    texts = [chain([[(FULL, 0.5)]], "yes"), chain([[(FULL, 0.5)]], "maybe"), chain([[(FULL, 0.5)]], "yes")]
    cols = dict(id="s1", question="Is it red?", answer="yes", image="img.png")
    assert call(fs["answer"], texts, **cols) == [0.9, 0.4, 0.9]
    assert call(fs["answer_progress"], texts, **cols) == [0.9, 0.4, 0.9]  # first visit: no bonus
    assert len(judge.calls) == 1  # one score_many for the batch, reused by answer_progress
    items = judge.calls[0]
    assert len(items) == 2  # identical items asked once
    assert items[0].question == "Is it red?" and items[0].reference == "yes" and items[0].image == "img.png"


def test_judge_fixed_vs_paper_items_and_clamping():
    judge = FakeJudge(table={"big": 1.7, "neg": -0.2, "nan": math.nan, "None": 0.3, "inf": math.inf})
    texts = [chain([[(FULL, 0.5)]], a) for a in ("big", "neg", "nan", "inf")] + ["no answer at all",
                                                                                  chain([[(FULL, 0.5)]], "x" * 1001)]
    fixed = funcs(weights={"answer": 1.0}, judge=judge)["answer"]
    assert call(fixed, texts, question="Why?", answer="a") == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    sent = judge.calls[-1]
    assert [it.prediction for it in sent] == ["big", "neg", "nan", "inf"]  # missing / overlong: not asked
    assert all(it.question == "Why?" for it in sent)
    paper = funcs(weights={"answer": 1.0}, judge=judge, paper_compat=True)["answer"]
    assert call(paper, texts, question="Why?", answer="a") == [1.0, 0.0, 0.0, 0.0, 0.3, 0.0]
    sent = judge.calls[-1]
    assert [it.prediction for it in sent][4] == "None"  # the original sent str(None)
    assert all(it.question == "hy?" for it in sent)  # bug 16: first character dropped


def test_judge_exception_gives_zeros_not_a_crash():
    class Broken:
        def score_many(self, items):
            raise RuntimeError("endpoint down")

    f = funcs(weights={"answer": 1.0}, judge=Broken())["answer"]
    assert call(f, [chain([[(FULL, 0.5)]], "yes")] * 2, answer="yes") == [0.0, 0.0]
    assert f.suite.counters["judge_batch_errors"] == 1


def test_short_judge_reply_list_is_padded():
    class Short:
        def score_many(self, items):
            return [0.5]

    f = funcs(weights={"answer": 1.0}, judge=Short())["answer"]
    assert call(f, [chain([[(FULL, 0.5)]], "a"), chain([[(FULL, 0.5)]], "b")], answer="yes") == [0.5, 0.0]


def test_per_row_columns():
    f = funcs()["answer"]
    texts = [chain([[(FULL, 0.5)]], "yes"), chain([[(FULL, 0.5)]], "3")]
    assert call(f, texts, answer=rows(["yes", "3"]), id=rows(["a", "b"])) == [1.0, 1.0]
    assert call(f, texts) == [0.0, 0.0]  # no answer column at all: nothing matches, nothing raises


def test_builds_from_the_composed_config():
    from tests.conftest import compose

    cfg = compose(["stage=grpo", "reward=offline"])
    fs, ws = build_reward_funcs(cfg.reward)  # a DictConfig works as well as the dataclass or a dict
    assert [f.__name__ for f in fs] == ["format", "answer_progress", "box_iou_progress", "depth_consistency"]
    assert ws == [1.0, 1.0, 1.0, 1.0]
    assert [f.reward_range for f in fs] == [(0.0, 1.0), (0.0, 2.0), (0.0, 2.0), (0.0, 1.0)]
