"""Run-summary numbers of a GRPO run from the trainer's log history (TRL's per-step metrics)."""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

OBJECTIVE_LAST_STEPS = 5


def _finite(value: Any) -> Optional[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value)):
        return float(value)
    return None


def _series(history: Sequence[dict], key: str) -> list[tuple[int, float]]:
    """(step, value) of `key` per step (the last one logged wins: a resumed run re-logs steps)."""
    by_step: dict[int, float] = {}
    for rec in history:
        v = _finite(rec.get(key))
        if v is not None:
            by_step[int(rec.get("step", 0))] = v
    return sorted(by_step.items())


def _mean(values: Sequence[float]) -> Optional[float]:
    return sum(values) / len(values) if values else None


def grpo_numbers(history: Sequence[dict], reward_names: Sequence[str], completions_per_step: int,
                 last_steps: int = OBJECTIVE_LAST_STEPS) -> dict[str, Any]:
    """Per-reward first/last/final means, the total reward trajectory, step time, completion tokens/s and
    the objective (mean total reward over the last `last_steps` logged steps)."""
    total = _series(history, "reward")
    out: dict[str, Any] = {
        "steps_logged": len(total),
        "reward_first": total[0][1] if total else None,
        "reward_last": total[-1][1] if total else None,
        "reward_trajectory": [[s, round(v, 6)] for s, v in total],
        "frac_reward_zero_std_mean": _mean([v for _, v in _series(history, "frac_reward_zero_std")]),
    }
    rewards: dict[str, dict[str, Optional[float]]] = {}
    for name in reward_names:
        means = _series(history, f"rewards/{name}/mean")
        stds = _series(history, f"rewards/{name}/std")
        rewards[name] = {
            "first": means[0][1] if means else None,
            "last": means[-1][1] if means else None,
            "final_mean": _mean([v for _, v in means[-last_steps:]]),
            "final_std": _mean([v for _, v in stds[-last_steps:]]),
        }
    out["rewards"] = rewards
    step_times = [v for _, v in _series(history, "step_time")]
    lengths = [v for _, v in _series(history, "completions/mean_length")]
    out["step_time_s"] = _mean(step_times)
    out["step_time_s_last"] = step_times[-1] if step_times else None
    tokens = sum(lengths) * completions_per_step
    out["completion_tokens"] = int(tokens)
    out["completion_tokens_per_s"] = round(tokens / sum(step_times), 3) if step_times and sum(step_times) > 0 else None
    out["completion_mean_length"] = _mean(lengths)
    out["objective"] = _mean([v for _, v in total[-last_steps:]])
    return out
