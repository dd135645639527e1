"""rollout=hf_fast on CPU: the static-cache decode loop (no compile, no CUDA graph here) must give exactly what
`model.generate` gives - greedy token for token, EOS stops, padding after EOS, LoRA - and sample from the same
distributions (the processors are compared with transformers' own)."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import GenerationConfig

from sif.fastgen import FastGenerator, SamplingParams, UnsupportedGeneration, bucket_batch, bucket_length
from sif.fastgen.sampling import choose_tokens, process_scores, tensor_ids
from tests.fastgen.conftest import batch


def gconf(processor, **kw):
    eos = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    base = dict(max_new_tokens=16, do_sample=False, eos_token_id=[eos], pad_token_id=processor.tokenizer.pad_token_id)
    base.update(kw)
    return GenerationConfig(**base)


def both(model, processor, inputs, gc, **cfg):
    ref = model.generate(**inputs, generation_config=copy.deepcopy(gc))
    gen = FastGenerator(model, processor, {"compile": False, **cfg})
    out = gen.generate(**inputs, generation_config=copy.deepcopy(gc))
    return ref, out, gen


def test_greedy_equals_generate_with_images_and_left_padding(tiny, inputs):
    model, processor = tiny
    assert inputs["attention_mask"][:, 0].min() == 0  # the batch really is left-padded
    ref, out, gen = both(model, processor, inputs, gconf(processor, max_new_tokens=20))
    assert out.shape == ref.shape and torch.equal(out, ref)
    assert gen.stats.fallback_calls == 0 and gen.mode == "graph" and gen.stats.engines == 1


def test_greedy_equals_generate_on_text_only_prompts(tiny):
    model, processor = tiny
    inputs = batch(processor, n=2, with_images=False)
    ref, out, _ = both(model, processor, dict(inputs), gconf(processor, max_new_tokens=12))
    assert torch.equal(out, ref)


@pytest.mark.parametrize("which", ["one_row", "all_rows"])
def test_eos_stops_rows_pads_after_and_cuts_where_generate_stops(tiny, inputs, which):
    model, processor = tiny
    free = model.generate(**inputs, generation_config=gconf(processor, eos_token_id=[], max_new_tokens=16))
    new = free[:, inputs["input_ids"].shape[1]:]
    # make tokens that greedy decoding really emits the EOS ids
    eos = [int(new[0, 3])] if which == "one_row" else sorted({int(new[r, 2 + r]) for r in range(new.shape[0])})
    ref, out, _ = both(model, processor, inputs, gconf(processor, eos_token_id=eos, max_new_tokens=16))
    assert torch.equal(out, ref)
    if which == "all_rows":
        assert out.shape[1] < free.shape[1]  # stopped before max_new_tokens, as generate does


def test_lora_is_merged_for_generation_and_training_weights_are_untouched(tiny, inputs):
    from peft import LoraConfig, get_peft_model

    model, processor = tiny
    peft_model = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, lora_alpha=8, init_lora_weights=False,
                                                                 target_modules=["q_proj", "v_proj", "gate_proj"]))
    peft_model.eval()
    before = {n: p.detach().clone() for n, p in peft_model.named_parameters()}
    ref, out, gen = both(peft_model, processor, inputs, gconf(processor, max_new_tokens=12))
    assert torch.equal(out, ref)
    plain = model.generate(**inputs, generation_config=gconf(processor, max_new_tokens=12))
    assert not torch.equal(plain, ref)  # the adapter does change the output
    for n, p in peft_model.named_parameters():
        assert torch.equal(p, before[n]), n
    # a changed adapter is picked up by the next call (weights refreshed every call)
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.mul_(-1.0)
    ref2 = peft_model.generate(**inputs, generation_config=gconf(processor, max_new_tokens=12))
    assert torch.equal(gen.generate(**inputs, generation_config=gconf(processor, max_new_tokens=12)), ref2)


def test_shapes_are_bucketed_so_engines_are_reused(tiny):
    model, processor = tiny
    gen = FastGenerator(model, processor, {"compile": False, "length_buckets": [256, 512]})
    gc = gconf(processor, max_new_tokens=6)
    for n in (3, 2, 3):  # different batch sizes and prompt lengths, one bucket (4 rows x 256)
        inputs = batch(processor, n=n, seed=n)
        assert torch.equal(gen.generate(**inputs, generation_config=gc), model.generate(**inputs, generation_config=gc))
    assert gen.stats.engines == 1 and gen.stats.keys == [[4, 256]]
    assert bucket_length(100, [256, 512]) == 256 and bucket_length(513, [256, 512]) == 1024
    assert bucket_length(1500, [256, 512]) == 1536 and [bucket_batch(n) for n in (1, 3, 8, 9)] == [1, 4, 8, 16]


def test_unsupported_settings_fall_back_to_plain_generate(tiny, inputs):
    model, processor = tiny
    gc = gconf(processor, max_new_tokens=6, num_beams=2)
    ref, out, gen = both(model, processor, inputs, gc)
    assert torch.equal(out, ref) and gen.stats.fallback_calls == 1
    with pytest.raises(UnsupportedGeneration, match="num_beams"):
        SamplingParams.from_generation_config(gc)


def test_min_new_tokens_and_sampling_run_and_respect_limits(tiny, inputs):
    model, processor = tiny
    free = model.generate(**inputs, generation_config=gconf(processor, eos_token_id=[], max_new_tokens=8))
    eos = int(free[0, inputs["input_ids"].shape[1]])  # row 0's first greedy token
    gc = gconf(processor, eos_token_id=[eos], max_new_tokens=8, min_new_tokens=3)
    ref, out, _ = both(model, processor, inputs, gc)
    assert torch.equal(out, ref)
    gen = FastGenerator(model, processor, {"compile": False})
    torch.manual_seed(0)
    a = gen.generate(**inputs, generation_config=gconf(processor, do_sample=True, temperature=0.7, top_p=0.9,
                                                      top_k=40, max_new_tokens=8))
    torch.manual_seed(0)
    b = gen.generate(**inputs, generation_config=gconf(processor, do_sample=True, temperature=0.7, top_p=0.9,
                                                      top_k=40, max_new_tokens=8))
    assert torch.equal(a, b) and a.shape[1] <= inputs["input_ids"].shape[1] + 8


@pytest.mark.parametrize("kw", [
    dict(do_sample=True, temperature=0.7), dict(do_sample=True, top_k=5), dict(do_sample=True, top_p=0.8),
    dict(do_sample=True, min_p=0.2), dict(do_sample=True, temperature=1.3, top_k=20, top_p=0.9, min_p=0.05),
    dict(do_sample=False, repetition_penalty=1.3), dict(do_sample=True, repetition_penalty=0.8, top_p=0.5),
    dict(do_sample=False, suppress_tokens=[3, 7]),
])
def test_processors_equal_transformers_processors(kw):
    from transformers import (LogitsProcessorList, MinPLogitsWarper, RepetitionPenaltyLogitsProcessor,
                              SuppressTokensLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper,
                              TopPLogitsWarper)

    torch.manual_seed(1)
    vocab, rows = 50, 4
    scores = torch.randn(rows, vocab) * 3
    ids = torch.randint(0, vocab, (rows, 7))
    p = SamplingParams(max_new_tokens=4, **kw)
    procs = LogitsProcessorList()
    if p.repetition_penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(p.repetition_penalty))
    if p.suppress_tokens:
        procs.append(SuppressTokensLogitsProcessor(list(p.suppress_tokens)))
    if p.do_sample:
        if p.temperature != 1.0:
            procs.append(TemperatureLogitsWarper(p.temperature))
        if p.top_k:
            procs.append(TopKLogitsWarper(p.top_k))
        if p.top_p < 1.0:
            procs.append(TopPLogitsWarper(p.top_p))
        if p.min_p is not None:
            procs.append(MinPLogitsWarper(p.min_p))
    expected = procs(ids, scores.clone())
    presence = torch.zeros(rows, vocab, dtype=torch.bool).scatter_(1, ids, True)
    got = process_scores(scores.clone(), p, torch.tensor(0), presence, tensor_ids([], "cpu"),
                         tensor_ids(p.suppress_tokens, "cpu"))
    assert torch.equal(torch.isinf(got), torch.isinf(expected))
    finite = ~torch.isinf(expected)
    assert torch.allclose(got[finite], expected[finite], rtol=1e-6, atol=1e-6)


def test_exponential_race_draws_from_softmax():
    torch.manual_seed(0)
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, float("-inf")]]).repeat(40000, 1)
    p = SamplingParams(max_new_tokens=1, do_sample=True)
    draws = choose_tokens(logits, p)
    freq = torch.bincount(draws, minlength=5).float() / draws.numel()
    assert freq[4] == 0
    assert torch.allclose(freq, torch.softmax(logits[0], -1), atol=0.01)


def test_hf_eval_backend_fast_gives_the_same_answers(shared_cache):
    from sif.config.evaluation import BackendConfig
    from sif.config.model import ModelConfig
    from sif.eval.backends.base import GenRequest, build_backend
    from tests.fastgen.conftest import images

    model_cfg = ModelConfig(name="tiny", max_pixels=76800)
    reqs = [GenRequest(id=f"r{i}", question=q, choices=c, images=images(i, [(96, 64), (96, 64)]))
            for i, (q, c) in enumerate([("What is left?", None), ("Which is nearer?", ["a", "b"]),
                                        ("How many cubes?", None)])]
    plain = build_backend(BackendConfig(name="hf", batch_size=2, max_new_tokens=10), model_cfg, shared_cache)
    fast = build_backend(BackendConfig(name="hf", batch_size=2, max_new_tokens=10, fast=True), model_cfg, shared_cache)
    assert fast.fast is not None and plain.fast is None
    assert fast.generate(reqs) == plain.generate(reqs)
    assert fast.fast.stats.calls == 2 and fast.fast.stats.fallback_calls == 0


def test_identical_prompts_share_one_prefill_and_still_equal_generate(tiny):
    """GRPO repeats each prompt num_generations times: those rows are prefilled once. Rows with the same text
    but other pictures are NOT shared."""
    from sif.prompt import build_messages
    from tests.fastgen.conftest import images

    model, processor = tiny
    text = processor.apply_chat_template(build_messages("What is left?", None, with_depth=True), tokenize=False,
                                         add_generation_prompt=True)
    other = processor.apply_chat_template(build_messages("How many cubes are there?", ["a", "b"], with_depth=True),
                                          tokenize=False, add_generation_prompt=True)
    a, b = images(1, [(96, 64), (96, 64)]), images(2, [(96, 64), (96, 64)])
    inputs = processor(text=[text, text, text, other, text], images=a + a + b + a + a, padding=True,
                       return_tensors="pt")
    gc = gconf(processor, max_new_tokens=10)
    ref, out, gen = both(model, processor, inputs, gc)
    assert torch.equal(out, ref)
    assert gen.stats.shared_prefill_rows == 2  # rows 1 and 4 reuse row 0; row 2 (other pictures) does not


def test_batch_helper_gives_two_pictures_to_every_prompt_of_a_large_batch(tiny):
    """The GPU tests ask for 16 prompts (the helper once held pictures for 12 only: a StopIteration on the GPU)."""
    _, processor = tiny
    inputs = batch(processor, n=16)
    assert inputs["input_ids"].shape[0] == 16 and inputs["image_grid_thw"].shape[0] == 32


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_shared_generation_weights_copy_nothing_and_give_generate_tokens_with_lora(family, shared_cache):
    """generation_weights=shared: the decode path reads the training tensors (LoRA as its low-rank products):
    greedy tokens equal generate's, no weight is copied, and an adapter update is seen without a refresh copy."""
    from peft import LoraConfig, get_peft_model

    from sif.config.model import ModelConfig, TinyModelConfig
    from sif.models.factory import load_model_and_processor

    model, processor = load_model_and_processor(
        ModelConfig(name="tiny", max_pixels=76800, tiny=TinyModelConfig(family=family)), shared_cache)
    processor.tokenizer.padding_side = "left"
    inputs = batch(processor, n=3)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, init_lora_weights=False,
                                                  target_modules=["q_proj", "v_proj", "gate_proj", "down_proj"]))
    peft_model.eval()
    gc = gconf(processor, max_new_tokens=12)
    ref, out, gen = both(peft_model, processor, inputs, gc, generation_weights="shared")
    assert torch.equal(out, ref) and gen.stats.fallback_calls == 0
    params = {p.data_ptr() for p in peft_model.parameters()}
    lw = gen.weights.layers[0]
    assert lw["q"][0].data_ptr() in params and lw["q"][2][0][0].data_ptr() in params  # base and LoRA A by reference
    assert gen.weights.embed.data_ptr() in params
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.mul_(-1.0)
    ref2 = peft_model.generate(**inputs, generation_config=copy.deepcopy(gc))
    assert torch.equal(gen.generate(**inputs, generation_config=copy.deepcopy(gc)), ref2)
