"""LoRA on the language model (merging an adapter back is sif.models.checkpoints).

Target selection is explicit (a list of module names handed to peft), never peft's own "all-linear": the
original GRPO code targeted every nn.Linear whose name lacked "visual", which put LoRA on `lm_head` too
(spec §7 bug 24); SFT (LLaMA-Factory `lora_target: all`) did not. We follow SFT: language-model linears
only, the vision tower and merger only on request, `lm_head` never.
"""

from __future__ import annotations

from typing import Any

ALL_LINEAR = "all-linear"


def _linear_names(model: Any) -> list[str]:
    from torch import nn

    return [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]


def _is_vision(name: str) -> bool:
    return "visual" in name.split(".")


def lora_target_modules(model: Any, lora_cfg: Any) -> list[str]:
    """Full names of the nn.Linear modules LoRA should wrap.

    "all-linear": every linear of the language model (no `visual.*`, no output head). Otherwise the entries
    are name suffixes (`q_proj` matches `...self_attn.q_proj`). `include_vision` extends the same rule to the
    vision tower and merger (the vision blocks name their linears `qkv`, `proj`, `gate_proj`, `up_proj`,
    `down_proj`; the merger's are `mlp.0` and `mlp.2`).
    """
    targets = [str(t) for t in lora_cfg.target_modules]
    if not targets:
        raise ValueError("model.lora.target_modules is empty")
    head = model.get_output_embeddings()
    head_names = {name for name, module in model.named_modules() if head is not None and module is head}
    chosen = []
    for name in _linear_names(model):
        if name in head_names or name.rsplit(".", 1)[-1] == "lm_head":
            continue
        if _is_vision(name) and not lora_cfg.include_vision:
            continue
        if ALL_LINEAR in targets or any(name == t or name.endswith("." + t) for t in targets):
            chosen.append(name)
    if not chosen:
        suffixes = sorted({n.rsplit(".", 1)[-1] for n in _linear_names(model)})
        raise ValueError(f"model.lora.target_modules {targets} matched no linear module; linear name suffixes in "
                         f"this model: {suffixes}")
    return chosen


def apply_lora(model: Any, lora_cfg: Any):
    """Wrap `model` in a peft LoRA model; only the adapter weights stay trainable."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=int(lora_cfg.r), lora_alpha=int(lora_cfg.alpha), lora_dropout=float(lora_cfg.dropout),
        target_modules=lora_target_modules(model, lora_cfg), task_type="CAUSAL_LM", bias="none",
    )
    return get_peft_model(model, config)
