"""`stage.step_split=true`: where a GRPO step's time goes, measured inside the same run, per step.

Wall time of each part, with CUDA synchronised at every boundary (so a part's kernels are counted in that
part), added to the step's metrics (`split/<part>_s`, averaged by TRL like its other metrics):

  generate          the rollouts (`_generate`: tokenization, prefill, decoding, zoom turns)
  rewards           the reward functions (`_calculate_rewards`)
  logps_no_grad     the forward passes without gradient (reference model, old policy)
  policy_forward    the loss's forward pass (with gradient)
  backward_other    the rest of TRL's `training_step`: backward, padding, advantages, image inputs
  optimizer         clipping and the optimizer step (between the Trainer's two optimizer callbacks)

`step_time` (TRL's own metric) minus their sum is the Trainer's own loop (data loading, logging, callbacks).
Off by default: the synchronisations cost a little. Nothing here changes what is computed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from transformers import TrainerCallback

PARTS = ("generate", "rewards", "logps_no_grad", "policy_forward", "backward_other", "optimizer")


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


class _Timer:
    def __init__(self, owner: "StepSplitMixin", part: str) -> None:
        self.owner, self.part = owner, part

    def __enter__(self) -> None:
        _sync()
        self.start = time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        _sync()
        self.owner._sif_split[self.part] += time.perf_counter() - self.start


class _OptimizerTimer(TrainerCallback):
    def __init__(self, trainer: "StepSplitMixin") -> None:
        self.trainer = trainer

    def on_pre_optimizer_step(self, args, state, control, **kwargs):  # noqa: ANN001 - HF callback signature
        _sync()
        self.start = time.perf_counter()

    def on_optimizer_step(self, args, state, control, **kwargs):  # noqa: ANN001
        _sync()
        self.trainer._sif_record("optimizer", time.perf_counter() - self.start)


class StepSplitMixin:
    sif_step_split: bool = False

    def enable_step_split(self) -> None:
        self.sif_step_split = True
        self._sif_split: dict[str, float] = defaultdict(float)
        self.add_callback(_OptimizerTimer(self))

    def _sif_timer(self, part: str):
        from contextlib import nullcontext

        return _Timer(self, part) if self.sif_step_split else nullcontext()

    def _sif_record(self, part: str, seconds: float) -> None:
        metrics = getattr(self, "_metrics", None)
        if isinstance(metrics, dict) and "train" in metrics:
            metrics["train"][f"split/{part}_s"].append(float(seconds))

    def _generate(self, prompts: list):
        with self._sif_timer("generate"):
            return super()._generate(prompts)

    def _calculate_rewards(self, *args: Any, **kwargs: Any):
        with self._sif_timer("rewards"):
            return super()._calculate_rewards(*args, **kwargs)

    def _get_per_token_logps_and_entropies(self, *args: Any, **kwargs: Any):
        import torch

        with self._sif_timer("policy_forward" if torch.is_grad_enabled() else "logps_no_grad"):
            return super()._get_per_token_logps_and_entropies(*args, **kwargs)

    def training_step(self, *args: Any, **kwargs: Any):
        if not self.sif_step_split or not self.model.training:
            return super().training_step(*args, **kwargs)
        self._sif_split.clear()
        _sync()
        start = time.perf_counter()
        try:
            return super().training_step(*args, **kwargs)
        finally:
            _sync()
            total = time.perf_counter() - start
            parts = dict(self._sif_split)
            parts["backward_other"] = max(0.0, total - sum(parts.values()))
            for part in PARTS[:-1]:
                self._sif_record(part, parts.get(part, 0.0))
