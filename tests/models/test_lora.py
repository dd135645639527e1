"""LoRA targets (language model only, never lm_head), adapter-only training, and merging back."""

from __future__ import annotations

import json

import pytest
import torch

from sif.config.model import LoraConfig
from sif.models.factory import load_model, load_model_and_processor
from sif.models.lora import apply_lora, lora_target_modules
from sif.models.checkpoints import merge_lora_checkpoint
from tests.models.conftest import CHAIN, model_inputs, prompt_messages


@pytest.fixture()
def fresh(model_cfg, cache_dir, tiny_path):
    return load_model_and_processor(model_cfg, cache_dir, training=True)


def test_all_linear_is_the_language_model_without_lm_head(fresh):
    model, _ = fresh
    names = lora_target_modules(model, LoraConfig(enabled=True))
    assert names and not any("visual" in n.split(".") for n in names)
    assert "lm_head" not in names and not any(n.endswith("lm_head") for n in names)
    suffixes = {n.rsplit(".", 1)[-1] for n in names}
    assert suffixes == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    layers = model.config.text_config.num_hidden_layers
    assert len(names) == 7 * layers


def test_explicit_suffixes_and_vision(fresh):
    model, _ = fresh
    qv = lora_target_modules(model, LoraConfig(target_modules=["q_proj", "v_proj"]))
    assert {n.rsplit(".", 1)[-1] for n in qv} == {"q_proj", "v_proj"} and len(qv) == 2 * 2
    with_vision = lora_target_modules(model, LoraConfig(include_vision=True))
    vision = [n for n in with_vision if n.startswith("model.visual.")]
    assert any(n.endswith(".attn.qkv") for n in vision) and any(n.startswith("model.visual.merger.") for n in vision)
    assert "lm_head" not in with_vision
    with pytest.raises(ValueError, match="matched no linear module"):
        lora_target_modules(model, LoraConfig(target_modules=["query_key_value"]))


def test_only_adapter_weights_train(fresh, images):
    model, processor = fresh
    peft_model = apply_lora(model, LoraConfig(enabled=True, r=4, alpha=8))
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert not any("visual" in n or "lm_head" in n for n in trainable)
    assert peft_model.peft_config["default"].r == 4 and peft_model.peft_config["default"].lora_alpha == 8
    inputs = model_inputs(processor, images, answer=CHAIN)
    peft_model(**inputs, labels=inputs["input_ids"]).loss.backward()
    assert all(p.grad is not None for n, p in peft_model.named_parameters() if "lora_B" in n)


def _perturbed_adapter(model_cfg, cache_dir, folder, save_processor: bool):
    model, processor = load_model_and_processor(model_cfg, cache_dir)
    peft_model = apply_lora(model, LoraConfig(enabled=True, r=4, alpha=8))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # lora_B starts at zero: make the adapter change the outputs
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.5)
    peft_model.save_pretrained(folder)
    if save_processor:
        processor.save_pretrained(folder)
    return peft_model.eval(), processor


def test_merged_checkpoint_matches_base_plus_adapter(model_cfg, cache_dir, tiny_path, tmp_path, images):
    from transformers import AutoProcessor

    peft_model, processor = _perturbed_adapter(model_cfg, cache_dir, tmp_path / "adapter", save_processor=True)
    inputs = model_inputs(processor, images, answer=CHAIN)
    with torch.no_grad():
        expected = peft_model(**inputs).logits
        base = load_model(str(tiny_path), model_cfg)(**inputs).logits
    assert (expected - base).abs().max() > 1e-2  # the adapter is not a no-op

    out = merge_lora_checkpoint(tmp_path / "adapter", tmp_path / "merged", model_cfg, cache_dir)
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    # SIF's loader: the tiny model's position channel (sif.models.positions) travels in the merged config
    merged = load_model(str(out), model_cfg)
    reloaded = AutoProcessor.from_pretrained(out)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    again = reloaded(text=[reloaded.apply_chat_template(prompt_messages(CHAIN), tokenize=False)], images=images,
                     return_tensors="pt")
    assert torch.equal(again["input_ids"], inputs["input_ids"])
    with torch.no_grad():
        got = merged(**inputs).logits
    assert torch.allclose(got, expected, atol=1e-4, rtol=0)

    with pytest.raises(FileExistsError):
        merge_lora_checkpoint(tmp_path / "adapter", tmp_path / "merged", model_cfg, cache_dir)


def test_merge_falls_back_to_the_model_group_base(model_cfg, cache_dir, tiny_path, tmp_path, images):
    """An adapter whose recorded base moved (another machine's cache) merges into the group's model."""
    adapter = tmp_path / "adapter"
    peft_model, processor = _perturbed_adapter(model_cfg, cache_dir, adapter, save_processor=False)
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_path)
    config["base_model_name_or_path"] = str(tmp_path / "moved-away")
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    out = merge_lora_checkpoint(adapter, tmp_path / "merged", model_cfg, cache_dir)
    merged, merged_processor = load_model_and_processor(model_cfg, cache_dir, path=str(out))
    inputs = model_inputs(merged_processor, images)
    with torch.no_grad():
        assert torch.allclose(merged(**inputs).logits, peft_model(**inputs).logits, atol=1e-4, rtol=0)

