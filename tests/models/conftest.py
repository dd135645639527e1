"""Fixtures for the model factory tests: the tiny model is built once per test module, into tmp_path_factory."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from sif.config.model import ModelConfig
from sif.prompt import build_messages

CHAIN = ('<think>\n<area>[{"bbox_2d":[0.000,0.000,1.000,1.000],"depth":0.500}]</area>\n'
         '<text>The red cube is on the left.</text>\n</think>\n<answer>\n(A)\n</answer>')


def tiny_model_cfg(**overrides) -> ModelConfig:
    """The model group as conf/model/tiny.yaml composes it (320x240 pixel cap, float32)."""
    cfg = ModelConfig(name="tiny", path=None, dtype="float32", max_pixels=76800, min_pixels=3136)
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


@pytest.fixture(scope="module")
def model_cfg() -> ModelConfig:
    return tiny_model_cfg()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sif-cache")


@pytest.fixture(scope="module")
def tiny_path(model_cfg, cache_dir) -> Path:
    from sif.models.tiny import build_tiny_model

    return build_tiny_model(model_cfg.tiny, cache_dir)


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    """An RGB image and a colour depth image, 320x240 like the synthetic scenes."""
    rgb = Image.new("RGB", (320, 240), (200, 30, 30))
    rgb.paste((30, 200, 30), (40, 60, 140, 180))
    depth = Image.new("RGB", (320, 240), (20, 20, 220))
    depth.paste((220, 120, 20), (40, 60, 140, 180))
    return [rgb, depth]


def prompt_messages(answer: str | None = None) -> list[dict]:
    return build_messages("Which object is closer to the camera?", ["the red cube", "the blue sphere"],
                          with_depth=True, answer=answer)


def model_inputs(processor, images, answer: str | None = None):
    """Tokenised prompt (generation prompt unless an answer is given) with both images, as torch tensors."""
    text = processor.apply_chat_template(prompt_messages(answer), tokenize=False,
                                         add_generation_prompt=answer is None)
    return processor(text=[text], images=images, return_tensors="pt")


def with_random_adapter(model, lora_cfg, seed: int = 0, scale: float = 0.05):
    """`model` wrapped in LoRA whose B matrices are random (a fresh adapter is zero: it would change nothing)."""
    import torch

    from sif.models.lora import apply_lora

    lora = apply_lora(model, lora_cfg)
    torch.manual_seed(seed)
    for name, p in lora.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, scale)
    return lora
