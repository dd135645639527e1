"""Logging helpers: per-reward mean/std, zero-variance groups, metrics passed to TRL's log_metric."""

from __future__ import annotations

import math

import pytest

from sif.rewards import frac_zero_variance_groups, reward_stats
from sif.rewards._common import completion_text, finite, mean_std
from tests.rewards.helpers import FULL, FakeJudge, chain, funcs


def test_frac_zero_variance_groups():
    rewards = [1.0, 1.0, 0.0, 1.0, 0.5, 0.5, 0.2]
    groups = ["a", "a", "b", "b", "c", "c", "d"]  # a flat, b varied, c flat, d single (flat)
    assert frac_zero_variance_groups(rewards, groups) == 0.75
    assert frac_zero_variance_groups([1.0, 2.0, 1.0, 2.0], ["x", "y", "x", "y"]) == 1.0  # by id, not position
    assert frac_zero_variance_groups([], []) == 0.0
    assert frac_zero_variance_groups([math.nan, math.nan], ["a", "a"]) == 1.0  # NaN counts as 0


def test_reward_stats_by_hand():
    out = reward_stats({"format": [1.0, 0.0, 1.0, 1.0], "box": [0.5, 0.5, 0.25, 0.75]},
                       group_ids=["a", "a", "b", "b"], weights={"format": 2.0, "box": 1.0})
    assert out["rewards/format/mean"] == 0.75
    assert out["rewards/format/std"] == pytest.approx(math.sqrt(0.1875))
    assert out["rewards/box/mean"] == 0.5 and out["rewards/box/std"] == pytest.approx(math.sqrt(0.03125))
    assert out["rewards/format/frac_zero_std"] == 0.5 and out["rewards/box/frac_zero_std"] == 0.5
    # totals: 2.5, 0.5, 2.25, 2.75
    assert out["reward/mean"] == pytest.approx(2.0)
    assert out["frac_reward_zero_std"] == 0.0


def test_small_helpers():
    assert mean_std([]) == (0.0, 0.0) and mean_std([1.0, math.nan, 3.0]) == (2.0, 1.0)
    assert finite("nan", 0, 1) == 0.0 and finite(5, 0, 1) == 1.0 and finite(-2, 0, 1) == 0.0
    assert finite(10**400, 0, 2) == 0.0 and finite(object(), 0, 1, default=0.5) == 0.5
    assert completion_text("x" * 200_000) == "x" * 100_000


def test_progress_and_judge_metrics_reach_log_metric():
    logged: dict[str, list[float]] = {}
    judge = FakeJudge(table={"a": 1.0})
    f = funcs(weights={"answer_progress": 1.0}, judge=judge)["answer_progress"]
    texts = [chain([[(FULL, 0.5)]], "a"), chain([[(FULL, 0.5)]], "b")]
    kwargs = dict(id=["s", "s"], answer=["a", "a"], log_metric=lambda k, v: logged.setdefault(k, []).append(v))
    f(prompts=None, completions=texts, **kwargs)
    f(prompts=None, completions=texts, **kwargs)  # second visit: prev 0.5 -> bonus 0.5 for "a", none for "b"
    assert logged["progress/hit_frac"] == [0.0, 1.0]
    assert logged["progress/bonus_mean"] == [0.0, 0.25]
    assert logged["judge/calls"] == [2.0]  # the second batch is the same batch: answered from the cache
    stats = f.suite.stats()
    assert stats["progress/memory_size"] == 1.0


def test_broken_log_metric_does_not_break_the_reward():
    def boom(name, value):
        raise RuntimeError("logger down")

    f = funcs(weights={"answer_progress": 1.0})["answer_progress"]
    assert f(prompts=None, completions=[chain([[(FULL, 0.5)]], "yes")], id=["s"], answer=["yes"],
             log_metric=boom) == [1.0]
