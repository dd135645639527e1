"""`answer` (0..1) and `answer_progress` (0..2): answer correctness, and the paper's progress bonus.

The raw score s is `answers_match` (rule, 0 or 1) or the judge's score in [0, 1]
(`reward.answer_scorer=judge`; the whole batch in one `score_many` call; see `RewardSuite`).

`answer_progress` (spec §3.5 (1), §3.6 (2)): r = s + max(0, s - s_prev), where s_prev is the score
stored for the same sample the last time its group was scored; r = s on the first visit.
After scoring, the group mean (the completions of one sample id in the batch, gathered over ranks) is
stored:

* fixed (default): the mean of the RAW scores s, also when it is 0, so the bonus measures progress of
  the answer quality itself and never compounds;
* paper_compat (bug 17): the mean of the POST-bonus values r, skipped when exactly 0, so a past bonus
  raises the bar for the next visit (the stored value can exceed any achievable s, killing the bonus).

Both modes key the memory by the sample `id` (the paper keyed by the question text with its first
character dropped, plus the image path; with unique questions per image that is the same partition).
Values stay in [0, 2] in both modes because s is in [0, 1] and s_prev >= 0.
"""

from __future__ import annotations

from sif.rewards._common import call_metric, group_means
from sif.rewards.memory import all_gather_group_stats
from sif.rewards.suite import RewardCall, RewardSuite, register_reward


@register_reward("answer", lo=0.0, hi=1.0)
def answer_reward(suite: RewardSuite, call: RewardCall) -> list[float]:
    """The raw answer score s in [0, 1] (rule: 0/1; judge: the clamped judge score)."""
    return suite.answer_scores(call)


def progress_values(scores: list[float], prev: list[float | None]) -> list[float]:
    """r = s + max(0, s - s_prev) (r = s without a previous score)."""
    return [s if p is None else s + max(0.0, s - p) for s, p in zip(scores, prev)]


@register_reward("answer_progress", lo=0.0, hi=2.0)
def answer_progress_reward(suite: RewardSuite, call: RewardCall) -> list[float]:
    """Answer score plus the improvement over the sample's previous group score (0..2)."""
    scores = suite.answer_scores(call)
    keys = call.cols.keys()
    memory = suite.memory
    prev = [memory.get(k) for k in keys]  # read everything before this batch updates the memory
    values = progress_values(scores, prev)

    stored = values if suite.paper_compat else scores
    stats = all_gather_group_stats(group_means(stored, keys))
    if suite.update_memory:
        for key, (total, count) in stats.items():
            mean = total / count if count else 0.0
            if suite.paper_compat and mean == 0.0:
                continue  # the original skips zero means (tensor truthiness)
            memory.update(key, mean, n=count)

    if values:
        hits = sum(p is not None for p in prev)
        call_metric(call.log_metric, "progress/hit_frac", hits / len(values))
        call_metric(call.log_metric, "progress/bonus_mean", sum(v - s for v, s in zip(values, scores)) / len(values))
        call_metric(call.log_metric, "progress/memory_size", len(memory))
    return values
