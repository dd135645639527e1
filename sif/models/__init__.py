"""Model + processor factory (hub id, local folder, offline tiny builder), LoRA and merging.

Importing this package is cheap: torch / transformers / peft are imported inside the functions.
"""

from sif.models.checkpoints import merge_lora_checkpoint, resolve_weights
from sif.models.factory import (
    ModelMismatchError,
    check_model_processor,
    enable_checkpointing,
    freeze_vision,
    load_model,
    load_model_and_processor,
    load_processor,
    resolve_model_path,
    vision_modules,
)
from sif.models.lora import apply_lora, lora_target_modules
from sif.models.tiny import TAGS, build_tiny_model, tokenizer_corpus

__all__ = [
    "TAGS", "ModelMismatchError", "apply_lora", "build_tiny_model", "check_model_processor", "enable_checkpointing",
    "freeze_vision", "load_model", "load_model_and_processor", "load_processor", "lora_target_modules", "merge_lora_checkpoint",
    "resolve_model_path", "resolve_weights", "tokenizer_corpus", "vision_modules",
]
