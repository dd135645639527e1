"""Random-init models of REAL architectures, built offline (benchmarks and GPU measurements).

Why: timings only mean something on the real shapes (Qwen2.5-VL-3B: 36 layers of 2048, 151,936-row
vocabulary; Depth Anything V2 Small: DINOv2-S/14 + DPT head), yet no machine here may download weights. The
dimensions are written below from the released `config.json` files; the weights are random (normal 0.02, as
`_init_weights` draws them), so outputs are noise, but every kernel, shape and byte count is the real one.

The Qwen processor is the tiny model's (our byte-level BPE + Qwen's special tokens + the stock Qwen2.5-VL
image processor and chat template): its special-token ids are small numbers, and the config's
`image_token_id`, `vision_start_token_id`, EOS and PAD ids are set to them, so `check_model_processor` passes
and M-RoPE finds the images. The embedding keeps the real 151,936 rows (only the first ~1k are ever used).

Public API:
    qwen2_5_vl_config(name) -> Qwen2_5_VLConfig                   (name: "qwen2_5_vl_3b" | "qwen2_5_vl_7b")
    build_arch_model(name, device="cuda", dtype="bfloat16") -> (model, processor)   in memory, no disk
    save_arch_model(name, out_dir, device="cuda") -> Path          a from_pretrained folder (weights + processor)
    depth_anything_v2_config(size="small") / build_depth_arch(out_dir, size="small") -> Path
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

__all__ = ["QWEN_ARCHS", "DEPTH_ARCHS", "qwen2_5_vl_config", "build_arch_processor", "build_arch_model",
           "save_arch_model", "depth_anything_v2_config", "build_depth_arch", "param_bytes"]

# Released config.json values (Qwen/Qwen2.5-VL-3B-Instruct, Qwen/Qwen2.5-VL-7B-Instruct).
QWEN_ARCHS: dict[str, dict[str, Any]] = {
    "qwen2_5_vl_3b": {
        "text": dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
                     num_key_value_heads=2, vocab_size=151936, max_position_embeddings=128000, rms_norm_eps=1e-6,
                     tie_word_embeddings=True, max_window_layers=70),
        "vision": dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048,
                       fullatt_block_indexes=[7, 15, 23, 31], window_size=112, tokens_per_second=2),
    },
    "qwen2_5_vl_7b": {
        "text": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                     num_key_value_heads=4, vocab_size=152064, max_position_embeddings=128000, rms_norm_eps=1e-6,
                     tie_word_embeddings=False, max_window_layers=28),
        "vision": dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                       fullatt_block_indexes=[7, 15, 23, 31], window_size=112, tokens_per_second=2),
    },
}
MROPE_SECTION = [16, 24, 24]
ROPE_THETA = 1_000_000.0

# depth-anything/Depth-Anything-V2-{Small,Base}-hf config.json (DINOv2 backbone + DPT neck/head).
DEPTH_ARCHS: dict[str, dict[str, Any]] = {
    "small": dict(backbone=dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, out_indices=[3, 6, 9, 12]),
                  reassemble_hidden_size=384, neck_hidden_sizes=[48, 96, 192, 384], fusion_hidden_size=64),
    "base": dict(backbone=dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, out_indices=[3, 6, 9, 12]),
                 reassemble_hidden_size=768, neck_hidden_sizes=[96, 192, 384, 768], fusion_hidden_size=128),
}


def _arch(name: str) -> dict[str, Any]:
    if name not in QWEN_ARCHS:
        raise ValueError(f"unknown architecture {name!r}; known: {sorted(QWEN_ARCHS)}")
    return QWEN_ARCHS[name]


def build_arch_processor(seed: int = 0):
    """The tiny model's processor (BPE tokenizer + Qwen2VL image processor + Qwen chat template)."""
    from sif.config.model import TinyModelConfig
    from sif.models.tiny import _build_processor

    return _build_processor(TinyModelConfig(seed=seed), None)


def _token_ids(processor: Any) -> dict[str, int]:
    from sif.models.tiny import QWEN_SPECIAL_TOKENS

    tok = processor.tokenizer
    return {t: int(tok.convert_tokens_to_ids(t)) for t in QWEN_SPECIAL_TOKENS}


