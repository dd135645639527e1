"""Loading through the factory: round trip, processor settings, chat template, forward/generate, checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sif.models.factory import (
    ModelMismatchError,
    check_model_processor,
    is_checkpointing,
    load_model,
    load_model_and_processor,
    load_processor,
    resolve_model_path,
    vision_modules,
)
from tests.models.conftest import CHAIN, model_inputs, prompt_messages, tiny_model_cfg


@pytest.fixture(scope="module")
def loaded(model_cfg, cache_dir, tiny_path):
    return load_model_and_processor(model_cfg, cache_dir)


def test_resolve_model_path(model_cfg, cache_dir, tiny_path, tmp_path):
    assert resolve_model_path(model_cfg, cache_dir) == str(tiny_path)
    assert resolve_model_path(tiny_model_cfg(name="local", path=str(tmp_path)), cache_dir) == str(tmp_path)
    hub = tiny_model_cfg(name="qwen2_5_vl_7b", path="Qwen/Qwen2.5-VL-7B-Instruct")
    assert resolve_model_path(hub, cache_dir) == "Qwen/Qwen2.5-VL-7B-Instruct"
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        resolve_model_path(tiny_model_cfg(name="local", path=str(tmp_path / "does-not-exist")), cache_dir)
    for not_hub in ("./a/b", "a/b/c", "~/ckpt", "/abs/ckpt"):
        with pytest.raises(FileNotFoundError):
            resolve_model_path(tiny_model_cfg(name="local", path=not_hub), cache_dir)
    with pytest.raises(ValueError, match="no path"):
        resolve_model_path(tiny_model_cfg(name="qwen2_5_vl_7b"), cache_dir)


def test_round_trip_matches_plain_from_pretrained(loaded, tiny_path):
    from transformers import Qwen2_5_VLForConditionalGeneration

    model, processor = loaded
    plain = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_path, dtype=torch.float32)
    ours, theirs = model.state_dict(), plain.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert model.dtype == torch.float32 and not model.training
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"


def test_vision_tower_and_merger_are_found(loaded):
    model, _ = loaded
    assert vision_modules(model) == ("model.visual", "model.visual.merger")  # transformers 5.x layout


def test_processor_takes_the_pixel_range(tiny_path, model_cfg, images):
    small = load_processor(str(tiny_path), tiny_model_cfg(max_pixels=28 * 28 * 16))
    size = small.image_processor.size
    assert (size["shortest_edge"], size["longest_edge"]) == (3136, 28 * 28 * 16)
    grid_small = small(text=["<|vision_start|><|image_pad|><|vision_end|>"], images=images[:1],
                       return_tensors="pt")["image_grid_thw"]
    full = load_processor(str(tiny_path), model_cfg)
    grid_full = full(text=["<|vision_start|><|image_pad|><|vision_end|>"], images=images[:1],
                     return_tensors="pt")["image_grid_thw"]
    assert grid_small.prod() * 14 * 14 <= 28 * 28 * 16 * 2  # 2 = temporal patch
    assert grid_full.prod() > grid_small.prod()
    with pytest.raises(ValueError, match="min_pixels"):
        load_processor(str(tiny_path), tiny_model_cfg(min_pixels=10**7))


def test_chat_template_renders_two_images_and_the_assistant_turn(loaded):
    _, processor = loaded
    prompt = processor.apply_chat_template(prompt_messages(), tokenize=False, add_generation_prompt=True)
    assert prompt.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n")
    assert prompt.count("<|vision_start|><|image_pad|><|vision_end|>") == 2
    assert prompt.index("Original image: <|vision_start|>") < prompt.index("Depth image: <|vision_start|>")
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")
    full = processor.apply_chat_template(prompt_messages(CHAIN), tokenize=False)
    assert full == prompt + CHAIN + "<|im_end|>\n"


def test_forward_and_greedy_generate_on_cpu(loaded, images):
    model, processor = loaded
    inputs = model_inputs(processor, images)
    n_image_tokens = (inputs["input_ids"] == model.config.image_token_id).sum().item()
    assert n_image_tokens == inputs["image_grid_thw"].prod(-1).sum().item() // 4
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (1, inputs["input_ids"].shape[1], model.config.text_config.vocab_size)
    assert torch.isfinite(logits).all()
    out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1]:]
    assert 1 <= len(new) <= 5 and int(new.max()) < model.config.text_config.vocab_size
    again = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert torch.equal(out, again)  # greedy is deterministic
    assert isinstance(processor.batch_decode(new[None], skip_special_tokens=True)[0], str)


def test_training_load_freezes_vision_and_checkpoints(tiny_path, images):
    cfg = tiny_model_cfg(freeze_vision=True, freeze_merger=False, gradient_checkpointing=True)
    model = load_model(str(tiny_path), cfg, training=True)
    named = dict(model.named_parameters())
    tower = [n for n in named if n.startswith("model.visual.") and not n.startswith("model.visual.merger.")]
    merger = [n for n in named if n.startswith("model.visual.merger.")]
    assert tower and merger
    assert not any(named[n].requires_grad for n in tower)
    assert all(named[n].requires_grad for n in merger)
    assert all(p.requires_grad for n, p in named.items() if not n.startswith("model.visual."))
    assert model.training and is_checkpointing(model) and not model.config.use_cache
    processor = load_processor(str(tiny_path), cfg)
    inputs = model_inputs(processor, images, answer=CHAIN)
    loss = model(**inputs, labels=inputs["input_ids"]).loss
    loss.backward()
    assert all(named[n].grad is None for n in tower) and named["lm_head.weight"].grad is not None

    both = load_model(str(tiny_path), tiny_model_cfg(freeze_vision=True, freeze_merger=True))
    assert not any(p.requires_grad for n, p in both.named_parameters() if n.startswith("model.visual."))
    neither = load_model(str(tiny_path), tiny_model_cfg(freeze_vision=False, freeze_merger=False))
    assert all(p.requires_grad for p in neither.parameters())


def test_mismatch_names_both_values(loaded, tiny_path, model_cfg):
    model, processor = loaded
    check_model_processor(model, processor)  # consistent as built
    good = model.config.image_token_id
    try:
        model.config.image_token_id = 7
        with pytest.raises(ModelMismatchError, match=rf"processor image token id {good} != model config "
                                                     r"image_token_id 7"):
            check_model_processor(model, processor)
    finally:
        model.config.image_token_id = good

    small = load_model(str(tiny_path), model_cfg)
    small.resize_token_embeddings(100)
    with pytest.raises(ModelMismatchError) as err:
        check_model_processor(small, processor)
    assert str(len(processor.tokenizer)) in str(err.value) and "100" in str(err.value)


def test_mismatch_is_checked_on_load(tiny_path, cache_dir, model_cfg, tmp_path):
    """A checkpoint whose config was edited (another tokenizer's ids) fails at load time, not in the forward."""
    import json
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_path, broken)
    config = json.loads((broken / "config.json").read_text())
    config["image_token_id"] = 3
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelMismatchError, match="image_token_id 3"):
        load_model_and_processor(model_cfg, cache_dir, path=str(broken))


def test_group_config_from_hydra_dictconfig(tiny_path, cache_dir):
    from omegaconf import OmegaConf

    cfg = OmegaConf.structured(tiny_model_cfg())
    assert resolve_model_path(cfg, Path(cache_dir)) == str(tiny_path)
    with pytest.raises(ValueError, match="dtype"):
        load_model(str(tiny_path), tiny_model_cfg(dtype="float64"))
