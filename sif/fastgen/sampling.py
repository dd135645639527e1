"""Decoding settings and the per-step token choice of the fast generator, with `generate`'s semantics.

`SamplingParams.from_generation_config` reads a transformers GenerationConfig and refuses (UnsupportedGeneration)
anything this path does not implement, so callers fall back to plain `generate` instead of silently decoding
differently. The supported processors run in transformers' order:

    repetition_penalty -> min_new_tokens (EOS masked) -> suppress_tokens
    [sampling only] temperature -> top_k -> top_p -> min_p -> draw

Greedy is argmax of the processed scores (bit-identical to `generate`). Sampling draws from the same
distribution as `torch.multinomial(softmax(scores))` but through the exponential race
(`argmax(p / Exp(1))`), which needs no host synchronisation and can be captured in a CUDA graph.

Every function here is written with tensor ops only (no Python branch on a tensor value), so a decode step
that calls them can be captured in a CUDA graph and compiled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

__all__ = ["SamplingParams", "UnsupportedGeneration", "process_scores", "choose_tokens"]


class UnsupportedGeneration(ValueError):
    """The generation config asks for something the fast path does not implement (use plain generate)."""


def _ids(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value)
    return (int(value),)


# GenerationConfig fields that change decoding and that this path does not implement, with their neutral value.
_UNSUPPORTED_NEUTRAL: dict[str, Any] = {
    "num_beams": 1, "num_beam_groups": 1, "penalty_alpha": None, "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0, "bad_words_ids": None, "force_words_ids": None, "sequence_bias": None,
    "guidance_scale": None, "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "top_h": None,
    "forced_bos_token_id": None, "forced_eos_token_id": None, "begin_suppress_tokens": None,
    "exponential_decay_length_penalty": None, "watermarking_config": None, "renormalize_logits": False,
    "num_return_sequences": 1, "output_scores": False, "output_logits": False, "return_dict_in_generate": False,
    "max_time": None, "stop_strings": None, "assistant_model": None, "prompt_lookup_num_tokens": None,
    "constraints": None, "low_memory": None, "dola_layers": None,
}


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: Optional[float] = None
    repetition_penalty: float = 1.0
    min_new_tokens: int = 0
    eos_token_ids: tuple[int, ...] = ()
    pad_token_id: int = 0
    suppress_tokens: tuple[int, ...] = ()

    @classmethod
    def from_generation_config(cls, gc: Any, prompt_length: int = 0, **overrides: Any) -> "SamplingParams":
        """Read a GenerationConfig (plus keyword overrides that `generate(**kwargs)` would apply)."""
        get = lambda k, d=None: overrides.get(k, getattr(gc, k, d))  # noqa: E731
        bad = []
        for key, neutral in _UNSUPPORTED_NEUTRAL.items():
            value = get(key, neutral)
            if value is not None and value != neutral and not (neutral is None and value in (0, 1.0, False)):
                bad.append(f"{key}={value!r}")
        if bad:
            raise UnsupportedGeneration("the fast generator does not implement " + ", ".join(bad))
        max_new = get("max_new_tokens")
        if max_new is None:
            max_length = get("max_length")
            if max_length is None:
                raise UnsupportedGeneration("set max_new_tokens (or max_length)")
            max_new = int(max_length) - int(prompt_length)
        min_new = get("min_new_tokens") or 0
        min_length = get("min_length") or 0
        if min_length:
            min_new = max(int(min_new), int(min_length) - int(prompt_length))
        eos = _ids(get("eos_token_id"))
        pad = get("pad_token_id")
        if pad is None:
            pad = eos[0] if eos else 0
        do_sample = bool(get("do_sample", False))
        temperature = get("temperature")
        temperature = 1.0 if temperature is None else float(temperature)
        if do_sample and temperature <= 0:
            raise UnsupportedGeneration(f"do_sample with temperature={temperature}")
        top_k = get("top_k")
        top_p = get("top_p")
        min_p = get("min_p")
        rep = get("repetition_penalty")
        return cls(max_new_tokens=int(max_new), do_sample=do_sample, temperature=temperature,
                   top_k=int(top_k or 0), top_p=1.0 if top_p is None else float(top_p),
                   min_p=None if min_p is None else float(min_p), repetition_penalty=1.0 if rep is None else float(rep),
                   min_new_tokens=max(0, int(min_new)), eos_token_ids=eos, pad_token_id=int(pad),
                   suppress_tokens=_ids(get("suppress_tokens")))

    @property
    def needs_presence(self) -> bool:
        return self.repetition_penalty != 1.0


def process_scores(scores, p: SamplingParams, step, presence=None, eos_ids=None, suppress_ids=None):
    """transformers' logits processors, in transformers' order, on float32 scores [B, V].

    `step` is a 0-d long tensor (tokens generated so far), `presence` a [B, V] bool tensor of tokens seen
    (prompt + generated; needed only with repetition_penalty), `eos_ids`/`suppress_ids` long tensors.
    """
    import torch

    neg_inf = float("-inf")
    if p.repetition_penalty != 1.0:
        penalized = torch.where(scores < 0, scores * p.repetition_penalty, scores / p.repetition_penalty)
        scores = torch.where(presence, penalized, scores)
    if p.min_new_tokens > 0 and eos_ids is not None and eos_ids.numel():
        cols = scores.index_select(1, eos_ids)
        cols = torch.where(step < p.min_new_tokens, torch.full_like(cols, neg_inf), cols)
        scores = scores.index_copy(1, eos_ids, cols)
    if suppress_ids is not None and suppress_ids.numel():
        scores = scores.index_fill(1, suppress_ids, neg_inf)
    if not p.do_sample:
        return scores
    if p.temperature != 1.0:
        scores = scores / p.temperature
    if p.top_k:
        k = min(max(int(p.top_k), 1), scores.shape[-1])
        kth = torch.topk(scores, k)[0][..., -1, None]
        scores = scores.masked_fill(scores < kth, neg_inf)
    if p.top_p < 1.0:
        sorted_logits, sorted_idx = torch.sort(scores, descending=False)
        cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove_sorted = cum <= (1 - p.top_p)
        remove_sorted[..., -1:] = False
        remove = remove_sorted.scatter(1, sorted_idx, remove_sorted)
        scores = scores.masked_fill(remove, neg_inf)
    if p.min_p is not None:
        probs = torch.softmax(scores, dim=-1)
        top = probs.amax(dim=-1, keepdim=True)
        remove = probs < (p.min_p * top)
        best = scores.argmax(dim=-1, keepdim=True)
        remove = remove.scatter(1, best, False)
        scores = scores.masked_fill(remove, neg_inf)
    return scores


def choose_tokens(scores, p: SamplingParams, generator=None):
    """Next token per row: argmax (greedy) or a draw from softmax(scores) via the exponential race."""
    import torch

    if not p.do_sample:
        return scores.argmax(dim=-1)
    probs = torch.softmax(scores, dim=-1)
    noise = torch.empty_like(probs).exponential_(1.0, generator=generator)
    return (probs / noise).argmax(dim=-1)


def tensor_ids(ids: Sequence[int], device: Any):
    import torch

    return torch.tensor(list(ids), dtype=torch.long, device=device)
