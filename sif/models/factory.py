"""Model + processor factory: one loading path for hub ids, local folders and the offline tiny model.

Every stage loads through `load_model_and_processor`, which always cross-checks model and processor:
a processor whose image token id differs from the model's `image_token_id` does not fail loudly in
transformers - it fails deep inside the forward with "Image features and image tokens do not match", or
worse, silently computes wrong M-RoPE positions (anchors §4 row 3). We fail at load time instead, naming
both values.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # heavy imports stay inside functions (launch.py must fail on a bad config in < 1 s)
    from transformers import PreTrainedModel, ProcessorMixin

log = logging.getLogger(__name__)

IMAGE_TOKEN = "<|image_pad|>"
VIDEO_TOKEN = "<|video_pad|>"
VISION_START_TOKEN = "<|vision_start|>"
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_DTYPES = ("auto", "float32", "bfloat16", "float16")


class ModelMismatchError(ValueError):
    """Model and processor disagree (token ids, vocabulary); the message names both values."""


def looks_like_hub_id(path: str) -> bool:
    """"owner/name" (letters, digits, "-", "_", "."), not a relative or absolute local path."""
    return bool(_HUB_ID.fullmatch(path)) and not path.startswith(".")


def resolve_model_path(model_cfg: Any, cache_dir: Path) -> str:
    """The path or hub id to load: the tiny model is built into the cache; a local folder is used as is."""
    path = getattr(model_cfg, "path", None)
    if path:
        path = str(path)
        local = Path(path).expanduser()
        if local.exists():  # absolute, so adapters record a base that still loads from another folder
            return str(local.resolve())
        if not looks_like_hub_id(path):
            raise FileNotFoundError(f"model.path {path!r} is not an existing folder and does not look like a hub "
                                    "id (owner/name)")
        return path  # a hub id; from_pretrained resolves it (offline machines need it in the HF cache)
    if model_cfg.name == "tiny":
        from sif.models.tiny import build_tiny_model

        return str(build_tiny_model(model_cfg.tiny, Path(cache_dir).expanduser().resolve()))
    raise ValueError(f"model {model_cfg.name!r} has no path: set model.path to a hub id or a local folder")


def set_pixel_range(image_processor: Any, min_pixels: int, max_pixels: int) -> None:
    """Set Qwen's resize bounds on the image processor, in every spelling transformers 5.x reads.

    Recent versions read only `size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}`; older ones
    also kept `min_pixels` / `max_pixels` attributes, so both are set when present.
    """
    if min_pixels > max_pixels:
        raise ValueError(f"model.min_pixels {min_pixels} > model.max_pixels {max_pixels}")
    size = dict(getattr(image_processor, "size", None) or {})
    size = {k: v for k, v in size.items() if k not in ("height", "width")}
    size.update(shortest_edge=int(min_pixels), longest_edge=int(max_pixels))
    image_processor.size = size
    for name, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
        if hasattr(image_processor, name):
            setattr(image_processor, name, int(value))


def load_processor(path: str, model_cfg: Any) -> "ProcessorMixin":
    """AutoProcessor with the model group's pixel bounds (padding side is left to the callers)."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(path)
    image_processor = getattr(processor, "image_processor", None)
    if image_processor is not None:
        set_pixel_range(image_processor, model_cfg.min_pixels, model_cfg.max_pixels)
    return processor


def _torch_dtype(name: str):
    import torch

    if name not in _DTYPES:
        raise ValueError(f"model.dtype {name!r} is not one of {list(_DTYPES)}")
    return "auto" if name == "auto" else getattr(torch, name)


def vision_modules(model: Any) -> tuple[str | None, str | None]:
    """Qualified names of the vision tower and its merger, found by module name.

    transformers 5.x: `model.visual` / `model.visual.merger` under Qwen2_5_VLForConditionalGeneration
    (i.e. names "model.visual", "model.visual.merger"); 4.4x checkpoints had them at the top ("visual").
    Under a PeftModel the names gain a "base_model.model." prefix; matching by the last component keeps all work.
    """
    tower = merger = None
    for name, _ in model.named_modules():
        last = name.rsplit(".", 1)[-1]
        if last == "visual" and tower is None:
            tower = name
        elif tower is not None and name == f"{tower}.merger":
            merger = name
    return tower, merger


def freeze_vision(model: Any, freeze_tower: bool, freeze_merger: bool) -> int:
    """Turn off gradients of the vision tower (without the merger) and/or the merger; returns the count frozen."""
    tower, merger = vision_modules(model)
    if tower is None:
        if freeze_tower or freeze_merger:
            log.warning("no 'visual' module in %s: nothing frozen", type(model).__name__)
        return 0
    frozen = 0
    for name, param in model.named_parameters():
        in_merger = merger is not None and name.startswith(merger + ".")
        in_tower = name.startswith(tower + ".") and not in_merger
        if (in_tower and freeze_tower) or (in_merger and freeze_merger):
            param.requires_grad_(False)
            frozen += param.numel()
    return frozen


VISION_ATTENTION = ("batched", "library")


