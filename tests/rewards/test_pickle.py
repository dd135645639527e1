"""The reward set the grpo stage hands TRL pickles, unpickles and scores identically (issue 16): rewards are
small callable classes, not closures, so spawned workers and checkpoints can carry them."""

from __future__ import annotations

import pickle

import pytest

from sif.registry import STAGES
from sif.grpo.snapshots import SnapshotColumns
from sif.runinfo import RunContext
from tests.conftest import compose
from tests.rewards.helpers import BL, FULL, TR, chain, make_depth

TEXTS = [chain([[(FULL, 0.5)], [(TR, 0.5)]], answer="yes"), chain([[(FULL, 0.5)], [(BL, 0.1)]], answer="no"),
         "<think><area>[{\"bbox_2d\":[0.2,0.3,0.5,0.7],\"depth\":0.5}, 5]</area></think><answer>x</answer>", "", "}{"]


@pytest.mark.parametrize("reward", [["reward=sif"], ["reward=paper", "reward.answer_scorer=rule"]])
def test_the_stage_reward_set_pickles_and_scores_identically(reward, tmp_path):
    cfg = compose(["stage=grpo", *reward, f"paths.cache_dir={tmp_path}"])
    funcs, weights, suite, memory = STAGES.get("grpo")(cfg, RunContext(run_dir=tmp_path, cfg=cfg))._rewards()
    reward_set = [SnapshotColumns(funcs[0]), *funcs[1:]]  # what the stage gives the trainer
    n = len(TEXTS)
    cols = {"id": [f"s{i % 2}" for i in range(n)], "answer": ["yes"] * n, "gt_boxes": [[list(TR)]] * n,
            "depth": [make_depth(tmp_path / "d.npy")] * n, "trainer_state": None}

    def score(fs):
        return [f(prompts=["q"] * n, completions=list(TEXTS), completion_ids=None, **cols) for f in fs]

    clone = pickle.loads(pickle.dumps(reward_set))
    assert [f.__name__ for f in clone] == [f.__name__ for f in reward_set] == list(cfg.reward.weights)
    assert all(f.suite is clone[0].suite for f in clone)  # one shared suite after the round trip too
    assert [f.reward_range for f in clone] == [f.reward_range for f in reward_set]
    want = score(reward_set)
    assert score(clone) == want
    assert any(v > 0 for row in want for v in row)  # the comparison is not between two rows of zeros
    assert len(clone[0].suite.memory) == len(suite.memory) > 0  # progress memory updated the same way
