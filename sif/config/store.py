"""Registers the schemas in Hydra's ConfigStore.

The top-level schema `sif_base` types every group except `stage` (whose fields differ per stage); each
stage YAML starts from its own schema stored under `schema/stage/<name>`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from sif.config.common import DeepSpeedConfig, LoggerConfig, PathsConfig
from sif.config.data import DatasetConfig, DepthConfig, JudgeConfig, TeacherConfig
from sif.config.evaluation import BackendConfig, BenchmarkConfig
from sif.config.model import ModelConfig
from sif.config.stages import (
    CompareStageConfig,
    EvalStageConfig,
    ExportStageConfig,
    GenerateStageConfig,
    GRPOStageConfig,
    InferStageConfig,
    PipelineStageConfig,
    ProbeStageConfig,
    SFTStageConfig,
)
from sif.config.training import CurriculumConfig, RewardConfig, RolloutConfig
from sif.config.zoom import ZoomConfig

STAGE_SCHEMAS = {
    "generate": GenerateStageConfig,
    "sft": SFTStageConfig,
    "grpo": GRPOStageConfig,
    "eval": EvalStageConfig,
    "infer": InferStageConfig,
    "export": ExportStageConfig,
    "compare": CompareStageConfig,
    "pipeline": PipelineStageConfig,
    "probe": ProbeStageConfig,
}


@dataclass
class SIFConfig:
    seed: int = 42
    strict: bool = False  # bad input stops the run with the list (True) or is skipped and counted (False)
    experiment_name: str = "default"
    run_name: str = "${stage.name}-${sif_id:${hydra:job.override_dirname}}"
    sweep_name: str = "sweep"
    paths: PathsConfig = field(default_factory=PathsConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    stage: Any = MISSING
    reward: RewardConfig = field(default_factory=RewardConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    depth: DepthConfig = field(default_factory=DepthConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    deepspeed: DeepSpeedConfig = field(default_factory=DeepSpeedConfig)
    zoom: ZoomConfig = field(default_factory=ZoomConfig)  # crop rules of rollout=zoom / backend.zoom=true
    sweep: Optional[Any] = None  # filled by +sweep=<name> (metadata of a ready sweep)


def sif_id(overrides: str) -> str:
    """A short stable id of a run's overrides: the same command maps to the same run folder (resume)."""
    return hashlib.sha1(overrides.encode("utf-8")).hexdigest()[:10] if overrides else "default"


_registered = False


def register_configs() -> None:
    global _registered
    if _registered:
        return
    if not OmegaConf.has_resolver("sif_id"):
        OmegaConf.register_new_resolver("sif_id", sif_id)
    cs = ConfigStore.instance()
    cs.store(name="sif_base", node=SIFConfig)
    for name, schema in STAGE_SCHEMAS.items():
        cs.store(group="schema/stage", name=name, node=schema)
    _registered = True
