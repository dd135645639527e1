"""The tiny Qwen2.5-VL (built once per module) and a batch of left-padded multimodal prompts."""

from __future__ import annotations

import numpy as np
import pytest

from sif.config.model import ModelConfig
from sif.prompt import build_messages

QUESTIONS = ["What is left?", "How many red cubes are there in the picture?",
             "Which is nearer, the sphere or the big cylinder behind it?"]


@pytest.fixture(scope="module")
def tiny(shared_cache):
    from sif.models.factory import load_model_and_processor

    model, processor = load_model_and_processor(ModelConfig(name="tiny", max_pixels=76800), shared_cache)
    processor.tokenizer.padding_side = "left"
    return model, processor


def images(seed: int, sizes):
    from PIL import Image

    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for w, h in sizes]


def batch(processor, n: int = 3, with_images: bool = True, seed: int = 0):
    texts = [processor.apply_chat_template(build_messages(QUESTIONS[i % 3], ["a", "b"] if i % 2 else None,
                                                          with_depth=with_images), tokenize=False,
                                           add_generation_prompt=True) for i in range(n)]
    if not with_images:
        texts = [t.replace("<|vision_start|><|image_pad|><|vision_end|>", "") for t in texts]
        return processor.tokenizer(texts, padding=True, return_tensors="pt")
    sizes = [(96, 64), (96, 64), (64, 64), (64, 64), (128, 96), (128, 96)] * (n // 3 + 1)  # 2 pictures a prompt
    return processor(text=texts, images=images(seed, sizes[:2 * n]), padding=True, return_tensors="pt")


@pytest.fixture(scope="module")
def inputs(tiny):
    return batch(tiny[1])
