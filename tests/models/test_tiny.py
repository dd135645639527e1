"""The offline tiny Qwen2.5-VL: cached by config, a real tokenizer/processor, Qwen's template and token ids."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from sif.config.model import TinyModelConfig
from sif.models.tiny import QWEN_SPECIAL_TOKENS, TAGS, build_tiny_model, mrope_section, tokenizer_corpus
from sif.prompt import INSTRUCTION
from tests.models.conftest import CHAIN


def _model_folders(cache_dir):
    return sorted(p.name for p in (cache_dir / "models").iterdir())


def test_second_build_reuses_the_folder(tiny_path, model_cfg, cache_dir):
    before = _model_folders(cache_dir)
    mtime = (tiny_path / "model.safetensors").stat().st_mtime_ns
    again = build_tiny_model(model_cfg.tiny, cache_dir)
    assert again == tiny_path
    assert (tiny_path / "model.safetensors").stat().st_mtime_ns == mtime
    assert _model_folders(cache_dir) == before  # no new folder, no temporary leftovers
    assert not any(name.endswith(".tmp") for name in before)


def test_cache_is_keyed_by_config_and_corpus(tiny_path, model_cfg, cache_dir):
    small = replace(model_cfg.tiny, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                    tokenizer_corpus_samples=20)
    other = build_tiny_model(small, cache_dir)
    assert other != tiny_path and other.parent == tiny_path.parent
    config = json.loads((other / "config.json").read_text())
    assert config["text_config"]["hidden_size"] == 32 and config["text_config"]["num_hidden_layers"] == 1
    assert config["vision_config"]["out_hidden_size"] == 32  # the merger feeds the text width
    with_corpus = build_tiny_model(small, cache_dir, extra_corpus=["a purple cylinder behind the cube"])
    assert with_corpus not in (tiny_path, other)
    # dict / DictConfig spellings of the same config hit the same folder
    from omegaconf import OmegaConf

    assert build_tiny_model(OmegaConf.structured(small), cache_dir) == other


def test_folder_is_a_plain_checkpoint(tiny_path, model_cfg):
    names = {p.name for p in tiny_path.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"} <= names
    assert not any(name.endswith((".bin", ".pt")) for name in names)
    config = json.loads((tiny_path / "config.json").read_text())
    text, vision = config["text_config"], config["vision_config"]
    assert config["model_type"] == "qwen2_5_vl" and text["vocab_size"] == model_cfg.tiny.vocab_size
    head_dim = text["hidden_size"] // text["num_attention_heads"]
    assert sum(text["rope_parameters"]["mrope_section"]) == head_dim // 2
    assert all(0 <= i < vision["depth"] for i in vision["fullatt_block_indexes"])


def test_tokenizer_ids_match_model_config(tiny_path, model_cfg):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_path)
    config = json.loads((tiny_path / "config.json").read_text())
    generation = json.loads((tiny_path / "generation_config.json").read_text())
    assert len(tok) <= model_cfg.tiny.vocab_size
    assert config["image_token_id"] == tok.convert_tokens_to_ids("<|image_pad|>")
    assert config["video_token_id"] == tok.convert_tokens_to_ids("<|video_pad|>")
    assert config["vision_start_token_id"] == tok.convert_tokens_to_ids("<|vision_start|>")
    assert config["vision_end_token_id"] == tok.convert_tokens_to_ids("<|vision_end|>")
    assert generation["eos_token_id"] == tok.convert_tokens_to_ids("<|im_end|>") == tok.eos_token_id
    assert generation["pad_token_id"] == tok.convert_tokens_to_ids("<|endoftext|>") == tok.pad_token_id
    ids = [tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS]
    assert len(set(ids)) == len(QWEN_SPECIAL_TOKENS) and max(ids) < len(tok)
    # each special token is one id, never split by the BPE
    assert tok("<|im_start|>user<|vision_start|><|image_pad|>")["input_ids"][:1] == [ids[1]]


def test_tokenizer_round_trips_chains_and_keeps_tags(tiny_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_path)
    text = CHAIN + "<|im_end|>"
    ids = tok(text)["input_ids"]
    assert tok.decode(ids) == text
    assert tok.decode(ids, skip_special_tokens=True) == CHAIN  # tags are text, not special tokens
    # trained on the task vocabulary: a chain is far shorter than its byte count
    assert len(ids) < len(CHAIN.encode()) / 2
    assert len(tok.tokenize("<think>")) <= 2 and len(tok.tokenize(" sphere")) == 1


def test_corpus_holds_the_task_vocabulary():
    corpus = tokenizer_corpus(samples=5, seed=1)
    joined = "\n".join(corpus)
    assert INSTRUCTION in joined and "Original image:" in joined and "Depth image:" in joined
    assert all(tag in joined for tag in TAGS)
    assert '"bbox_2d":[' in joined and "cylinder" in joined and "(E)" in joined
    assert tokenizer_corpus(samples=5, seed=1) == corpus  # seeded


def test_mrope_section_covers_half_the_head():
    for head_dim in (8, 16, 64, 128):
        section = mrope_section(head_dim)
        assert sum(section) == head_dim // 2 and len(section) == 3 and min(section) >= 1
    assert mrope_section(128) == [16, 24, 24]  # Qwen2.5-VL's own split


@pytest.mark.parametrize("bad, field", [
    ({"vocab_size": 100}, "vocab_size"),
    ({"hidden_size": 60, "num_attention_heads": 8}, "hidden_size"),
    ({"num_key_value_heads": 3}, "num_key_value_heads"),
    ({"vision_hidden_size": 30}, "vision_hidden_size"),
])
def test_unusable_sizes_fail_before_anything_is_written(tmp_path, bad, field):
    with pytest.raises(ValueError, match=field):
        build_tiny_model(replace(TinyModelConfig(), **bad), tmp_path)
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_misspelled_key_fails(tmp_path):
    with pytest.raises(TypeError, match="hidden_sizee"):
        build_tiny_model({"hidden_sizee": 8}, tmp_path)


def test_build_is_deterministic(tiny_path, model_cfg, tmp_path):
    """Same config, fresh cache: byte-identical tokenizer and weights (seeded init, seeded corpus)."""
    again = build_tiny_model(model_cfg.tiny, tmp_path)
    assert again.name == tiny_path.name
    for name in ("tokenizer.json", "model.safetensors", "config.json"):
        assert (again / name).read_bytes() == (tiny_path / name).read_bytes(), name
