"""Registered reward functions (TRL signature), their shared state, and the progress memory.

`build_reward_funcs(reward_cfg, judge=None, progress_memory=None) -> (funcs, weights)` is what the GRPO
stage calls; see `sif.rewards.suite`. Rewards and ranges:

    format              0..1  chain grammar (sif.chain)
    answer              0..1  rule match or judge score
    answer_progress     0..2  answer + progress over the sample's previous group score
    box_iou             0..1  hierarchical IoU of the last area vs the ground-truth boxes
    box_iou_progress    0..2  box_iou + within-chain progress bonus
    depth_consistency   0..1  share of (box, depth) pairs that agree with the depth map
"""

from sif.autoload import import_submodules
from sif.rewards._common import completion_text, frac_zero_variance_groups, reward_stats
from sif.rewards.memory import ProgressMemory
from sif.rewards.suite import RewardSuite, build_reward_funcs

import_submodules(__name__, __path__)

__all__ = ["ProgressMemory", "RewardSuite", "build_reward_funcs", "completion_text",
           "frac_zero_variance_groups", "reward_stats"]
