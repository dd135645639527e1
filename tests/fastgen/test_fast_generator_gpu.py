"""rollout=hf_fast on a GPU: the compiled, CUDA-graphed decode path against `model.generate` (issue 15, §7).

Skipped without CUDA (CI has none); run on a GPU machine with `make test-gpu`. Two claims:
* fp32: greedy tokens equal `generate` exactly (the tiny model, 16 left-padded multimodal prompts x 64 tokens);
* bf16, a TRAINED model (the tiny model after 300 SFT steps on synthetic chains, where the logits are no longer
  near-ties as in a random model): at least 99 % of the 64 prompts x 128 tokens agree position by position.
"""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import GenerationConfig

from tests.conftest import run_launch
from tests.fastgen.conftest import batch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _greedy(processor, n: int):
    eos = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    return GenerationConfig(max_new_tokens=n, do_sample=False, eos_token_id=[eos],
                            pad_token_id=processor.tokenizer.pad_token_id)


def _agreement(ref: torch.Tensor, out: torch.Tensor, width: int) -> float:
    a, b = ref[:, width:], out[:, width:]
    n = min(a.shape[1], b.shape[1])
    return float((a[:, :n] == b[:, :n]).float().mean())


def test_fp32_graphed_greedy_equals_generate(shared_cache):
    from sif.config.model import ModelConfig
    from sif.models.factory import load_model_and_processor
    from sif.fastgen import FastGenerator

    model, processor = load_model_and_processor(ModelConfig(name="tiny", max_pixels=76800), shared_cache)
    model = model.to("cuda").eval()
    processor.tokenizer.padding_side = "left"
    inputs = batch(processor, n=16).to("cuda")
    gc = _greedy(processor, 64)
    ref = model.generate(**inputs, generation_config=copy.deepcopy(gc))
    gen = FastGenerator(model, processor, {})  # on CUDA: static cache, torch.compile, one CUDA graph per step
    out = gen.generate(**inputs, generation_config=copy.deepcopy(gc))
    assert gen.on_cuda
    assert torch.equal(ref, out)


def test_bf16_trained_model_agrees_on_99_percent_of_tokens(tmp_path):
    from sif.config.model import ModelConfig
    from sif.eval.backends.inputs import request_for
    from sif.eval.runner import benchmark_for
    from sif.models.factory import load_model_and_processor
    from sif.fastgen import FastGenerator
    from tests.conftest import compose

    overrides = ["stage=sft", "dataset=synth", "dataset.num_samples=2000", "dataset.eval_samples=64",
                 "stage.max_steps=300", "stage.per_device_train_batch_size=16", "stage.learning_rate=2e-3",
                 "stage.eval_fraction=0", "stage.save_steps=1000", f"paths.output_root={tmp_path}",
                 f"paths.cache_dir={tmp_path / 'cache'}", "run_name=sft"]
    run_launch(overrides, cwd=tmp_path, timeout=1800)
    model, processor = load_model_and_processor(ModelConfig(name="tiny", dtype="bfloat16", max_pixels=76800),
                                                tmp_path / "cache", path=str(tmp_path / "sft" / "final"))
    model = model.to("cuda").eval()
    processor.tokenizer.padding_side = "left"
    cfg = compose(["stage=eval", "dataset=synth", "dataset.eval_samples=64", f"paths.cache_dir={tmp_path / 'cache'}"])
    items = benchmark_for(cfg, tmp_path / "cache").load()[:64]
    from sif.eval.backends.base import load_image, request_messages

    requests = [request_for(it) for it in items]
    texts = [processor.apply_chat_template(request_messages(r), tokenize=False, add_generation_prompt=True)
             for r in requests]
    images = [[load_image(im) for im in r.images] for r in requests]
    inputs = processor(text=texts, images=images, padding=True, return_tensors="pt").to("cuda")
    gc = _greedy(processor, 128)
    ref = model.generate(**inputs, generation_config=copy.deepcopy(gc))
    out = FastGenerator(model, processor, {}).generate(**inputs, generation_config=copy.deepcopy(gc))
    agreement = _agreement(ref, out, inputs["input_ids"].shape[1])
    print(f"bf16 trained tiny model, 64 prompts x 128 tokens: {agreement:.4f} of the tokens agree")
    assert agreement >= 0.99
