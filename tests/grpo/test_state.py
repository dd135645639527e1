"""GRPO state (curriculum + progress memory) is saved and restored by the trainer alone (issue 16)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from transformers import TrainerControl, TrainerState

from sif.curriculum import CurriculumCallback, build_curriculum
from sif.rewards import ProgressMemory
from sif.grpo.state import restore_from_checkpoint
from sif.grpo.trainer import SIFGRPOTrainer
from tests.curriculum.test_callback import BASE, CFG, FakeTrainer


def _trainer(curriculum, memory, should_save=True):
    """The attributes SIFGRPOTrainer's state methods read; the methods themselves are the real ones."""
    return SimpleNamespace(sif_curriculum=curriculum, sif_progress_memory=memory,
                           args=SimpleNamespace(should_save=should_save))


def test_trainer_saves_and_restores_state(tmp_path):
    memory = ProgressMemory()
    memory.update("s1", 0.75, n=4)
    cb = CurriculumCallback(build_curriculum(CFG, BASE), FakeTrainer())
    cb.on_step_begin(SimpleNamespace(), TrainerState(global_step=3, max_steps=10), TrainerControl())
    ckpt = tmp_path / "checkpoint-3"
    SIFGRPOTrainer.save_sif_state(_trainer(cb.curriculum, memory), ckpt)
    saved = json.loads((ckpt / "curriculum_state.json").read_text())
    assert saved == {"version": 1, "name": "linear", "progress": 0.3, "current": pytest.approx(
        {"format": 1.55, "answer_progress": 1.0, "box_iou_progress": 0.8, "depth_consistency": 1.0})}
    assert json.loads((ckpt / "progress_memory.json").read_text())["entries"]["s1"]["score"] == 0.75

    fresh_memory, fresh = ProgressMemory(), build_curriculum(CFG, BASE)
    restored = SIFGRPOTrainer.restore_sif_state(_trainer(fresh, fresh_memory), str(ckpt))
    assert restored == {"curriculum": True, "progress_memory": True}
    assert fresh.progress == 0.3 and fresh.current == cb.curriculum.current
    assert fresh_memory.state_dict() == memory.state_dict()
    # a checkpoint without our files (e.g. from an older run) leaves everything as it was
    other = tmp_path / "checkpoint-9"
    other.mkdir()
    assert restore_from_checkpoint(other, fresh, fresh_memory) == {"curriculum": False, "progress_memory": False}
    assert SIFGRPOTrainer.restore_sif_state(_trainer(fresh, fresh_memory), None) == {
        "curriculum": False, "progress_memory": False}


def test_trainer_skips_writing_on_other_ranks(tmp_path):
    trainer = _trainer(build_curriculum(CFG, BASE), ProgressMemory(), should_save=False)
    SIFGRPOTrainer.save_sif_state(trainer, tmp_path / "checkpoint-2")
    assert not (tmp_path / "checkpoint-2").exists()


def test_the_callback_no_longer_writes_checkpoints():
    assert "on_save" not in CurriculumCallback.__dict__  # one writer: the trainer
