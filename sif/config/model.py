"""Model group: hub ids, local paths, and the offline `tiny` builder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class LoraConfig:
    enabled: bool = False
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    # "all-linear" = every nn.Linear of the language model (vision tower and lm_head excluded);
    # or an explicit list of module-name suffixes such as [q_proj, v_proj]
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    include_vision: bool = False


@dataclass
class TinyModelConfig:
    """Sizes of the offline random-init Qwen2.5-VL built by sif.models.tiny (hashed into its cache key)."""

    # the architecture: qwen2_5_vl (Qwen2.5-VL) | qwen2_vl (Qwen2-VL) | qwen3_vl (Qwen3-VL: interleaved M-RoPE,
    # learned absolute ViT positions and DeepStack features natively, so SIF's position channel is not applied)
    family: str = "qwen2_5_vl"
    vocab_size: int = 1024
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    vision_depth: int = 2
    vision_hidden_size: int = 32
    vision_intermediate_size: int = 64
    vision_num_heads: int = 2
    max_position_embeddings: int = 4096
    # the position channel of a model built from scratch (sif/models/positions.py; issue 14): the language
    # model's M-RoPE layout, chunked (the library's: image columns indistinguishable) | interleaved (Qwen3-VL's),
    # and the vision tower's absolute position code, none | sincos2d (normalised patch centre)
    mrope_layout: str = "interleaved"
    vision_position: str = "sincos2d"
    seed: int = 0
    tokenizer_corpus_samples: int = 300  # synthetic samples whose text trains the byte-level BPE


@dataclass
class ModelConfig:
    name: str = "tiny"
    path: Optional[str] = None  # hub id or local folder; None for tiny (built into the cache)
    dtype: str = "float32"  # auto | float32 | bfloat16 | float16
    attn_implementation: str = "sdpa"
    # batched: the vision tower's sdpa/eager attention runs one call per segment length instead of the library's
    # Python loop of one call per window/image (same result, far fewer kernels; sif/models/vision_attention.py)
    vision_attention: str = "batched"  # batched | library
    min_pixels: int = 3136
    max_pixels: int = 262144
    freeze_vision: bool = True
    freeze_merger: bool = True
    gradient_checkpointing: bool = False
    lora: LoraConfig = field(default_factory=LoraConfig)
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)