def apply_vision_attention(model: Any, mode: str) -> int:
    """model.vision_attention: `batched` swaps in sif.models.vision_attention's grouped forward; `library`
    keeps transformers' per-segment loop. Returns the number of attention modules swapped."""
    if mode not in VISION_ATTENTION:
        raise ValueError(f"model.vision_attention={mode!r} is not one of {list(VISION_ATTENTION)}")
    if mode == "library":
        return 0
    from sif.models.vision_attention import batch_vision_attention

    return batch_vision_attention(model)


def enable_checkpointing(model: Any) -> None:
    """Non-reentrant activation checkpointing (no `enable_input_require_grads` needed with frozen embeddings).

    transformers >= 5.2x calls it `activation_checkpointing_enable` and deprecates the old name; 5.17 (the GPU
    image) has only `gradient_checkpointing_enable`.
    """
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    model.config.use_cache = False


def is_checkpointing(model: Any) -> bool:
    return any(getattr(m, "gradient_checkpointing", False) for m in model.modules())


def connect_deepspeed_comm() -> bool:
    """Under ZeRO-3, `from_pretrained` partitions the weights as they load (deepspeed.zero.Init), which needs
    DeepSpeed's communication layer; the Trainer sets it up only later, so on a CPU under torchrun
    zero.Init saw a world of 1 and refused the batch sizes. Connect it to the launcher's process group first
    (gloo without CUDA). True when it did."""
    try:
        from transformers.integrations import is_deepspeed_zero3_enabled
    except ImportError:  # pragma: no cover - every supported transformers has it
        return False
    if not is_deepspeed_zero3_enabled():
        return False
    import deepspeed
    import torch

    deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo", verbose=False)
    return True


def load_model(path: str, model_cfg: Any, training: bool = False) -> "PreTrainedModel":
    """from_pretrained with the group's dtype / attention; freezing and gradient checkpointing for training."""
    from transformers import AutoModelForImageTextToText

    if training:
        connect_deepspeed_comm()

    model = AutoModelForImageTextToText.from_pretrained(
        path, dtype=_torch_dtype(model_cfg.dtype), attn_implementation=model_cfg.attn_implementation,
    )
    from sif.models.positions import apply_position_channel

    apply_position_channel(model)  # only a config that names one (models built from scratch), before anything else
    freeze_vision(model, model_cfg.freeze_vision, model_cfg.freeze_merger)
    apply_vision_attention(model, str(getattr(model_cfg, "vision_attention", "batched")))
    if training:
        model.train()
        if model_cfg.gradient_checkpointing:
            enable_checkpointing(model)
    else:
        model.eval()
    return model


def _tokenizer(processor: Any) -> Any:
    return getattr(processor, "tokenizer", processor)


def check_model_processor(model: Any, processor: Any) -> None:
    """Raise ModelMismatchError unless the processor's vision token ids are the model's and every token id the
    tokenizer can produce has an embedding row."""
    tokenizer = _tokenizer(processor)
    config = model.config
    image_id = getattr(processor, "image_token_id", None)
    if image_id is None:
        image_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    pairs = [("image token id", image_id, "image_token_id")]
    if getattr(config, "video_token_id", None) is not None:
        video_id = getattr(processor, "video_token_id", None)
        pairs.append(("video token id", tokenizer.convert_tokens_to_ids(VIDEO_TOKEN) if video_id is None else video_id,
                      "video_token_id"))
    if getattr(config, "vision_start_token_id", None) is not None:  # M-RoPE finds images by this id
        pairs.append(("vision start token id", tokenizer.convert_tokens_to_ids(VISION_START_TOKEN),
                      "vision_start_token_id"))
    for what, proc_value, key in pairs:
        model_value = getattr(config, key, None)
        if proc_value != model_value:
            raise ModelMismatchError(f"processor {what} {proc_value} != model config {key} {model_value}")
    weight = model.get_input_embeddings().weight
    rows = getattr(weight, "ds_shape", weight.shape)[0]  # ZeRO-3 partitions it: shape (0,), ds_shape the full one
    if len(tokenizer) > rows:
        raise ModelMismatchError(f"tokenizer length {len(tokenizer)} > model vocab size (embedding rows) {rows}")


def load_model_and_processor(model_cfg: Any, cache_dir: Path, path: str | None = None,
                             training: bool = False) -> tuple["PreTrainedModel", "ProcessorMixin"]:
    """Model and processor of the model group (or of `path`, e.g. an SFT checkpoint), checked to agree."""
    if path and Path(path).expanduser().is_dir():
        path = str(Path(path).expanduser().resolve())
    path = str(path) if path else resolve_model_path(model_cfg, cache_dir)
    processor = load_processor(path, model_cfg)
    model = load_model(path, model_cfg, training=training)
    check_model_processor(model, processor)
    return model, processor



__all__ = [
    "ModelMismatchError", "check_model_processor", "enable_checkpointing", "freeze_vision",
    "is_checkpointing", "load_model",
    "load_model_and_processor", "load_processor",
    "resolve_model_path", "set_pixel_range", "vision_modules",
]
