"""Schemas shared by several groups: paths, LLM clients, logging, DeepSpeed, launch settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class PathsConfig:
    output_root: str = "outputs"
    cache_dir: str = "${oc.env:SIF_CACHE_DIR,.cache/sif}"
    data_root: Optional[str] = None  # image paths in datasets are resolved under this root


@dataclass
class LLMClientConfig:
    """An OpenAI-compatible endpoint. The key itself never appears in config: only the NAME of the
    environment variable that holds it."""

    base_url: Optional[str] = None
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    max_concurrency: int = 16
    timeout_s: float = 60.0
    max_retries: int = 4  # per request, with exponential backoff and jitter
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0
    budget_s: Optional[float] = None  # global wall-clock budget for all calls of one run (None = none)
    temperature: float = 0.0
    max_tokens: int = 1024
    cache: bool = True  # on-disk response cache keyed by the request


@dataclass
class LoggerConfig:
    name: str = "none"  # none | tensorboard | wandb
    project: str = "sif"
    wandb_mode: str = "offline"  # offline | online | disabled
    tags: list[str] = field(default_factory=list)


@dataclass
class DeepSpeedConfig:
    name: str = "none"  # none | zero2 | zero3
    config: Optional[dict[str, Any]] = None  # passed through to TrainingArguments(deepspeed=...)
