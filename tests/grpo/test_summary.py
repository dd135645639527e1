"""Summary numbers of a GRPO run from its log history."""

from __future__ import annotations

import pytest

from sif.grpo.summary import grpo_numbers


def _history(n: int = 8) -> list[dict]:
    out = []
    for step in range(1, n + 1):
        out.append({"step": step, "reward": 0.1 * step, "rewards/format/mean": 0.05 * step,
                    "rewards/format/std": 0.01, "rewards/answer/mean": 0.0, "rewards/answer/std": 0.0,
                    "step_time": 2.0, "completions/mean_length": 100.0, "frac_reward_zero_std": 0.5})
    out.append({"step": n, "train_runtime": 16.0})  # the final summary line has no reward
    return out


def test_numbers():
    out = grpo_numbers(_history(), ["format", "answer"], completions_per_step=8)
    assert out["steps_logged"] == 8 and out["reward_first"] == pytest.approx(0.1)
    assert out["reward_last"] == pytest.approx(0.8)
    assert out["objective"] == pytest.approx((0.4 + 0.5 + 0.6 + 0.7 + 0.8) / 5)
    assert out["rewards"]["format"]["first"] == pytest.approx(0.05)
    assert out["rewards"]["format"]["last"] == pytest.approx(0.4)
    assert out["rewards"]["format"]["final_mean"] == pytest.approx(0.3)
    assert out["rewards"]["answer"]["final_std"] == 0.0
    assert out["step_time_s"] == 2.0
    assert out["completion_tokens"] == 8 * 100 * 8
    assert out["completion_tokens_per_s"] == pytest.approx(8 * 100 * 8 / 16.0)
    assert out["frac_reward_zero_std_mean"] == 0.5


def test_resumed_steps_count_once_and_empty_history():
    history = _history(3) + [{"step": 3, "reward": 9.0}]  # a resumed run re-logs step 3: the last one wins
    out = grpo_numbers(history, ["format"], completions_per_step=4)
    assert out["steps_logged"] == 3 and out["reward_last"] == 9.0
    empty = grpo_numbers([], ["format"], completions_per_step=4)
    assert empty["objective"] is None and empty["completion_tokens_per_s"] is None
    assert empty["rewards"]["format"]["first"] is None
