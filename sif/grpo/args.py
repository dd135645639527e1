"""GRPOConfig from the stage, reward, rollout, logger and deepspeed groups.

TRL 1.16's defaults differ from the paper's recipe (anchors §0.3): `loss_type` dapo vs grpo, `beta` 0 vs 0.04,
bf16 and gradient checkpointing on. Every one of these is set here from our config, never left to TRL.
Fields this TRL version does not know are dropped with a warning (the GPU image may lag the CPU venv).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Optional, Sequence

from omegaconf import DictConfig

log = logging.getLogger("sif.grpo")

LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")
SCALE_REWARDS = ("group", "batch", "none")
AGGREGATIONS = ("sum_then_normalize", "normalize_then_sum")


class BatchSizeError(ValueError):
    """The generation batch cannot be split into whole groups of num_generations completions."""


def check_batch(per_device: int, processes: int, grad_accum: int, num_generations: int) -> int:
    """The generation batch (per_device x processes x gradient_accumulation_steps) of one optimizer step;
    raises BatchSizeError unless it holds whole groups of `num_generations` (TRL 1.16's rule) and G >= 2."""
    if num_generations < 2:
        raise BatchSizeError(f"stage.num_generations={num_generations}: GRPO needs at least 2 completions per "
                             "prompt to compute advantages")
    if per_device < 1 or grad_accum < 1:
        raise BatchSizeError("stage.per_device_train_batch_size and stage.gradient_accumulation_steps must be >= 1")
    batch = per_device * processes * grad_accum
    if batch % num_generations:
        hint = num_generations // _gcd(num_generations, processes * grad_accum)
        raise BatchSizeError(
            f"stage.per_device_train_batch_size ({per_device}) x processes ({processes}) x "
            f"stage.gradient_accumulation_steps ({grad_accum}) = {batch} completions per step, which is not a "
            f"multiple of stage.num_generations ({num_generations}): every prompt needs its whole group. "
            f"Use a per-device batch that is a multiple of {hint}, or change num_generations.")
    return batch


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def _choice(value: str, allowed: Sequence[str], key: str) -> str:
    if value not in allowed:
        raise ValueError(f"{key}={value!r} is not one of {list(allowed)}")
    return value


def grpo_kwargs(stage: Any, cfg: DictConfig, run_dir: Path, reward_weights: Sequence[float], processes: int,
                rollout_args: Optional[dict[str, Any]] = None, shuffle: bool = True,
                has_images: bool = True) -> dict[str, Any]:
    """Keyword arguments of GRPOConfig (validated; see the module docstring)."""
    from sif.training.args import training_kwargs

    check_batch(int(stage.per_device_train_batch_size), processes, int(stage.gradient_accumulation_steps),
                int(stage.num_generations))
    kwargs = training_kwargs(stage, cfg, run_dir)
    report_to = kwargs.get("report_to")
    wandb = report_to == "wandb" or (isinstance(report_to, (list, tuple)) and "wandb" in report_to)
    kwargs.update(
        loss_type=_choice(str(stage.loss_type), LOSS_TYPES, "stage.loss_type"),
        beta=float(stage.beta),
        epsilon=float(stage.epsilon),
        num_generations=int(stage.num_generations),
        max_completion_length=int(stage.max_completion_length),
        temperature=float(stage.temperature),
        top_p=float(stage.top_p),
        top_k=int(_opt(stage, "top_k", 0)),
        num_iterations=int(stage.num_iterations),
        scale_rewards=_choice(str(stage.scale_rewards), SCALE_REWARDS, "stage.scale_rewards"),
        reward_weights=[float(w) for w in reward_weights],
        multi_objective_aggregation=_choice(str(cfg.reward.multi_objective_aggregation), AGGREGATIONS,
                                            "reward.multi_objective_aggregation"),
        shuffle_dataset=bool(shuffle),
        # TRL's completion table crashes wandb on image prompts; our completion snapshots replace it anyway
        log_completions=bool(not (wandb and has_images) and _opt(stage, "log_completions", False)),
    )
    if int(stage.num_iterations) < 1:
        raise ValueError(f"stage.num_iterations must be >= 1, got {stage.num_iterations}")
    kwargs.update(rollout_args or {})
    return known_fields(kwargs)


def _opt(stage: Any, key: str, default: Any) -> Any:
    return getattr(stage, key, default) if not isinstance(stage, dict) else stage.get(key, default)


def known_fields(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Drop (with a warning) the keys the installed GRPOConfig does not have."""
    from trl import GRPOConfig

    names = {f.name for f in dataclasses.fields(GRPOConfig)}
    unknown = sorted(k for k in kwargs if k not in names)
    if unknown:
        log.warning("this TRL's GRPOConfig has no %s; ignored", ", ".join(unknown))
    return {k: v for k, v in kwargs.items() if k in names}
