"""TrainingArguments (SFTConfig / GRPOConfig) keyword arguments from the stage, logger and deepspeed groups.

Every value the trainers would otherwise default differently from plain TrainingArguments is set
explicitly: TRL turns bf16 and gradient checkpointing on by default, which fails or crawls on a CPU, so
mixed precision is used only with CUDA and checkpointing only when the model group asks for it.
`warmup_ratio` is passed as a float `warmup_steps` (< 1 means a ratio), the only spelling that both
transformers 5.17 (the GPU image) and 5.2x accept.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("sif.training")

REPORTERS = {"none": "none", "tensorboard": ["tensorboard"], "wandb": ["wandb"]}


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return torch.cuda.is_available()


def report_to(logger_cfg: Any) -> str | list[str]:
    name = str(getattr(logger_cfg, "name", "none") or "none")
    if name not in REPORTERS:
        raise ValueError(f"logger={name!r} is not one of {sorted(REPORTERS)}")
    return REPORTERS[name]


def configure_logger_env(logger_cfg: Any, run_dir: Path) -> dict[str, str]:
    """Environment the HF logging integrations read: TensorBoard's folder, wandb's mode/folder/project/tags
    (offline by default: `logger.wandb_mode`). Returns what it set."""
    name = str(getattr(logger_cfg, "name", "none") or "none")
    env: dict[str, str] = {}
    if name == "tensorboard":
        env["TENSORBOARD_LOGGING_DIR"] = str(run_dir / "tensorboard")
    elif name == "wandb":
        env["WANDB_MODE"] = str(logger_cfg.wandb_mode)
        env["WANDB_DIR"] = str(run_dir)
        env["WANDB_PROJECT"] = str(logger_cfg.project)
        if logger_cfg.tags:
            env["WANDB_TAGS"] = ",".join(str(t) for t in logger_cfg.tags)
        (run_dir / "wandb").mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    return env


def deepspeed_config(ds_cfg: Any) -> Optional[dict]:
    """The deepspeed group's config as a plain dict (None for deepspeed=none)."""
    if ds_cfg is None or str(getattr(ds_cfg, "name", "none")) == "none" or ds_cfg.config is None:
        return None
    config = ds_cfg.config
    return OmegaConf.to_container(config, resolve=True) if isinstance(config, DictConfig) else dict(config)


def precision(stage: Any) -> dict[str, bool]:
    """bf16/fp16 as the stage asks on CUDA; both off elsewhere (TRL would default bf16=True)."""
    bf16, fp16 = bool(stage.bf16), bool(stage.fp16)
    if (bf16 or fp16) and not cuda_available():
        log.warning("no CUDA device: bf16/fp16 mixed precision turned off")
        bf16 = fp16 = False
    return {"bf16": bf16, "fp16": fp16}


def device_kwargs() -> dict[str, Any]:
    """CPU-only multi-process runs (torchrun / accelerate launch --cpu without CUDA): DDP over gloo.

    Without `use_cpu`, TrainingArguments under torchrun on a CPU-only machine initializes the process group
    but keeps `DistributedType.NO` (world_size 1, no DDP): every rank would train its own copy, TRL would
    size the generation batch for one process, and nothing would be gathered. `use_cpu=True` makes
    accelerate set up MULTI_CPU with the gloo backend. Single-process and CUDA runs are left as they were.
    """
    from sif.runinfo import world_size

    if world_size() > 1 and not cuda_available():
        return {"use_cpu": True, "ddp_backend": "gloo"}
    return {}


def checkpointing_kwargs(enabled: bool) -> dict[str, Any]:
    """Activation checkpointing on or off (TRL defaults it on), non-reentrant. transformers 5.2x renamed
    `gradient_checkpointing*` to `activation_checkpointing*` (the old names warn); 5.17 knows only the old ones."""
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    prefix = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {prefix: enabled, f"{prefix}_kwargs": {"use_reentrant": False} if enabled else None}


def training_kwargs(stage: Any, cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Keyword arguments shared by SFTConfig and GRPOConfig, from a TrainStageConfig."""
    ratio = float(stage.warmup_ratio)
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"stage.warmup_ratio must be in [0, 1), got {ratio}")
    checkpointing = bool(cfg.model.gradient_checkpointing)
    return {
        "output_dir": str(run_dir / "checkpoints"),
        "run_name": run_dir.name,
        "seed": int(cfg.seed),
        "data_seed": int(cfg.seed),
        "max_steps": int(stage.max_steps),
        "num_train_epochs": float(stage.num_train_epochs),
        "learning_rate": float(stage.learning_rate),
        "lr_scheduler_type": str(stage.lr_scheduler_type),
        "warmup_steps": ratio,
        "weight_decay": float(stage.weight_decay),
        "max_grad_norm": float(stage.max_grad_norm),
        "per_device_train_batch_size": int(stage.per_device_train_batch_size),
        "gradient_accumulation_steps": int(stage.gradient_accumulation_steps),
        "logging_steps": int(stage.logging_steps),
        "logging_first_step": True,
        "save_strategy": "steps",
        "save_steps": int(stage.save_steps),
        "save_total_limit": stage.save_total_limit,
        "dataloader_num_workers": int(stage.dataloader_num_workers),
        "report_to": report_to(cfg.logger),
        "deepspeed": deepspeed_config(cfg.deepspeed),
        "remove_unused_columns": False,  # the lazy image transform needs its raw columns
        **checkpointing_kwargs(checkpointing),
        **precision(stage),
        **device_kwargs(),
    }


def eval_kwargs(stage: Any, enabled: bool) -> dict[str, Any]:
    """Periodic evaluation every `stage.eval_steps` when there is an eval set (else none)."""
    if not enabled:
        return {"eval_strategy": "no"}
    return {"eval_strategy": "steps", "eval_steps": int(stage.eval_steps),
            "per_device_eval_batch_size": int(getattr(stage, "per_device_eval_batch_size", 2))}
