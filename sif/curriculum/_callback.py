"""`CurriculumCallback`: drives TRL's reward weights from a curriculum and checkpoints curriculum and
progress-memory state. Imported lazily (transformers is heavy): `from sif.curriculum import
CurriculumCallback` loads it on first use.

TRL 1.16's `GRPOTrainer` keeps the weights in `trainer.reward_weights`, a float32 CPU tensor with one
entry per reward function in the order of `trainer.reward_func_names`; `_generate_and_score_completions`
multiplies `rewards_per_func` by `self.reward_weights.to(device)` at every generation, so replacing the
tensor at `on_step_begin` takes effect for the next rollout.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Optional

from transformers import TrainerCallback

from sif.curriculum.base import Curriculum
from sif.io import write_json
from sif.rewards.memory import FILENAME as MEMORY_FILENAME
from sif.rewards.memory import ProgressMemory

log = logging.getLogger(__name__)

STATE_FILENAME = "curriculum_state.json"
CHECKPOINT_PREFIX = "checkpoint"


def save_state(ckpt_dir: str | os.PathLike, curriculum: Optional[Curriculum] = None,
               progress_memory: Optional[ProgressMemory] = None) -> None:
    """Write curriculum_state.json and progress_memory.json into `ckpt_dir` (atomic writes)."""
    ckpt = Path(ckpt_dir)
    if curriculum is not None:
        write_json(ckpt / STATE_FILENAME, curriculum.state_dict())
    if progress_memory is not None:
        progress_memory.save(ckpt / MEMORY_FILENAME)


def restore_from_checkpoint(ckpt_dir: str | os.PathLike, curriculum: Optional[Curriculum] = None,
                            progress_memory: Optional[ProgressMemory] = None) -> dict[str, bool]:
    """Load what `save_state` wrote; a missing file leaves that object as it is. Says what was found."""
    ckpt = Path(ckpt_dir)
    found = {"curriculum": False, "progress_memory": False}
    if curriculum is not None and (ckpt / STATE_FILENAME).is_file():
        with open(ckpt / STATE_FILENAME, encoding="utf-8") as fh:
            curriculum.load_state_dict(json.load(fh))
        found["curriculum"] = True
    if progress_memory is not None and (ckpt / MEMORY_FILENAME).is_file():
        progress_memory.load(ckpt / MEMORY_FILENAME)
        found["progress_memory"] = True
    return found


class CurriculumCallback(TrainerCallback):
    """Sets `trainer.reward_weights` from `curriculum.weights_at(global_step / max_steps)` at every step.

    `trainer_ref` is the trainer, a zero-argument callable returning it (e.g. `weakref.ref(trainer)`),
    or None and set later with `callback.trainer = trainer` (the callback is built before the trainer).
    `reward_names` defaults to `trainer.reward_func_names`; rewards the curriculum does not know keep
    their weight.
    """

    def __init__(self, curriculum: Curriculum, trainer_ref: Any = None,
                 progress_memory: Optional[ProgressMemory] = None,
                 reward_names: Optional[list[str]] = None) -> None:
        self.curriculum = curriculum
        self._trainer_ref = trainer_ref
        self.progress_memory = progress_memory
        self.reward_names = list(reward_names) if reward_names is not None else None

    # ---- trainer access ---------------------------------------------------------------------------
    @property
    def trainer(self) -> Any:
        ref = self._trainer_ref
        if ref is not None and callable(ref) and not hasattr(ref, "reward_weights"):
            return ref()
        return ref

    @trainer.setter
    def trainer(self, value: Any) -> None:
        self._trainer_ref = value

    def apply(self, global_step: int, max_steps: int) -> dict[str, float]:
        """Compute the weights for this step and install them on the trainer; returns them."""
        progress = global_step / max_steps if max_steps and max_steps > 0 else 0.0
        weights = self.curriculum.weights_at(progress)
        trainer = self.trainer
        if trainer is None:
            return weights
        names = self.reward_names or list(getattr(trainer, "reward_func_names", None) or self.curriculum.base)
        current = getattr(trainer, "reward_weights", None)
        trainer.reward_weights = _updated_weights(current, names, weights)
        metrics = getattr(trainer, "_metrics", None)
        if isinstance(metrics, dict) and "train" in metrics:
            try:  # TRL averages _metrics into its logs, so the weights reach every reporter
                for name, w in weights.items():
                    metrics["train"].setdefault(f"curriculum/{name}", []).append(float(w))
            except Exception:  # noqa: BLE001 - logging must not break training
                pass
        return weights

    # ---- TrainerCallback events -------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self.apply(state.global_step, state.max_steps)  # a resumed run starts mid-schedule
        return control

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self.apply(state.global_step, state.max_steps)
        return control

    def on_log(self, args: Any, state: Any, control: Any, logs: Optional[dict] = None, **kwargs: Any) -> Any:
        if logs is not None:
            for name, w in self.curriculum.current.items():
                logs.setdefault(f"curriculum/{name}", float(w))
        return control

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.progress_memory is not None:
            self.progress_memory.sync_across_ranks()  # collective: every rank runs on_save
        if getattr(state, "is_world_process_zero", True):
            ckpt = Path(args.output_dir) / f"{CHECKPOINT_PREFIX}-{state.global_step}"
            save_state(ckpt, self.curriculum, self.progress_memory)
        return control

    def restore_from_checkpoint(self, ckpt_dir: str | os.PathLike) -> dict[str, bool]:
        found = restore_from_checkpoint(ckpt_dir, self.curriculum, self.progress_memory)
        log.info("restored from %s: %s", ckpt_dir, found)
        return found


def _updated_weights(current: Any, names: list[str], weights: dict[str, float]) -> Any:
    """A new weight container like `current` (torch tensor or list) with the named entries replaced."""
    values = list(weights.get(n, float("nan")) for n in names)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None  # type: ignore[assignment]
    if torch is not None and isinstance(current, torch.Tensor):
        new = current.detach().clone()
        if new.numel() != len(names):
            raise ValueError(f"trainer has {new.numel()} reward weights but {len(names)} reward names")
        for i, v in enumerate(values):
            if v == v:  # not NaN: a name the curriculum knows
                new[i] = v
        return new
    old = list(current) if current is not None else [1.0] * len(names)
    return [v if v == v else (old[i] if i < len(old) else 1.0) for i, v in enumerate(values)]

