"""The model families people train today - Qwen2-VL, Qwen2.5-VL, Qwen3-VL - as tiny random-init models built
offline (`model.tiny.family`, `model=tiny_qwen2_vl|tiny_qwen3_vl`): each loads through the same code path as
a hub checkpoint, the fast generation path agrees with `generate` token for token (fp32, CPU), and sft, grpo
(rollout=hf_fast), eval and export run through launch.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from transformers import GenerationConfig

from sif.config.model import ModelConfig, TinyModelConfig
from tests.conftest import run_launch
from tests.fastgen.conftest import batch

FAMILIES = ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"]
CLASSES = {"qwen2_vl": "Qwen2VLForConditionalGeneration", "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
           "qwen3_vl": "Qwen3VLForConditionalGeneration"}


@pytest.fixture(scope="module", params=FAMILIES)
def family(request, shared_cache):
    from sif.models.factory import load_model_and_processor

    cfg = ModelConfig(name="tiny", max_pixels=76800, tiny=TinyModelConfig(family=request.param))
    model, processor = load_model_and_processor(cfg, shared_cache)
    processor.tokenizer.padding_side = "left"
    return request.param, model, processor


def test_each_family_is_its_architecture(family):
    name, model, processor = family
    assert type(model).__name__ == CLASSES[name]
    assert model.config.model_type == name
    patch = processor.image_processor.patch_size
    assert patch == (16 if name == "qwen3_vl" else 14)


def test_fast_path_greedy_equals_generate_for_each_family(family):
    from sif.fastgen import FastGenerator

    name, model, processor = family
    inputs = batch(processor, n=3)
    assert inputs["attention_mask"][:, 0].min() == 0  # left-padded
    eos = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    gc = GenerationConfig(max_new_tokens=20, do_sample=False, eos_token_id=[eos],
                          pad_token_id=processor.tokenizer.pad_token_id)
    ref = model.generate(**inputs, generation_config=copy.deepcopy(gc))
    gen = FastGenerator(model, processor, {"compile": False})
    out = gen.generate(**inputs, generation_config=copy.deepcopy(gc))
    assert gen.stats.fallback_calls == 0 and gen.mode == "graph"  # our decoder ran, not transformers' fallback
    assert out.shape == ref.shape and torch.equal(out, ref)


def test_position_channel_flags_are_refused_for_families_that_have_their_own(tmp_path):
    from sif.models.tiny import build_tiny_model

    with pytest.raises(ValueError, match="family qwen3_vl has its own position channel"):
        build_tiny_model(TinyModelConfig(family="qwen3_vl", mrope_layout="chunked"), tmp_path)
    with pytest.raises(ValueError, match="family 'llava' is not one of"):
        build_tiny_model(TinyModelConfig(family="llava"), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["qwen2_vl", "qwen3_vl"])
def test_every_stage_runs_for_the_family(name, tmp_path, shared_cache):
    common = [f"model=tiny_{name}", "dataset=synth", "dataset.num_samples=8", "dataset.eval_samples=4"]
    env = {"SIF_CACHE_DIR": str(shared_cache)}
    grpo = ["stage=grpo", "stage.max_steps=1", "stage.max_completion_length=12", "stage.per_device_train_batch_size=4",
            "stage.num_generations=4", "stage.save_completions_every=0"]
    run_launch([*common, "stage=sft", "stage.max_steps=2", "stage.eval_fraction=0", "run_name=sft"], tmp_path, env)
    sft = tmp_path / "outputs" / "sft"
    # hf_fast: the family-specific path (our decoder); rollout=hf and =zoom share TRL's family-agnostic one
    run_launch([*common, *grpo, "rollout=hf_fast", f"stage.init_from={sft}", "run_name=grpo"], tmp_path, env)
    assert json.loads((tmp_path / "outputs" / "grpo" / "summary.json").read_text())["global_step"] == 1
    run_launch([*common, "stage=eval", f"stage.checkpoint={sft}", "backend.max_new_tokens=12", "run_name=ev"],
               tmp_path, env)
    assert json.loads((tmp_path / "outputs" / "ev" / "results.json").read_text())["benchmark"]["n_items"] == 4
    run_launch([*common, "stage=export", f"stage.checkpoint={tmp_path / 'outputs' / 'grpo'}", "run_name=ex"],
               tmp_path, env)
    exported = Path(tmp_path / "outputs" / "ex" / "merged")
    assert json.loads((exported / "config.json").read_text())["model_type"] == name
