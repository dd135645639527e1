"""Batched vision attention (sif/models/vision_attention.py) computes what transformers' per-segment loop does."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from sif.models.factory import apply_vision_attention, load_model, load_model_and_processor
from sif.models.vision_attention import (
    attend_segments,
    batch_vision_attention,
    restore_vision_attention,
)
from tests.models.conftest import model_inputs, tiny_model_cfg


def loop_reference(q, k, v, cu, scaling):
    """One SDPA call per segment, as the library does."""
    outs = []
    for a, b in zip(cu[:-1].tolist(), cu[1:].tolist()):
        qs, ks, vs = (t[a:b].transpose(0, 1)[None] for t in (q, k, v))
        outs.append(F.scaled_dot_product_attention(qs, ks, vs, scale=scaling)[0].transpose(0, 1))
    return torch.cat(outs, 0)


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(1, 9), min_size=1, max_size=7), heads=st.integers(1, 3), seed=st.integers(0, 99))
def test_attend_segments_equals_the_per_segment_loop(lengths, heads, seed):
    gen = torch.Generator().manual_seed(seed)
    seq = sum(lengths)
    q, k, v = (torch.randn(seq, heads, 4, generator=gen, dtype=torch.float64) for _ in range(3))
    cu = torch.tensor([0] + list(torch.tensor(lengths).cumsum(0).tolist()))
    torch.testing.assert_close(attend_segments(q, k, v, cu, 0.5), loop_reference(q, k, v, cu, 0.5),
                               rtol=1e-12, atol=1e-12)


def test_a_query_sees_only_its_own_segment():
    # values are the segment index; attention averages values, so every output must equal its own segment's index
    cu = torch.tensor([0, 3, 5, 8, 9])
    seg = torch.repeat_interleave(torch.arange(4.0), torch.tensor([3, 2, 3, 1]))
    q = torch.randn(9, 2, 4)
    k = torch.randn(9, 2, 4)
    v = seg[:, None, None].expand(9, 2, 4).clone()
    out = attend_segments(q, k, v, cu, 1.0)
    torch.testing.assert_close(out, v)


@pytest.fixture(scope="module")
def tiny_trainable(cache_dir, tiny_path):
    cfg = tiny_model_cfg(freeze_vision=False, freeze_merger=False, vision_attention="library")
    model, processor = load_model_and_processor(cfg, cache_dir)
    return model, processor


def test_the_tiny_vision_tower_gives_the_same_features_and_gradients(tiny_trainable, images):
    model, processor = tiny_trainable
    inputs = model_inputs(processor, images)
    visual = model.model.visual
    # 16 x 22 patches: 2 x 3 windows of 8 x 8 patches, the last column 8 x 6, so two lengths per picture
    assert inputs["image_grid_thw"].tolist() == [[1, 16, 22], [1, 16, 22]], "the fixture's grid changed"

    def run():
        model.zero_grad()
        out = visual(inputs["pixel_values"], grid_thw=inputs["image_grid_thw"])
        feats = out.pooler_output if hasattr(out, "pooler_output") else out
        feats.pow(2).sum().backward()
        return feats.detach().clone(), {n: p.grad.clone() for n, p in visual.named_parameters() if p.grad is not None}

    library_feats, library_grads = run()
    assert batch_vision_attention(model) == 2  # one attention module per vision block
    try:
        feats, grads = run()
    finally:
        assert restore_vision_attention(model) == 2
    assert library_grads
    torch.testing.assert_close(feats, library_feats, rtol=1e-5, atol=1e-6)
    assert grads.keys() == library_grads.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], library_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_the_whole_model_gives_the_same_logits(tiny_trainable, images):
    model, processor = tiny_trainable
    inputs = model_inputs(processor, images)
    with torch.no_grad():
        library = model(**inputs).logits
        batch_vision_attention(model)
        try:
            batched = model(**inputs).logits
            copied = copy.deepcopy(model)  # the swapped forward is rebound to the copy, not to the original
            from_copy = copied(**inputs).logits
        finally:
            restore_vision_attention(model)
    torch.testing.assert_close(batched, library, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(from_copy, library, rtol=1e-5, atol=1e-5)
    attn = copied.model.visual.blocks[0].attn
    assert attn.forward.__self__ is attn


def test_the_factory_batches_by_default_and_library_opts_out(tiny_path):
    batched = load_model(str(tiny_path), tiny_model_cfg())
    assert all(hasattr(b.attn, "_sif_library_forward") for b in batched.model.visual.blocks)
    library = load_model(str(tiny_path), tiny_model_cfg(vision_attention="library"))
    assert not any(hasattr(b.attn, "_sif_library_forward") for b in library.model.visual.blocks)
    assert apply_vision_attention(batched, "batched") == 0  # already swapped: nothing done twice
    with pytest.raises(ValueError, match="vision_attention='fast'.*batched"):
        apply_vision_attention(library, "fast")


def test_other_implementations_keep_the_library_forward(tiny_path, images):
    model = load_model(str(tiny_path), tiny_model_cfg())
    attn = model.model.visual.blocks[0].attn
    calls = []
    library_forward = attn._sif_library_forward
    attn._sif_library_forward = lambda *a, **kw: calls.append(1) or library_forward(*a, **kw)
    attn.config._attn_implementation = "flash_attention_2"  # FlashAttention does varlen itself: leave it alone
    try:
        hidden = torch.randn(16, attn.qkv.in_features)
        cos = sin = torch.ones(16, attn.head_dim // 1)
        with pytest.raises(Exception):  # no flash-attn here: the library path is what runs (and fails)
            attn(hidden, torch.tensor([0, 16]), position_embeddings=(cos, sin))
    finally:
        attn.config._attn_implementation = "sdpa"
    assert calls == [1]


def test_qwen2_vl_towers_are_batched_too_and_other_classes_are_left_alone():
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    vision = {"depth": 2, "embed_dim": 32, "hidden_size": 32, "num_heads": 2, "mlp_ratio": 2, "in_chans": 3,
              "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}
    text = {"vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 2, "num_key_value_heads": 1,
            "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]}}
    model = Qwen2VLForConditionalGeneration(Qwen2VLConfig(vision_config=vision, text_config=text)).eval()
    visual = model.model.visual
    grid = torch.tensor([[1, 4, 6], [1, 4, 6], [1, 2, 4]])  # two pictures of one size, one of another
    pixels = torch.randn(int(grid.prod(-1).sum()), 3 * 2 * 14 * 14, generator=torch.Generator().manual_seed(0))

    def features():
        with torch.no_grad():
            out = visual(pixels, grid_thw=grid)
        return out.pooler_output if hasattr(out, "pooler_output") else out

    library = features()
    assert batch_vision_attention(model) == 2
    torch.testing.assert_close(features(), library, rtol=1e-5, atol=1e-6)

    class VisionAttention(torch.nn.Module):  # the same class name elsewhere: not ours to swap
        qkv = proj = num_heads = scaling = config = None

    assert batch_vision_attention(torch.nn.Sequential(VisionAttention())) == 0
