"""An offline, random-init Qwen2.5-VL with a real (tiny) processor, built once into the cache.

Why: nothing on the CPU machine or in CI may download weights, yet every stage (SFT, GRPO, eval, merge)
should run through the exact loading code used for `Qwen/Qwen2.5-VL-7B-Instruct`. So the builder writes an
ordinary `save_pretrained` folder - safetensors weights, config, generation config, tokenizer, image/video
processors and the stock Qwen2.5-VL chat template - and everything downstream loads it with
`from_pretrained(path)` as it would a hub checkpoint.

The folder name carries a hash of the sizes, the builder version and any extra corpus, so a changed config
builds a new folder and an unchanged one is reused (several processes may race: each builds into its own
temporary folder and the first rename wins).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from sif.config.model import TinyModelConfig
from sif.models.corpus import TAGS, tokenizer_corpus

__all__ = [
    "BUILDER_VERSION", "CHAT_TEMPLATE", "QWEN_SPECIAL_TOKENS", "TAGS", "build_tiny_model", "mrope_section",
    "tiny_model_dir", "tokenizer_corpus",
]

# Bump when the builder's output changes for the same config (new cache folder, no stale reuse).
BUILDER_VERSION = 2

# Qwen2-VL / Qwen2.5-VL's special tokens, in Qwen's order (there at ids 151643..151656, here after the BPE vocab).
QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>",
]

# Byte-identical to Qwen/Qwen2.5-VL-7B-Instruct's template (and TRL's chat_templates/qwen2_5_vl.jinja): TRL
# recognises it by exact comparison and swaps in its `{% generation %}` variant for assistant-only loss.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}"
    "{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}"
)

# Qwen2's pre-tokenisation regex (identical to transformers' Qwen2Tokenizer), so the trained merges fit it.
_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# Defaults of the saved processor; `load_processor` sets the model group's own min/max pixels on load.
DEFAULT_MIN_PIXELS = 3136
DEFAULT_MAX_PIXELS = 262144


def _as_tiny_config(tiny_cfg: Any) -> TinyModelConfig:
    """Accept the dataclass, a DictConfig or a plain dict; unknown keys fail loudly (they would be ignored)."""
    if isinstance(tiny_cfg, TinyModelConfig):
        return tiny_cfg
    if tiny_cfg is None:
        return TinyModelConfig()
    if not isinstance(tiny_cfg, dict):
        from omegaconf import OmegaConf

        tiny_cfg = OmegaConf.to_container(tiny_cfg, resolve=True)
    return TinyModelConfig(**tiny_cfg)


FAMILIES = ("qwen2_5_vl", "qwen2_vl", "qwen3_vl")
# the position channel each family has of its own (text M-RoPE layout, vision code); SIF's channel
# (sif/models/positions.py) is applied to Qwen2.5-VL only, the family that lacks one
NATIVE_CHANNEL = {"qwen2_vl": ("chunked", "none"), "qwen3_vl": ("interleaved", "learned")}


def tiny_model_dir(tiny_cfg: Any, cache_dir: Path, extra_corpus: list[str] | None = None) -> Path:
    """The cache folder for this config: models/tiny-<sha256 of (config, builder version, extra corpus)>."""
    cfg = _as_tiny_config(tiny_cfg)
    config = dataclasses.asdict(cfg)
    if config["family"] == "qwen2_5_vl":  # added later: the default keeps earlier folders' names
        config.pop("family")
    key = {"config": config, "builder_version": BUILDER_VERSION, "extra_corpus": extra_corpus or []}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / "models" / f"tiny-{digest}"


def mrope_section(head_dim: int) -> list[int]:
    """Split head_dim/2 rotary frequencies into (temporal, height, width) like Qwen's [16, 24, 24] for 128."""
    half = head_dim // 2
    temporal = max(1, half // 4)
    height = (half - temporal) // 2
    return [temporal, height, half - temporal - height]


def build_tiny_model(tiny_cfg: Any, cache_dir: Path, extra_corpus: list[str] | None = None) -> Path:
    """Build (once) and return the folder of a tiny random Qwen2.5-VL checkpoint with its processor."""
    final = tiny_model_dir(tiny_cfg, cache_dir, extra_corpus)
    if (final / "BUILD_INFO.json").is_file():
        return final
    cfg = _as_tiny_config(tiny_cfg)
    _validate(cfg)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        started = time.perf_counter()
        processor = _build_processor(cfg, extra_corpus)
        processor.save_pretrained(tmp)
        model = _build_model(cfg, processor)
        model.save_pretrained(tmp)
        info = {"builder_version": BUILDER_VERSION, "config": dataclasses.asdict(cfg),
                "extra_corpus_items": len(extra_corpus or []), "build_seconds": round(time.perf_counter() - started, 3),
                "num_parameters": sum(p.numel() for p in model.parameters())}
        (tmp / "BUILD_INFO.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "BUILD_INFO.json").is_file():  # not a lost race: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _validate(cfg: TinyModelConfig) -> None:
    """Fail on sizes the architecture cannot take, before anything is written."""
    from sif.models.positions import TEXT_MROPE, VISION_POSITION

    problems = []
    if cfg.family not in FAMILIES:
        problems.append(f"family {cfg.family!r} is not one of {list(FAMILIES)}")
    elif cfg.family != "qwen2_5_vl" and (cfg.mrope_layout, cfg.vision_position) != ("interleaved", "sincos2d"):
        problems.append(f"family {cfg.family} has its own position channel {NATIVE_CHANNEL[cfg.family]}; "
                        "mrope_layout / vision_position choose SIF's channel for qwen2_5_vl only (leave them unset)")
    if cfg.mrope_layout not in TEXT_MROPE:
        problems.append(f"mrope_layout {cfg.mrope_layout!r} is not one of {list(TEXT_MROPE)}")
    if cfg.vision_position not in VISION_POSITION:
        problems.append(f"vision_position {cfg.vision_position!r} is not one of {list(VISION_POSITION)}")
    if cfg.vocab_size - len(QWEN_SPECIAL_TOKENS) < 256 + 16:
        problems.append(f"vocab_size {cfg.vocab_size} < {256 + 16 + len(QWEN_SPECIAL_TOKENS)} "
                        "(256 bytes + merges + special tokens)")
    head_dim, rest = divmod(cfg.hidden_size, cfg.num_attention_heads)
    if rest or head_dim % 2 or head_dim < 8:  # M-RoPE splits head_dim/2 into 3 non-empty sections
        problems.append(f"hidden_size {cfg.hidden_size} must split into {cfg.num_attention_heads} heads of an even "
                        "size >= 8")
    if cfg.num_attention_heads % cfg.num_key_value_heads:
        problems.append(f"num_attention_heads {cfg.num_attention_heads} is not a multiple of num_key_value_heads "
                        f"{cfg.num_key_value_heads}")
    if cfg.vision_hidden_size % cfg.vision_num_heads or (cfg.vision_hidden_size // cfg.vision_num_heads) % 4:
        problems.append(f"vision_hidden_size {cfg.vision_hidden_size} must split into {cfg.vision_num_heads} heads "
                        "of a size divisible by 4 (2-D rotary)")
    if cfg.vision_depth < 1 or cfg.num_hidden_layers < 1:
        problems.append("vision_depth and num_hidden_layers must be >= 1")
    if problems:
        raise ValueError("tiny model config: " + "; ".join(problems))


def train_tokenizer(cfg: TinyModelConfig, extra_corpus: list[str] | None = None):
    """A byte-level BPE trained on the task corpus, wrapped as transformers' Qwen2Tokenizer.

    The BPE gets `vocab_size - len(QWEN_SPECIAL_TOKENS)` entries and the special tokens follow it, so
    `len(tokenizer) <= cfg.vocab_size` (the embedding rows) always holds, as in Qwen (151665 <= 152064).
    The task tags stay ordinary text (as in SIFThinker), so `skip_special_tokens=True` keeps them.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import AddedToken, Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    bpe.decoder = decoders.ByteLevel()
    n_bpe = cfg.vocab_size - len(QWEN_SPECIAL_TOKENS)
    trainer = trainers.BpeTrainer(vocab_size=n_bpe, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    corpus = tokenizer_corpus(cfg.tokenizer_corpus_samples, cfg.seed) + list(extra_corpus or [])
    bpe.train_from_iterator(corpus, trainer=trainer)

    model_json = json.loads(bpe.to_str())["model"]
    vocab: dict[str, int] = dict(model_json["vocab"])
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model_json["merges"]]
    for token in QWEN_SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(
        vocab=vocab, merges=merges, unk_token=None, bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        model_max_length=cfg.max_position_embeddings, errors="replace", split_special_tokens=False,
    )
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN_SPECIAL_TOKENS],
                         special_tokens=True)
    tokenizer.chat_template = CHAT_TEMPLATE
    got = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    wrong = {t: i for t, i in got.items() if i != vocab[t]}
    if wrong:
        raise RuntimeError(f"special tokens got unexpected ids: {wrong}")
    return tokenizer


def _build_processor(cfg: TinyModelConfig, extra_corpus: list[str] | None):
    """The family's processor class around the trained tokenizer; Qwen3-VL reads 16 px patches (32 px per
    merged token) with its own normalisation, Qwen2/2.5-VL 14 px patches."""
    import transformers
    from transformers.models.qwen2_vl import Qwen2VLImageProcessor

    tokenizer = train_tokenizer(cfg, extra_corpus)
    patch = 16 if cfg.family == "qwen3_vl" else 14
    extra = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]} if cfg.family == "qwen3_vl" else {}
    image_processor = Qwen2VLImageProcessor(patch_size=patch, merge_size=2, temporal_patch_size=2,
                                            min_pixels=DEFAULT_MIN_PIXELS, max_pixels=DEFAULT_MAX_PIXELS, **extra)
    cls = {"qwen2_5_vl": "Qwen2_5_VLProcessor", "qwen2_vl": "Qwen2VLProcessor", "qwen3_vl": "Qwen3VLProcessor"}
    return getattr(transformers, cls[cfg.family])(image_processor=image_processor, tokenizer=tokenizer,
                                                  video_processor=_video_processor(cfg.family, patch),
                                                  chat_template=CHAT_TEMPLATE)


def _video_processor(family: str = "qwen2_5_vl", patch: int = 14):
    """Qwen's video processor (needs torchvision); the processor works without it for images only."""
    try:
        if family == "qwen3_vl":
            from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

            return Qwen3VLVideoProcessor(patch_size=patch, merge_size=2, temporal_patch_size=2)
        from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

        return Qwen2VLVideoProcessor(patch_size=patch, merge_size=2, temporal_patch_size=2)
    except (ImportError, ValueError):
        return None


class _outside_zero3:
    """Build without transformers' ZeRO-3 context: under a ZeRO-3 TrainingArguments every model constructed
    is partitioned (deepspeed.zero.Init), but the builder writes one ordinary checkpoint, which the trainer
    then loads (partitioned) like any other."""

    def __enter__(self) -> None:
        try:
            import transformers.integrations.deepspeed as hf_ds
        except ImportError:  # pragma: no cover
            self._module, self._ref = None, None
            return
        self._module, self._ref = hf_ds, getattr(hf_ds, "_hf_deepspeed_config_weak_ref", None)
        hf_ds._hf_deepspeed_config_weak_ref = None

    def __exit__(self, *exc: object) -> None:
        if self._module is not None:
            self._module._hf_deepspeed_config_weak_ref = self._ref


def _family_config(cfg: TinyModelConfig, text_config: dict, vision_config: dict, ids: dict) -> Any:
    """The family's config from the shared sizes (Qwen2.5-VL's vision keys translated where they differ)."""
    import transformers

    tokens = dict(image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                  vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    if cfg.family == "qwen2_5_vl":
        return transformers.Qwen2_5_VLConfig(text_config=text_config, vision_config=vision_config,
                                             tie_word_embeddings=False, **tokens)
    if cfg.family == "qwen2_vl":
        vision = {"depth": cfg.vision_depth, "embed_dim": cfg.vision_hidden_size, "hidden_size": cfg.hidden_size,
                  "mlp_ratio": max(1, cfg.vision_intermediate_size // cfg.vision_hidden_size), "num_heads": cfg.vision_num_heads,
                  "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3}
        return transformers.Qwen2VLConfig(text_config=text_config, vision_config=vision, tie_word_embeddings=False,
                                          **tokens)
    text = {**text_config, "head_dim": cfg.hidden_size // cfg.num_attention_heads,
            "rope_parameters": {**text_config["rope_parameters"], "mrope_interleaved": True}}
    text.pop("max_window_layers", None)
    vision = {"depth": cfg.vision_depth, "hidden_size": cfg.vision_hidden_size,
              "intermediate_size": cfg.vision_intermediate_size, "num_heads": cfg.vision_num_heads,
              "out_hidden_size": cfg.hidden_size, "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2,
              "num_position_embeddings": 256, "deepstack_visual_indexes": [0], "in_channels": 3,
              "hidden_act": "gelu_pytorch_tanh"}
    return transformers.Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **tokens)


def _build_model(cfg: TinyModelConfig, processor):
    import torch
    from transformers import AutoModelForImageTextToText, GenerationConfig

    from sif.models.positions import CONFIG_KEY

    tok = processor.tokenizer
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    text_config = {
        "vocab_size": cfg.vocab_size, "hidden_size": cfg.hidden_size, "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_hidden_layers, "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads, "max_position_embeddings": cfg.max_position_embeddings,
        "max_window_layers": cfg.num_hidden_layers, "hidden_act": "silu", "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": mrope_section(head_dim)},
        "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"],
        "tie_word_embeddings": False,
    }
    vision_config = {
        "depth": cfg.vision_depth, "hidden_size": cfg.vision_hidden_size,
        "intermediate_size": cfg.vision_intermediate_size, "num_heads": cfg.vision_num_heads,
        "out_hidden_size": cfg.hidden_size, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
        "window_size": 112, "fullatt_block_indexes": [cfg.vision_depth - 1], "tokens_per_second": 2,
        "in_channels": 3, "hidden_act": "silu",
    }
    config = _family_config(cfg, text_config, vision_config, ids)
    if cfg.family == "qwen2_5_vl" and (cfg.mrope_layout, cfg.vision_position) != ("chunked", "none"):
        setattr(config, CONFIG_KEY, {"text_mrope": cfg.mrope_layout, "vision": cfg.vision_position})
    torch.manual_seed(cfg.seed)
    with _outside_zero3():  # a plain checkpoint on disk, even when a ZeRO-3 trainer is being set up
        model = AutoModelForImageTextToText.from_config(config).to(torch.float32).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
    )
    return model
