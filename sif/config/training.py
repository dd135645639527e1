"""Reward, curriculum and rollout groups (used by the grpo stage)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from sif.config.enums import RolloutName


@dataclass
class RewardConfig:
    name: str = "sif"  # sif (corrected, the default) | paper (the original, paper_compat) | offline (old name of sif)
    # reward name -> weight; names come from sif.rewards' registry. Order is kept.
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "format": 1.0,
            "answer_progress": 1.0,
            "box_iou_progress": 1.0,
            "depth_consistency": 1.0,
        }
    )
    answer_scorer: str = "rule"  # rule | judge
    paper_compat: bool = False  # reproduce the original's behaviour, bugs included, where meaningful
    depth_tolerance: float = 0.1  # relative error allowed between a stated depth and the map's box mean
    depth_abs_floor: float = 0.02  # fixed mode: tolerance never below this absolute value (near the camera)
    number_tolerance: float = 0.0  # relative tolerance for numeric answers
    multi_objective_aggregation: str = "sum_then_normalize"  # TRL: sum_then_normalize | normalize_then_sum


@dataclass
class CurriculumConfig:
    name: str = "none"  # none | paper | linear | cosine | step
    # reward weights at the start and end of training; missing names keep the reward group's weight
    start_weights: dict[str, float] = field(default_factory=dict)
    end_weights: dict[str, float] = field(default_factory=dict)
    milestones: list[float] = field(default_factory=lambda: [0.5])  # step schedule: fractions of training
    order_by: str = "none"  # none | chain_length | num_objects  (easy -> hard sample order)


@dataclass
class RolloutConfig:
    name: RolloutName = RolloutName["hf"]  # hf | hf_fast | vllm_colocate | vllm_server | zoom
    # hf_fast
    compile: bool = True
    cache_implementation: str = "static"
    length_buckets: list[int] = field(default_factory=lambda: [256, 512, 1024, 2048])
    cuda_graphs: bool = True  # capture one CUDA graph per decode step (on CUDA)
    check_every: int = 4  # decode steps between the host's "all rows finished?" checks
    # copy: fused generation-only weights with LoRA merged (fastest; one more copy of the LM in memory) |
    # shared: the training weights by reference, LoRA as low-rank products (no copy; more kernels per step)
    generation_weights: str = "copy"
    # vllm
    vllm_gpu_memory_utilization: float = 0.3
    vllm_server_host: str = "127.0.0.1"
    vllm_server_port: int = 8000
    vllm_tensor_parallel_size: int = 1
    vllm_enable_sleep_mode: bool = False
    server_timeout_s: Optional[float] = 240.0
