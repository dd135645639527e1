"""TRL's GRPOTrainer plus what SIF keeps across checkpoints, and the reward-suite metrics.

`SIFGRPOTrainer._save_checkpoint` writes the curriculum state and the progress memory (merged across ranks
first: a collective, every rank calls it) into `checkpoint-N/` BEFORE the Trainer writes its
`trainer_state.json`, the file that marks a checkpoint complete (`sif.training.resume`). A run killed
mid-save therefore never resumes from a checkpoint that lacks our state. (`CurriculumCallback.on_save`
writes the same files again afterwards; the write is idempotent.)
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional

from transformers import TrainerCallback
from trl import GRPOTrainer

from sif.rollout.trl_hook import FastRolloutMixin
from sif.training.resume import ConvertedCheckpointResumeMixin

log = logging.getLogger("sif.grpo")


class SIFGRPOTrainer(ConvertedCheckpointResumeMixin, FastRolloutMixin, GRPOTrainer):
    """GRPOTrainer whose checkpoints also hold the curriculum and the progress memory; with
    `sif_fast_rollout` (rollout=hf_fast) its regular generation path runs through sif.rollout.FastGenerator."""

    sif_curriculum: Any = None
    sif_progress_memory: Any = None

    def __init__(self, *args: Any, sif_fast_rollout: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sif_fast_rollout = sif_fast_rollout

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        ckpt = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
        self.save_sif_state(ckpt)
        super()._save_checkpoint(model, trial)

    def save_sif_state(self, ckpt: str | os.PathLike) -> None:
        from sif.curriculum import save_state

        memory = self.sif_progress_memory
        if memory is not None:
            memory.sync_across_ranks()
        if self.args.should_save:
            Path(ckpt).mkdir(parents=True, exist_ok=True)
            save_state(ckpt, self.sif_curriculum, memory)


class SuiteStatsCallback(TrainerCallback):
    """Adds the reward suite's counters (`progress/memory_size`, judge calls and fallbacks, reward errors) to
    the metrics TRL averages into every log event."""

    def __init__(self, suite: Any, trainer: Any = None) -> None:
        self.suite = suite
        self.trainer = trainer

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001 - HF callback signature
        metrics = getattr(self.trainer, "_metrics", None)
        if self.suite is None or not isinstance(metrics, dict) or "train" not in metrics:
            return control
        try:
            for key, value in self.suite.stats().items():
                metrics["train"][key].append(float(value))
        except Exception:  # noqa: BLE001 - logging must not break training
            log.debug("suite stats failed", exc_info=True)
        return control


def restore_sif_state(ckpt: Optional[str], curriculum_cb: Any) -> dict[str, bool]:
    """Load curriculum + progress memory of `ckpt` into the callback's objects (before trainer.train)."""
    if not ckpt:
        return {"curriculum": False, "progress_memory": False}
    found = curriculum_cb.restore_from_checkpoint(ckpt)
    missing = [k for k, v in found.items() if not v]
    if missing:
        log.warning("checkpoint %s has no saved %s; starting those fresh", ckpt, " or ".join(missing))
    return found
