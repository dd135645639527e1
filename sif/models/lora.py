"""LoRA on the language model, and merging an adapter back into a plain checkpoint.

Target selection is explicit (a list of module names handed to peft), never peft's own "all-linear": the
original GRPO code targeted every nn.Linear whose name lacked "visual", which put LoRA on `lm_head` too
(spec §7 bug 24); SFT (LLaMA-Factory `lora_target: all`) did not. We follow SFT: language-model linears
only, the vision tower and merger only on request, `lm_head` never.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

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


def _base_path(adapter_dir: Path, model_cfg: Any, cache_dir: Path) -> str:
    """The adapter's recorded base if it can still be loaded, else the model group's model."""
    from sif.models.factory import looks_like_hub_id, resolve_model_path

    config_file = adapter_dir / "adapter_config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{adapter_dir} has no adapter_config.json: not a peft LoRA adapter")
    recorded = json.loads(config_file.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if recorded and Path(recorded).expanduser().is_dir():
        return str(Path(recorded).expanduser())
    if recorded and looks_like_hub_id(recorded):
        return recorded
    if recorded:
        log.warning("adapter base %s does not exist; merging into the model group's model instead", recorded)
    return resolve_model_path(model_cfg, cache_dir)


def _has_processor(folder: Path) -> bool:
    return any((folder / f).is_file() for f in ("processor_config.json", "preprocessor_config.json"))


def merge_lora_checkpoint(adapter_dir: str | os.PathLike, out_dir: str | os.PathLike, model_cfg: Any,
                          cache_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Merge a LoRA adapter into its base and save a plain checkpoint (safetensors + processor) that loads
    with `from_pretrained(out_dir)`. Written into a temporary folder and renamed: never half a checkpoint."""
    from peft import PeftModel

    from sif.models.factory import check_model_processor, load_model, load_processor

    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(f"merge output {out_dir} exists and is not empty")
    base = _base_path(adapter_dir, model_cfg, Path(cache_dir))
    model = load_model(base, model_cfg, training=False)
    processor = load_processor(str(adapter_dir) if _has_processor(adapter_dir) else base, model_cfg)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    merged.config.use_cache = True
    check_model_processor(merged, processor)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        merged.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / "MERGED_FROM.json").write_text(
            json.dumps({"base": base, "adapter": str(adapter_dir)}, indent=2) + "\n", encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.rename(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
