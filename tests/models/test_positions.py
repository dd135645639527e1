"""Position channels of from-scratch models (sif.models.positions): the layouts by hand and against the library,
the patch order against the real processor, and the rule travelling with the saved config."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from sif.models.positions import (
    CONFIG_KEY, apply_position_channel, interleave_mrope, merged_code, patch_grid_order, position_channel_of, sincos_2d,
)
from tests.models.conftest import model_inputs


def test_interleaved_layout_by_hand():
    # 6 frequencies, sections (2, 2, 2): axis of frequency i is i mod 3 -> T H W T H W
    freqs = torch.stack([torch.full((1, 6), float(axis)) for axis in range(3)])   # value = its axis
    out = interleave_mrope(freqs, [2, 2, 2])
    assert out.tolist() == [[0.0, 1.0, 2.0, 0.0, 1.0, 2.0] * 2]
    # sections (4, 6, 6) of a 32-wide head: height and width reach index 17; the rest is temporal
    out = interleave_mrope(torch.stack([torch.full((16,), float(a)) for a in range(3)]), [4, 6, 6])
    assert out[:16].tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0]


def test_interleaved_layout_is_qwen3_vls():
    from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLTextRotaryEmbedding

    section = [4, 6, 6]
    reference = Qwen3VLTextRotaryEmbedding.__new__(Qwen3VLTextRotaryEmbedding)
    reference.mrope_section = section
    freqs = torch.randn(3, 2, 5, 16)
    assert torch.equal(interleave_mrope(freqs, section), reference.recomposition_frequencies(freqs.clone()))


def test_patch_order_is_the_processors():
    """Each 14-px patch of the picture is painted with its own (row, col); the processor's flattened patches
    must come out in the order patch_grid_order says."""
    from transformers.models.qwen2_vl import Qwen2VLImageProcessor

    proc = Qwen2VLImageProcessor(patch_size=14, merge_size=2, temporal_patch_size=2, min_pixels=3136,
                                 max_pixels=76800, do_normalize=False, do_rescale=True)
    h, w = 8, 12
    pixels = np.zeros((h * 14, w * 14, 3), dtype=np.uint8)
    for r in range(h):
        for c in range(w):
            pixels[r * 14:(r + 1) * 14, c * 14:(c + 1) * 14] = (r * 20, c * 20, 7)
    out = proc(images=[Image.fromarray(pixels)], return_tensors="pt")
    assert out["image_grid_thw"].tolist() == [[1, h, w]]
    patches = out["pixel_values"].view(h * w, 3, -1)  # channel-major inside a patch
    rows = torch.round(patches[:, 0].mean(-1) * 255 / 20).long()
    cols = torch.round(patches[:, 1].mean(-1) * 255 / 20).long()
    want_rows, want_cols = patch_grid_order(1, h, w, 2)
    assert torch.equal(rows, want_rows) and torch.equal(cols, want_cols)


def test_sincos_code_by_hand():
    code = sincos_2d(torch.tensor([[1, 2, 4]]), dim=8, merge=2)   # 2 frequencies per quarter: pi and 128 pi
    rows, cols = patch_grid_order(1, 2, 4, 2)
    for k in range(8):
        x, y = (cols[k].item() + 0.5) / 4, (rows[k].item() + 0.5) / 2
        want = [math.sin(x * math.pi), math.sin(x * 128 * math.pi), math.cos(x * math.pi), math.cos(x * 128 * math.pi),
                math.sin(y * math.pi), math.sin(y * 128 * math.pi), math.cos(y * math.pi), math.cos(y * 128 * math.pi)]
        assert code[k].tolist() == pytest.approx(want, abs=1e-9)
    assert sincos_2d(torch.tensor([[1, 2, 2]]), dim=10, merge=2)[:, 8:].abs().sum() == 0  # padded to the width
    # two pictures of different sizes: normalised, so the same relative place gets the same code
    both = sincos_2d(torch.tensor([[1, 2, 2], [1, 4, 4]]), dim=8, merge=2)
    assert both.shape == (4 + 16, 8)


def test_merged_code_follows_the_merged_tokens_row_major():
    code = merged_code(torch.tensor([[1, 4, 6]]), dim=8, merge=2)   # a 2 x 3 grid of merged tokens
    assert code.shape == (6, 8)
    for index in range(6):
        row, col = divmod(index, 3)
        want = sincos_2d(torch.tensor([[1, 1, 1]]), 8, 1)            # the shape of one code ...
        x, y = (col + 0.5) / 3, (row + 0.5) / 2
        assert code[index, 0].item() == pytest.approx(math.sin(x * math.pi))     # ... at this token's centre
        assert code[index, 4].item() == pytest.approx(math.sin(y * math.pi))
        assert want.shape == (1, 8)


def test_tower_output_carries_the_merged_code(tiny_path, model_cfg, images):
    from sif.models.factory import load_processor

    model = _load(tiny_path, model_cfg)
    processor = load_processor(str(tiny_path), model_cfg)
    inputs = model_inputs(processor, images)
    tower = model.model.visual
    with torch.no_grad():
        ours = tower(inputs["pixel_values"], grid_thw=inputs["image_grid_thw"]).pooler_output
        tower._sif_grid.grid_thw = inputs["image_grid_thw"]   # the library forward with the patch code only
        library = tower._sif_library_tower_forward(inputs["pixel_values"], inputs["image_grid_thw"]).pooler_output
    code = merged_code(inputs["image_grid_thw"], ours.shape[-1], 2).to(ours.dtype)
    assert torch.allclose(ours, library + code, atol=1e-6)


def test_bad_channel_names_fail_with_the_key():
    class Cfg:
        sif_position_channel = {"text_mrope": "spiral"}

    with pytest.raises(ValueError, match="sif_position_channel"):
        position_channel_of(Cfg())
    assert position_channel_of(object()) == {}


def _load(path, model_cfg):
    from sif.models.factory import load_model

    return load_model(str(path), model_cfg)


def test_tiny_model_carries_and_applies_its_channel(tiny_path, model_cfg, images):
    from sif.models.factory import load_processor

    config = json.loads((tiny_path / "config.json").read_text())
    assert config[CONFIG_KEY] == {"text_mrope": "interleaved", "vision": "sincos2d"}
    model = _load(tiny_path, model_cfg)
    processor = load_processor(str(tiny_path), model_cfg)
    inputs = model_inputs(processor, images)
    with torch.no_grad():
        ours = model(**inputs).logits
        stock = type(model).from_pretrained(str(tiny_path))   # plain transformers: the key is ignored
        library = stock.eval()(**inputs).logits
        apply_position_channel(stock)
        patched = stock(**inputs).logits
        again = copy.deepcopy(model)(**inputs).logits
    assert not torch.allclose(ours, library, atol=1e-4)   # the channel changes the computation ...
    assert torch.allclose(ours, patched, atol=1e-6)        # ... the same way wherever it is applied
    assert torch.allclose(ours, again, atol=1e-6)          # and survives a deep copy (TRL's reference model)
    assert apply_position_channel(model) == {"text_mrope": "interleaved", "vision": "sincos2d"}  # idempotent


def test_each_part_of_the_channel_alone_and_none_for_the_stock_layout(model_cfg, cache_dir, images):
    from sif.models.factory import load_processor
    from sif.models.tiny import build_tiny_model

    base = replace(model_cfg.tiny, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                   tokenizer_corpus_samples=20)
    stock = build_tiny_model(replace(base, mrope_layout="chunked", vision_position="none"), cache_dir)
    assert CONFIG_KEY not in json.loads((stock / "config.json").read_text())   # the library's architecture
    assert apply_position_channel(_load(stock, model_cfg)) == {}
    text_only = build_tiny_model(replace(base, vision_position="none"), cache_dir)
    model = _load(text_only, model_cfg)
    processor = load_processor(str(text_only), model_cfg)
    inputs = model_inputs(processor, images)
    with torch.no_grad():
        vision_out = model.model.visual(inputs["pixel_values"], grid_thw=inputs["image_grid_thw"])
        plain = type(model).from_pretrained(str(text_only)).eval()
        plain_out = plain.model.visual(inputs["pixel_values"], grid_thw=inputs["image_grid_thw"])
    assert torch.equal(vision_out.pooler_output, plain_out.pooler_output)   # the tower is untouched


def test_saved_checkpoints_keep_the_channel(tiny_path, model_cfg, tmp_path, images):
    from sif.models.factory import load_processor

    model = _load(tiny_path, model_cfg)
    model.save_pretrained(tmp_path / "ckpt")
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())[CONFIG_KEY]["vision"] == "sincos2d"
    reloaded = _load(tmp_path / "ckpt", model_cfg)
    inputs = model_inputs(load_processor(str(tiny_path), model_cfg), images)
    with torch.no_grad():
        assert torch.allclose(model(**inputs).logits, reloaded(**inputs).logits, atol=1e-6)


def test_engines_that_load_checkpoints_themselves_refuse_a_position_channel(tiny_path, tmp_path):
    from sif.models.positions import refuse_position_channel

    with pytest.raises(ValueError, match="vLLM would ignore it"):
        refuse_position_channel(str(tiny_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    refuse_position_channel(str(tmp_path))  # a pretrained config: fine
