"""rollout=hf_fast inside TRL's GRPOTrainer: the regular (non-vLLM) generation path through `FastGenerator`.

A GRPOTrainer subclass overrides `_generate_single_turn` and calls `fast_generate_single_turn` here when
`rollout=hf_fast` (see `FastRolloutMixin`). What it does is TRL 1.16's own regular path - left-pad the prompt
ids of the whole generation batch (every prompt x num_generations, batched across the step), move the vision
fields, enter `unwrap_model_for_generation` (ZeRO-3 gather, gradient checkpointing off), cut each completion
after its first EOS - with `model.generate` replaced by `FastGenerator.generate` on TRL's own
`generation_config` (temperature, top-p, top-k, min-p, repetition penalty, max_completion_length, EOS, the
suppressed image token). Returns (completion_ids, None) like TRL (no sampling logprobs on this path).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("sif.fastgen")


def _pad(tensors: list, value: int, multiple: Any):
    from trl.trainer.utils import pad

    return pad(tensors, padding_value=value, padding_side="left", pad_to_multiple_of=multiple)


def fast_generate_single_turn(trainer: Any, prompt_ids: list, multimodal_fields: dict, rollout_cfg: Any = None):
    import numpy as np
    import torch
    from trl.models import unwrap_model_for_generation

    from sif.fastgen.generator import FastGenerator

    device = trainer.accelerator.device
    pad_id = trainer._tokenizer.pad_token_id
    multiple = getattr(trainer, "pad_to_multiple_of", None)
    prompt_tensors = [torch.tensor(ids) for ids in prompt_ids]
    inputs: dict[str, Any] = {
        "input_ids": _pad(prompt_tensors, pad_id, multiple),
        "attention_mask": _pad([torch.ones_like(t) for t in prompt_tensors], 0, multiple),
    }
    for k, v in multimodal_fields.items():
        if isinstance(v, torch.Tensor):
            inputs[k] = v
        elif isinstance(v, list) and v and isinstance(v[0], list):
            inputs[k] = _pad([torch.tensor(x) for x in v], 0, multiple)
        else:
            inputs[k] = torch.tensor(np.array(v))
    inputs = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in inputs.items()}

    try:
        from trl.extras.profiling import profiling_context

        profile = profiling_context(trainer, "sif.fast_generate")
    except Exception:  # noqa: BLE001 - profiling is optional
        from contextlib import nullcontext

        profile = nullcontext()
    dist = getattr(trainer, "_dist", None)
    from contextlib import nullcontext

    summon = dist.summon_full_params(trainer.model_wrapped, recurse=False) if dist is not None else nullcontext()
    with (
        profile,
        unwrap_model_for_generation(
            trainer.model_wrapped, trainer.accelerator,
            gather_deepspeed3_params=trainer.args.ds3_gather_for_generation,
            generation_kwargs=getattr(trainer, "generation_kwargs", None),
            gradient_checkpointing_kwargs=trainer.args.gradient_checkpointing_kwargs,
        ) as unwrapped,
        torch.no_grad(),
        summon,
    ):
        gen = getattr(trainer, "_sif_fast_generator", None)
        if gen is None:
            gen = FastGenerator(unwrapped, trainer.processing_class, rollout_cfg)
            trainer._sif_fast_generator = gen
        sequences = gen.generate(**inputs, generation_config=trainer.generation_config, model=unwrapped)

    prompt_length = inputs["input_ids"].size(1)
    completion_ids = sequences[:, prompt_length:]
    is_eos = torch.isin(completion_ids, torch.tensor(trainer.eos_token_ids, device=completion_ids.device))
    eos_idx = torch.full((is_eos.size(0),), is_eos.size(1), dtype=torch.long, device=completion_ids.device)
    has = is_eos.any(dim=1)
    eos_idx[has] = is_eos.int().argmax(dim=1)[has]
    positions = torch.arange(is_eos.size(1), device=completion_ids.device).expand(is_eos.size(0), -1)
    keep = positions <= eos_idx.unsqueeze(1)
    return [c[m].tolist() for c, m in zip(completion_ids.cpu(), keep.cpu())], None


class FastRolloutMixin:
    """Mix into a GRPOTrainer subclass: `sif_fast_rollout` (the rollout group, or None) turns the regular
    generation path into FastGenerator's; vLLM and continuous batching paths are left to TRL."""

    sif_fast_rollout: Any = None

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        use_fast = (self.sif_fast_rollout is not None and not getattr(self, "use_vllm", False)
                    and not getattr(self, "use_transformers_continuous_batching", False) and not has_tool_images)
        if not use_fast:
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                 has_tool_images)
        return fast_generate_single_turn(self, prompt_ids, multimodal_fields, self.sif_fast_rollout)
