"""TRL's GRPOTrainer plus what SIF keeps across checkpoints, and the reward-suite metrics.

`SIFGRPOTrainer._save_checkpoint` writes the curriculum state and the progress memory (merged across ranks
first: a collective, every rank calls it) into `checkpoint-N/` BEFORE the Trainer writes its
`trainer_state.json`, the file that marks a checkpoint complete (`sif.training.resume`). A run killed
mid-save therefore never resumes from a checkpoint that lacks our state. `restore_sif_state` loads them back
before a resumed `train()`. The trainer is the only owner of this state (sif.grpo.state has the file format).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional

from transformers import TrainerCallback
from trl import GRPOTrainer

from sif.grpo.split import StepSplitMixin
from sif.grpo.state import restore_from_checkpoint, save_state
from sif.fastgen.trl_hook import FastRolloutMixin
from sif.zoom.trl_hook import ZoomRolloutMixin
from sif.training.resume import ConvertedCheckpointResumeMixin

log = logging.getLogger("sif.grpo")


class SIFGRPOTrainer(ConvertedCheckpointResumeMixin, StepSplitMixin, ZoomRolloutMixin, FastRolloutMixin, GRPOTrainer):
    """GRPOTrainer whose checkpoints also hold the curriculum and the progress memory; with
    `sif_fast_rollout` (rollout=hf_fast) its regular generation path runs through sif.fastgen.FastGenerator;
    with `sif_zoom` (rollout=zoom) its rollouts are multi-turn zoom rollouts (sif.zoom.trl_hook); with
    `enable_step_split()` (stage.step_split) each step's time is split into its parts (sif.grpo.split)."""

    sif_curriculum: Any = None
    sif_progress_memory: Any = None

    def __init__(self, *args: Any, sif_fast_rollout: Any = None, sif_zoom: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sif_fast_rollout = sif_fast_rollout
        self.sif_zoom = sif_zoom

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        ckpt = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
        self.save_sif_state(ckpt)
        super()._save_checkpoint(model, trial)

    def save_sif_state(self, ckpt: str | os.PathLike) -> None:
        memory = self.sif_progress_memory
        if memory is not None:
            memory.sync_across_ranks()
        if self.args.should_save:
            Path(ckpt).mkdir(parents=True, exist_ok=True)
            save_state(ckpt, self.sif_curriculum, memory)

    def restore_sif_state(self, ckpt: Optional[str]) -> dict[str, bool]:
        """Load the curriculum and progress memory of `ckpt` (before `train(resume_from_checkpoint=ckpt)`)."""
        if not ckpt:
            return {"curriculum": False, "progress_memory": False}
        found = restore_from_checkpoint(ckpt, self.sif_curriculum, self.sif_progress_memory)
        log.info("restored from %s: %s", ckpt, found)
        missing = [k for k, v in found.items() if not v]
        if missing:
            log.warning("checkpoint %s has no saved %s; starting those fresh", ckpt, " or ".join(missing))
        return found


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
