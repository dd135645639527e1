"""CurriculumCallback: sets TRL's reward_weights tensor each step and logs (its state is checkpointed by the
GRPO trainer: tests/grpo/test_state.py)."""

from __future__ import annotations

import inspect
import weakref
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch
from transformers import TrainerControl, TrainerState

from sif.curriculum import CurriculumCallback, build_curriculum

NAMES = ["format", "answer_progress", "box_iou_progress", "depth_consistency"]
BASE = dict.fromkeys(NAMES, 1.0)
CFG = {"name": "linear", "start_weights": {"format": 2.0, "box_iou_progress": 0.5},
       "end_weights": {"format": 0.5, "box_iou_progress": 1.5}}


class FakeTrainer:
    """The GRPOTrainer attributes the callback touches (TRL 1.16)."""

    def __init__(self, names=NAMES):
        self.reward_func_names = list(names)
        self.reward_weights = torch.ones(len(names), dtype=torch.float32)
        self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}


def state(step: int, max_steps: int = 10) -> TrainerState:
    return TrainerState(global_step=step, max_steps=max_steps)


def test_trl_keeps_weights_in_reward_weights_tensor():
    from trl import GRPOTrainer

    src = inspect.getsource(GRPOTrainer._generate_and_score_completions)
    assert "self.reward_weights.to(device)" in src  # read at every generation: replacing it takes effect
    assert "self.reward_weights = torch." in inspect.getsource(GRPOTrainer.__init__)


def test_on_step_begin_sets_the_tensor_and_metrics():
    trainer = FakeTrainer()
    cb = CurriculumCallback(build_curriculum(CFG, BASE), trainer)
    control = TrainerControl()
    assert cb.on_step_begin(SimpleNamespace(), state(0), control) is control
    assert trainer.reward_weights.tolist() == [2.0, 1.0, 0.5, 1.0]
    cb.on_step_begin(SimpleNamespace(), state(5), control)
    w = trainer.reward_weights
    assert isinstance(w, torch.Tensor) and w.dtype == torch.float32 and w.tolist() == [1.25, 1.0, 1.0, 1.0]
    cb.on_step_begin(SimpleNamespace(), state(10), control)
    assert trainer.reward_weights.tolist() == [0.5, 1.0, 1.5, 1.0]
    assert trainer._metrics["train"]["curriculum/format"] == [2.0, 1.25, 0.5]


def test_rewards_unknown_to_the_curriculum_keep_their_weight():
    trainer = FakeTrainer(NAMES + ["env_reward"])
    trainer.reward_weights = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.3])
    cb = CurriculumCallback(build_curriculum(CFG, BASE), weakref.ref(trainer))  # weakref works too
    cb.on_train_begin(SimpleNamespace(), state(5), TrainerControl())  # resumed mid-run
    assert trainer.reward_weights.tolist() == pytest.approx([1.25, 1.0, 1.0, 1.0, 0.3])


def test_trainer_set_later_and_no_trainer():
    cb = CurriculumCallback(build_curriculum(CFG, BASE))
    assert cb.apply(0, 0)["format"] == 2.0  # max_steps 0: progress 0, no trainer: nothing to set
    trainer = FakeTrainer()
    cb.trainer = trainer
    cb.on_step_begin(SimpleNamespace(), state(10), TrainerControl())
    assert trainer.reward_weights.tolist() == [0.5, 1.0, 1.5, 1.0]


def test_list_weights_and_explicit_names():
    trainer = SimpleNamespace(reward_weights=[1.0, 1.0])
    cb = CurriculumCallback(build_curriculum(CFG, BASE), trainer, reward_names=["box_iou_progress", "other"])
    cb.on_step_begin(SimpleNamespace(), state(0), TrainerControl())
    assert trainer.reward_weights == [0.5, 1.0]


def test_on_log_adds_curriculum_entries():
    cb = CurriculumCallback(build_curriculum(CFG, BASE), FakeTrainer())
    cb.on_step_begin(SimpleNamespace(), state(5), TrainerControl())
    logs = {"loss": 1.0, "curriculum/format": 9.0}
    cb.on_log(SimpleNamespace(), state(5), TrainerControl(), logs=logs)
    assert logs == {"loss": 1.0, "curriculum/format": 9.0, "curriculum/answer_progress": 1.0,
                    "curriculum/box_iou_progress": 1.0, "curriculum/depth_consistency": 1.0}