def qwen2_5_vl_config(name: str = "qwen2_5_vl_3b", processor: Any = None):
    """The Qwen2_5_VLConfig of `name`, with token ids taken from `processor` (default: the arch processor)."""
    from transformers import Qwen2_5_VLConfig

    arch = _arch(name)
    processor = processor if processor is not None else build_arch_processor()
    ids = _token_ids(processor)
    text = dict(arch["text"])
    tie = bool(text.pop("tie_word_embeddings"))
    text.update(hidden_act="silu", use_sliding_window=False,
                rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA, "mrope_section": list(MROPE_SECTION)},
                bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
                tie_word_embeddings=tie)
    vision = dict(arch["vision"])
    vision.update(patch_size=14, spatial_merge_size=2, temporal_patch_size=2, in_channels=3, hidden_act="silu")
    return Qwen2_5_VLConfig(
        text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=tie,
    )


def build_arch_model(name: str = "qwen2_5_vl_3b", device: str = "cuda", dtype: str = "bfloat16",
                     attn_implementation: str = "sdpa", seed: int = 0):
    """A random-init model of architecture `name`, created directly on `device` in `dtype` (seconds on a GPU,
    no host copy of the weights), plus its processor. Returns (model, processor)."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    processor = build_arch_processor(seed)
    config = qwen2_5_vl_config(name, processor)
    config._attn_implementation = attn_implementation
    torch_dtype = getattr(torch, dtype)
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch_dtype)
        with torch.device(device):
            model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=torch_dtype)
    finally:
        torch.set_default_dtype(previous)
    model.eval()
    ids = _token_ids(processor)
    model.generation_config = GenerationConfig(bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
                                               pad_token_id=ids["<|endoftext|>"])
    return model, processor


def save_arch_model(name: str, out_dir: str | os.PathLike, device: str = "cuda", dtype: str = "bfloat16",
                    seed: int = 0) -> Path:
    """Write a `from_pretrained` folder (safetensors + processor) of a random-init `name`; reused if complete."""
    out = Path(out_dir)
    marker = out / "ARCH_INFO.json"
    if marker.is_file():
        return out
    model, processor = build_arch_model(name, device=device, dtype=dtype, seed=seed)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    info = {"architecture": name, "random_init": True, "seed": seed, "dtype": dtype,
            "num_parameters": sum(p.numel() for p in model.parameters())}
    (tmp / "ARCH_INFO.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    del model
    return out


def param_bytes(module: Any) -> int:
    """Bytes of the distinct parameter storages of `module` (tied weights counted once)."""
    seen, total = set(), 0
    for p in module.parameters():
        key = (p.data_ptr(), p.numel())
        if key not in seen:
            seen.add(key)
            total += p.numel() * p.element_size()
    return total


def depth_anything_v2_config(size: str = "small"):
    from transformers import DepthAnythingConfig, Dinov2Config

    if size not in DEPTH_ARCHS:
        raise ValueError(f"unknown Depth Anything V2 size {size!r}; known: {sorted(DEPTH_ARCHS)}")
    arch = DEPTH_ARCHS[size]
    bb = arch["backbone"]
    backbone = Dinov2Config(hidden_size=bb["hidden_size"], num_hidden_layers=bb["num_hidden_layers"],
                            num_attention_heads=bb["num_attention_heads"], mlp_ratio=4, image_size=518,
                            patch_size=14, layerscale_value=1.0, out_indices=list(bb["out_indices"]),
                            reshape_hidden_states=False)
    return DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=arch["reassemble_hidden_size"],
                               reassemble_factors=[4, 2, 1, 0.5], neck_hidden_sizes=list(arch["neck_hidden_sizes"]),
                               fusion_hidden_size=arch["fusion_hidden_size"], head_hidden_size=32, patch_size=14,
                               depth_estimation_type="relative")


def build_depth_arch(out_dir: str | os.PathLike, size: str = "small", seed: int = 0) -> Path:
    """A random-init Depth Anything V2 of the released architecture, saved like the hub checkpoint
    (config.json, model.safetensors, preprocessor_config.json with the released 518-px DPT preprocessing)."""
    out = Path(out_dir)
    needed = ("config.json", "model.safetensors", "preprocessor_config.json")
    if all((out / n).is_file() for n in needed):
        return out
    import torch
    from transformers import DepthAnythingForDepthEstimation, DPTImageProcessor

    config = depth_anything_v2_config(size)
    processor = DPTImageProcessor(do_resize=True, size={"height": 518, "width": 518}, keep_aspect_ratio=True,
                                  ensure_multiple_of=14, resample=3, do_rescale=True, do_normalize=True,
                                  image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225], do_pad=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DepthAnythingForDepthEstimation(config).eval()
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("model.safetensors", "preprocessor_config.json", "config.json"):
        os.replace(tmp / name, out / name)
    shutil.rmtree(tmp, ignore_errors=True)
    return out
