"""The policy of the grpo stage: where it starts from, and its LoRA.

LoRA is handed to TRL as a `peft_config` (the same targets as `sif.models.apply_lora`: language-model
linears, never the vision tower unless asked, never lm_head), so TRL wraps the model itself and computes the
reference log-probs with the adapter disabled - the paper's reference model, without a second copy. (A
ready PeftModel would make TRL 1.16 add a second "ref" adapter instead.)

`stage.init_from` may name a full checkpoint, a finished run folder (its summary's "checkpoint"), or a LoRA
adapter folder: an adapter is merged into its base once, into `<run_dir>/init_merged/`, so that the GRPO
adapter is trained - and later merged - on top of the SFT weights.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

log = logging.getLogger("sif.grpo")


def lora_peft_config(model: Any, lora_cfg: Any) -> Any:
    """A peft LoraConfig targeting exactly the modules `sif.models.apply_lora` would wrap."""
    from peft import LoraConfig

    from sif.models.lora import lora_target_modules

    return LoraConfig(r=int(lora_cfg.r), lora_alpha=int(lora_cfg.alpha), lora_dropout=float(lora_cfg.dropout),
                      target_modules=lora_target_modules(model, lora_cfg), task_type="CAUSAL_LM", bias="none")


def is_adapter_dir(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "adapter_config.json").is_file() and not (p / "config.json").is_file()


def init_model_path(init_from: Optional[str], cfg: Any, run_dir: Path, cache_dir: Path,
                    main_process_first: Any = None) -> Optional[str]:
    """The folder to load the policy from (None: the model group's model). Adapters are merged first, on the
    main process (`main_process_first`: a context manager factory such as TrainingArguments'), once."""
    from sif.training.resume import resolve_init_from

    path = resolve_init_from(init_from)
    if path is None:
        return None
    if not Path(path).exists():
        raise FileNotFoundError(f"stage.init_from={init_from!r}: {path} does not exist")
    if not is_adapter_dir(path):
        return path
    merged = run_dir / "init_merged"
    from contextlib import nullcontext

    with (main_process_first(desc="merge init adapter") if main_process_first else nullcontext()):
        if not (merged / "MERGED_FROM.json").is_file():
            from sif.models.lora import merge_lora_checkpoint

            log.info("init_from %s is a LoRA adapter: merging it into its base -> %s", path, merged)
            merge_lora_checkpoint(path, merged, cfg.model, cache_dir, overwrite=True)
    return str(merged)
