"""Benchmark and inference-backend groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sif.config.common import LLMClientConfig
from sif.config.enums import BackendName, ImageInputs


@dataclass
class BenchmarkConfig:
    name: str = "synth"  # synth | vstar | cvbench | sat | spatialbench | viscot
    path: Optional[str] = None  # the release file/folder (local)
    image_root: Optional[str] = None
    depth_root: Optional[str] = None  # precomputed depth .npy files (else computed by the depth group)
    compat: bool = False  # reproduce the original scripts' scoring quirks (for comparison only)
    iou_threshold: float = 0.5


@dataclass
class BackendConfig(LLMClientConfig):
    name: BackendName = BackendName["hf"]  # hf | vllm | openai
    batch_size: int = 8
    max_new_tokens: int = 768  # a whole synthetic chain is ~300-480 tokens of the tiny tokenizer
    do_sample: bool = False
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    fast: bool = False  # hf: static cache + torch.compile (see rollout=hf_fast)
    zoom: bool = False  # hf: each closed area shows the model its crop in a new turn (crop rules: the zoom node)
    image_inputs: ImageInputs = ImageInputs["rgb+depth"]  # rgb+depth | rgb (no depth image) | blank (blind control)
    prompt: str = "sif"  # sif | paper (the original's inference wording: the RL sentence; sif/prompt.py)
    vllm_gpu_memory_utilization: float = 0.8
