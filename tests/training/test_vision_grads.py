"""A frozen vision tower is not differentiated, and dropping its input-grad hook changes no gradient."""

from __future__ import annotations

import torch
from PIL import Image

from sif.config.model import LoraConfig, ModelConfig
from sif.models.factory import load_model_and_processor
from sif.models.lora import apply_lora
from sif.prompt import build_messages
from sif.training.vision_grads import drop_frozen_vision_input_grads


def _model(tiny_path, cache_dir, **overrides):
    cfg = ModelConfig(name="tiny", path=None, max_pixels=76800, gradient_checkpointing=True, **overrides)
    model, processor = load_model_and_processor(cfg, cache_dir, path=str(tiny_path), training=True)
    model = apply_lora(model, LoraConfig(enabled=True, r=4, alpha=8))
    model.enable_input_require_grads()  # what TRL does for a PEFT model with gradient checkpointing
    return model, processor


def _inputs(processor):
    rgb = Image.new("RGB", (160, 120), (200, 30, 30))
    rgb.paste((30, 200, 30), (20, 30, 70, 90))
    messages = build_messages("Which is closer?", ["red", "green"], with_depth=True, answer="<answer>A</answer>")
    text = processor.apply_chat_template(messages, tokenize=False)
    inputs = processor(text=[text], images=[rgb, rgb.transpose(Image.FLIP_LEFT_RIGHT)], return_tensors="pt")
    inputs["labels"] = inputs["input_ids"].clone()
    return inputs


def _patch_embed_requires_grad_and_grads(model, inputs):
    seen = []
    tower = model.get_base_model().model.visual
    handle = tower.patch_embed.register_forward_hook(lambda m, i, o: seen.append(o.requires_grad))
    try:
        model.zero_grad()
        torch.manual_seed(0)
        model(**inputs).loss.backward()
    finally:
        handle.remove()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return seen, grads


def test_the_hook_goes_and_the_lora_gradients_stay(tiny_path, tmp_path):
    model, processor = _model(tiny_path, tmp_path, freeze_vision=True, freeze_merger=True)
    inputs = _inputs(processor)
    before_seen, before = _patch_embed_requires_grad_and_grads(model, inputs)
    assert before_seen == [True]  # TRL's hook makes the frozen tower part of the backward graph
    assert drop_frozen_vision_input_grads(model) is True
    after_seen, after = _patch_embed_requires_grad_and_grads(model, inputs)
    assert after_seen == [False]
    assert before.keys() == after.keys() and before  # the LoRA weights, and only they
    assert all("lora_" in name for name in after)
    for name in before:
        torch.testing.assert_close(after[name], before[name], rtol=0, atol=0, msg=name)
    assert drop_frozen_vision_input_grads(model) is False  # nothing left to remove
    base = model.get_base_model()
    assert len(base._require_grads_hooks) == 1  # the language model's embedding hook is kept


def test_a_training_tower_keeps_its_hook(tiny_path, tmp_path):
    model, _ = _model(tiny_path, tmp_path, freeze_vision=False, freeze_merger=False)
    for name, param in model.named_parameters():  # LoRA froze the base weights; train the tower's blocks again
        if ".visual.blocks." in name:
            param.requires_grad_(True)
    assert drop_frozen_vision_input_grads(model) is False
