"""The policy of the grpo stage: where it starts from, and its LoRA.

LoRA is handed to TRL as a `peft_config` (the same targets as `sif.models.apply_lora`: language-model
linears, never the vision tower unless asked, never lm_head), so TRL wraps the model itself and computes the
reference log-probs with the adapter disabled - the paper's reference model, without a second copy. (A
ready PeftModel would make TRL 1.16 add a second "ref" adapter instead.)

`stage.init_from` takes any weight source of sif.models.checkpoints (hub id, checkpoint, LoRA adapter merged
once, run folder), so the GRPO adapter is trained - and later merged - on top of the SFT weights.
"""

from __future__ import annotations

from typing import Any


def lora_peft_config(model: Any, lora_cfg: Any) -> Any:
    """A peft LoraConfig targeting exactly the modules `sif.models.apply_lora` would wrap."""
    from peft import LoraConfig

    from sif.models.lora import lora_target_modules

    return LoraConfig(r=int(lora_cfg.r), lora_alpha=int(lora_cfg.alpha), lora_dropout=float(lora_cfg.dropout),
                      target_modules=lora_target_modules(model, lora_cfg), task_type="CAUSAL_LM", bias="none")
