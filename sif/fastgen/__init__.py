"""Fast rollout generation (`rollout=hf_fast`, and the hf eval backend with `backend.fast=true`).

`FastGenerator(model, processor, rollout_cfg).generate(input_ids=..., attention_mask=..., <vision inputs>,
generation_config=...)` returns what `model.generate` returns, from a static KV cache, CUDA graphs and
torch.compile, with LoRA adapters merged into generation-only weight copies. `sif.fastgen.trl_hook` plugs it
into TRL's GRPOTrainer. Importing this package is cheap (torch is imported inside the functions).
"""

from __future__ import annotations

from typing import Any

__all__ = ["FastGenerator", "SamplingParams", "UnsupportedGeneration", "bucket_batch", "bucket_length"]


def __getattr__(name: str) -> Any:
    if name in ("FastGenerator", "bucket_batch", "bucket_length"):
        from sif.fastgen import generator

        return getattr(generator, name)
    if name in ("SamplingParams", "UnsupportedGeneration"):
        from sif.fastgen import sampling

        return getattr(sampling, name)
    raise AttributeError(name)
