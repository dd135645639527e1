"""Config values with a closed set of choices, checked together when a run starts, before any work.

Types are checked by the structured schemas while Hydra composes; a string with a closed set of meanings is
not, and a misspelled one must never fall back to a default (eval once read any image_inputs but "rgb" as
"with depth"). `check_choices` names the key, the value and the choices. Names resolved through a registry
(stage, benchmark, dataset source, reward, curriculum, depth provider, teacher, judge) already fail there,
listing the registered names.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from sif.config.enums import BackendName, RolloutName, values
from sif.prompt import PROMPT_STYLES
from sif.views import IMAGE_INPUTS

CLOSED_CHOICES: dict[str, tuple[str, ...]] = {
    "stage.image_inputs": IMAGE_INPUTS,
    "backend.image_inputs": IMAGE_INPUTS,
    "backend.name": values(BackendName),
    "stage.prompt": PROMPT_STYLES,
    "backend.prompt": PROMPT_STYLES,
    "rollout.name": values(RolloutName),
    "model.dtype": ("auto", "float32", "bfloat16", "float16"),
    "model.vision_attention": ("batched", "library"),
    "model.tiny.mrope_layout": ("chunked", "interleaved"),
    "model.tiny.vision_position": ("none", "sincos2d"),
    "model.tiny.family": ("qwen2_5_vl", "qwen2_vl", "qwen3_vl"),
    "rollout.generation_weights": ("copy", "shared"),
    "reward.answer_scorer": ("rule", "judge"),
    "curriculum.order_by": ("none", "chain_length", "num_objects"),
    "logger.name": ("none", "tensorboard", "wandb"),
    "logger.wandb_mode": ("offline", "online", "disabled"),
    "deepspeed.name": ("none", "zero2", "zero3"),
    "dataset.split": ("train", "eval"),
    "depth.size": ("small", "base", "large"),
    "depth.preprocess": ("pipeline", "gpu", "auto"),
}


class ChoiceError(ValueError):
    """A closed-choice config value is not one of its choices."""


def check_choices(cfg: Any) -> None:
    """Raise ChoiceError listing every closed-choice key whose value is not one of its choices."""
    problems = []
    for key, allowed in CLOSED_CHOICES.items():
        value = OmegaConf.select(cfg, key, default=None) if isinstance(cfg, DictConfig) else None
        if value is not None and str(value) not in allowed:
            problems.append(f"{key}={value!r} is not one of {list(allowed)}")
    if problems:
        raise ChoiceError("; ".join(problems))
