"""`CurriculumCallback`: drives TRL's reward weights from a curriculum. Imported lazily (transformers is
heavy): `from sif.curriculum import CurriculumCallback` loads it on first use. The curriculum's state is
checkpointed by the GRPO trainer (sif.grpo.trainer, sif.grpo.state), not here.

TRL 1.16's `GRPOTrainer` keeps the weights in `trainer.reward_weights`, a float32 CPU tensor with one
entry per reward function in the order of `trainer.reward_func_names`; `_generate_and_score_completions`
multiplies `rewards_per_func` by `self.reward_weights.to(device)` at every generation, so replacing the
tensor at `on_step_begin` takes effect for the next rollout.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from transformers import TrainerCallback

from sif.curriculum.base import Curriculum

log = logging.getLogger(__name__)


class CurriculumCallback(TrainerCallback):
    """Sets `trainer.reward_weights` from `curriculum.weights_at(global_step / max_steps)` at every step.

    `trainer_ref` is the trainer, a zero-argument callable returning it (e.g. `weakref.ref(trainer)`),
    or None and set later with `callback.trainer = trainer` (the callback is built before the trainer).
    `reward_names` defaults to `trainer.reward_func_names`; rewards the curriculum does not know keep
    their weight.
    """

    def __init__(self, curriculum: Curriculum, trainer_ref: Any = None,
                 reward_names: Optional[list[str]] = None) -> None:
        self.curriculum = curriculum
        self._trainer_ref = trainer_ref
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

