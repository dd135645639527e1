"""A tiny random-init Depth Anything, saved like a hub checkpoint, for tests and offline demos.

Why: nothing may download weights here, yet the depth_anything_v2 provider must run its real code path
(`pipeline("depth-estimation", model=<folder>)`). This folder has the same files as
depth-anything/Depth-Anything-V2-*-hf (config.json, model.safetensors, preprocessor_config.json), only
with a 4-layer, 32-wide DINOv2 backbone (~0.1 M parameters) and a 70-px input.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def build_tiny_depth_anything(out_dir: str | os.PathLike, seed: int = 0) -> Path:
    """Write (or reuse, if complete) a tiny Depth Anything checkpoint in `out_dir`; returns the folder."""
    out = Path(out_dir)
    needed = ("config.json", "model.safetensors", "preprocessor_config.json")
    if all((out / name).is_file() for name in needed):
        return out
    import torch
    from transformers import (DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config,
                              DPTImageProcessor)

    backbone = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, mlp_ratio=2,
                            image_size=70, patch_size=14, out_indices=[1, 2, 3, 4], reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32, patch_size=14,
                                 neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, head_hidden_size=8,
                                 depth_estimation_type="relative")
    # Same preprocessing as the released V2 checkpoints, at 70 px instead of 518.
    processor = DPTImageProcessor(do_resize=True, size={"height": 70, "width": 70}, keep_aspect_ratio=True,
                                  ensure_multiple_of=14, resample=3, do_rescale=True, do_normalize=True,
                                  image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DepthAnythingForDepthEstimation(config).eval()
    out.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    # Move config.json last: the folder only looks complete once every file is in place.
    for name in ("model.safetensors", "preprocessor_config.json", "config.json"):
        os.replace(tmp / name, out / name)
    shutil.rmtree(tmp)
    return out
