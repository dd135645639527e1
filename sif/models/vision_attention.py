"""Qwen2-VL / Qwen2.5-VL vision attention with one SDPA call per segment LENGTH instead of one per segment.

Why: without FlashAttention, transformers runs the vision tower's attention as a Python loop of one SDPA call
per attention segment (per image in the full-attention layers, per window in Qwen2.5-VL's windowed layers):
for 16 pictures of 448 px that is 16 x 16 windows x 28 layers = 7,168 small kernels per forward pass, which
dominated the non-generation part of a GRPO step on an H100 (docs/PERFORMANCE.md). Segments of equal length
are independent attention problems of the same shape, so they can be stacked into a batch and solved by ONE
SDPA call; a tower sees only a few distinct lengths (full windows, the windows cut by the image border, and
one length per image size). The result is the same computation (each query attends exactly to its own
segment), reordered; tests/models/test_vision_attention.py checks it against the library's loop.

`batch_vision_attention(model)` swaps the forward of every vision attention module in place; weights, state
dict and saved checkpoints are untouched. It applies only where the library would loop (sdpa/eager), and falls
back to the library's own forward for any call it does not recognise (another signature, dropout in training).
"""

from __future__ import annotations

import logging
import sys
import types
from typing import Any, Optional

import torch
import torch.nn.functional as F

log = logging.getLogger("sif.models")

# (transformers module, class): only these two are known to follow the qkv/rotary/cu_seqlens layout relied on
VISION_ATTENTION_CLASSES = {("transformers.models.qwen2_5_vl.modeling_qwen2_5_vl", "Qwen2_5_VLVisionAttention"),
                            ("transformers.models.qwen2_vl.modeling_qwen2_vl", "VisionAttention")}
LOOPING_IMPLEMENTATIONS = ("sdpa", "eager")
_ORIGINAL = "_sif_library_forward"


def attend_segments(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens: torch.Tensor,
                    scaling: float) -> torch.Tensor:
    """Block-diagonal attention over `[seq, heads, dim]` tensors: token i attends to the tokens of its own
    segment [cu_seqlens[j], cu_seqlens[j+1]). Returns `[seq, heads, dim]`."""
    bounds = cu_seqlens.tolist()
    starts, lengths = bounds[:-1], [b - a for a, b in zip(bounds[:-1], bounds[1:])]
    seq, heads, dim = q.shape
    distinct = sorted({n for n in lengths if n > 0})
    if len(distinct) == 1 and sum(lengths) == seq:  # one length: a plain reshape, no gather
        n = distinct[0]
        out = _sdpa(*(t.view(seq // n, n, heads, dim) for t in (q, k, v)), scaling)
        return out.reshape(seq, heads, dim)
    pieces, order = [], []
    for n in distinct:
        first = torch.tensor([s for s, m in zip(starts, lengths) if m == n], device=q.device)
        index = (first[:, None] + torch.arange(n, device=q.device)[None, :]).reshape(-1)
        pieces.append(_sdpa(*(t.index_select(0, index).view(-1, n, heads, dim) for t in (q, k, v)), scaling)
                      .reshape(-1, heads, dim))
        order.append(index)
    return torch.empty_like(q).index_copy(0, torch.cat(order), torch.cat(pieces))


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scaling: float) -> torch.Tensor:
    """[batch, len, heads, dim] in and out; SDPA wants heads before length."""
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), scale=scaling)
    return out.transpose(1, 2)


def _grouped_forward(self: Any, hidden_states: torch.Tensor, cu_seqlens: torch.Tensor,
                     position_embeddings: Optional[tuple[torch.Tensor, torch.Tensor]] = None, *args: Any,
                     **kwargs: Any) -> torch.Tensor:
    library_forward = getattr(self, _ORIGINAL)
    dropout = self.attention_dropout if self.training else 0.0
    if (args or position_embeddings is None or dropout
            or self.config._attn_implementation not in LOOPING_IMPLEMENTATIONS):
        return library_forward(hidden_states, cu_seqlens, position_embeddings, *args, **kwargs)
    seq = hidden_states.shape[0]
    q, k, v = self.qkv(hidden_states).reshape(seq, 3, self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
    cos, sin = position_embeddings
    q, k = self._sif_rotary(q, k, cos, sin)
    out = attend_segments(q, k, v, cu_seqlens, self.scaling)
    return self.proj(out.reshape(seq, -1).contiguous())


def batch_vision_attention(model: torch.nn.Module) -> int:
    """Swap in the grouped forward on every vision attention module of `model`; returns how many."""
    patched = 0
    for module in model.modules():
        kind = (type(module).__module__, type(module).__name__)
        if kind not in VISION_ATTENTION_CLASSES or hasattr(module, _ORIGINAL):
            continue
        rotary = getattr(sys.modules[type(module).__module__], "apply_rotary_pos_emb_vision", None)
        if rotary is None or not all(hasattr(module, a) for a in ("qkv", "proj", "num_heads", "scaling", "config")):
            continue
        setattr(module, _ORIGINAL, module.forward)
        module._sif_rotary = rotary
        module.forward = types.MethodType(_grouped_forward, module)
        patched += 1
    if patched:
        log.debug("vision attention: %d modules batch their segments by length", patched)
    return patched


def restore_vision_attention(model: torch.nn.Module) -> int:
    """Undo `batch_vision_attention` (the library's per-segment loop again); returns how many."""
    restored = 0
    for module in model.modules():
        if hasattr(module, _ORIGINAL):
            for name in ("forward", _ORIGINAL, "_sif_rotary"):  # instance attributes; the class forward returns
                delattr(module, name)
            restored += 1
    return restored
