"""Test-only rewards that a random-init tiny model can learn within a few dozen CPU steps.

`toy_symbol_share` (0..1): the share of the completion's non-space characters that are neither letters nor
digits (brackets, quotes, tag and JSON pieces, undecodable bytes). A random policy's text has about 10 % of
them, with clear differences between completions of one group, so every group has variance from the first
step, and raising the probability of such tokens raises the reward smoothly.
Importing this module registers it in sif.registry.REWARDS (a `reward.weights` entry can then name it).

Kill-and-resume tests make it hang: with SIF_TEST_HANG_AT_STEP=N in the environment, the call made once
`trainer_state.global_step >= N` touches the file SIF_TEST_HANG_MARKER (when set) and sleeps, so that the
test can SIGKILL the run at a known point (after checkpoint-N, inside step N+1).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from sif.registry import REWARDS
from sif.rewards.suite import RewardCall, RewardSuite, register_reward

NAME = "toy_symbol_share"


def symbol_share(text: str) -> float:
    chars = [c for c in text if not c.isspace()]
    return sum(not c.isalnum() for c in chars) / len(chars) if chars else 0.0


def _toy(suite: RewardSuite, call: RewardCall) -> list[float]:
    """Share of non-space characters that are neither letters nor digits."""
    hang_at = os.environ.get("SIF_TEST_HANG_AT_STEP")
    if hang_at and int(getattr(call.trainer_state, "global_step", 0) or 0) >= int(hang_at):
        marker = os.environ.get("SIF_TEST_HANG_MARKER")
        if marker:
            Path(marker).write_text("hanging\n")
        time.sleep(3600)
    return [symbol_share(t) for t in call.texts]


if NAME not in REWARDS:  # registered once per process
    register_reward(NAME, lo=0.0, hi=1.0)(_toy)
