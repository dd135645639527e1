"""`rollout.generation_weights=shared`: the fast decode path on the training weights themselves, no copy.

The default (`copy`, sif.fastgen.decoder.DecodeWeights) keeps generation-only copies of the text stack -
q/k/v and gate/up fused, LoRA merged - which costs one more copy of the language model in GPU memory (6.2 GB
at 3B, ~15 GB at 7B, docs/PERFORMANCE.md). Here every projection reads the model's own weight tensors by
reference and adds each active LoRA adapter as its two low-rank products (`x A^T B^T * scale`, in the order
peft computes it); nothing is copied, and a graph captured once stays valid because the optimizer updates
those tensors in place. The price is more kernels per layer (separate q/k/v and gate/up products and two
small ones per adapted projection), i.e. a slower decode step: the mode for when memory is short.
"""

from __future__ import annotations

from typing import Any

from sif.fastgen.decoder import TextStack, attend_new_token, rms_norm

# a projection: (weight, bias or None, ((A, B, scale), ...))
Proj = tuple


def projection(module: Any) -> Proj:
    """The tensors a (possibly peft-wrapped) linear module computes with, by reference."""
    base = getattr(module, "base_layer", module)
    bias = base.bias if getattr(base, "bias", None) is not None else None
    loras = []
    if hasattr(module, "lora_A") and not getattr(module, "disable_adapters", False) and not getattr(module, "merged",
                                                                                                     False):
        active = getattr(module, "active_adapters", None) or []
        for name in [active] if isinstance(active, str) else active:
            if name not in module.lora_A:
                continue
            if getattr(module, "use_dora", {}).get(name, False):
                raise NotImplementedError("DoRA adapters are not supported by generation_weights=shared")
            if getattr(module, "lora_bias", {}).get(name, False):
                raise NotImplementedError("LoRA bias (peft lora_bias=True) is not supported by the fast decoder")
            loras.append((module.lora_A[name].weight, module.lora_B[name].weight, float(module.scaling[name])))
    return (base.weight, bias, tuple(loras))


def lin(x, p: Proj):
    import torch.nn.functional as F

    w, b, loras = p
    y = F.linear(x, w, b)
    for a, bm, scale in loras:
        y = y + F.linear(F.linear(x, a), bm) * scale
    return y


class SharedWeights:
    """The same interface as DecodeWeights (layers, embed, norm, head, rotary), holding references only."""

    shared = True

    def __init__(self, stack: TextStack, device: Any, dtype: Any) -> None:
        s = stack
        self.device, self.dtype = device, dtype
        self.n_heads, self.n_kv, self.head_dim, self.hidden, self.inter, self.eps = (
            s.n_heads, s.n_kv, s.head_dim, s.hidden, s.inter, s.eps)
        self.inv_freq = s.rotary.inv_freq.detach().to(device=device, dtype=__import__("torch").float32).clone()
        self.rope_scaling = float(getattr(s.rotary, "attention_scaling", 1.0) or 1.0)
        self.refresh(stack)

    def refresh(self, stack: TextStack) -> None:
        """Re-read the references (adapters may have been added or switched); nothing is copied."""
        self.layers = []
        for layer in stack.layers:
            attn, mlp = layer.self_attn, layer.mlp
            self.layers.append({
                "ln1": layer.input_layernorm.weight, "ln2": layer.post_attention_layernorm.weight,
                "q": projection(attn.q_proj), "k": projection(attn.k_proj), "v": projection(attn.v_proj),
                "o": projection(attn.o_proj), "g": projection(mlp.gate_proj), "u": projection(mlp.up_proj),
                "d": projection(mlp.down_proj),
                "qn": attn.q_norm.weight if stack.qk_norm else None, "kn": attn.k_norm.weight if stack.qk_norm else None,
            })
        self.embed = stack.embed.weight
        self.head = projection(stack.lm_head)
        self.lm_head = self.head[0]  # its shape sizes the engine's buffers
        self.norm = stack.norm.weight
        self.bytes_per_step = self._decode_bytes()

    def _decode_bytes(self) -> int:
        def size(p: Proj) -> int:
            w, b, loras = p
            n = w.numel() * w.element_size() + (b.numel() * b.element_size() if b is not None else 0)
            return n + sum(a.numel() * a.element_size() + bm.numel() * bm.element_size() for a, bm, _ in loras)

        total = sum(size(lw[k]) for lw in self.layers for k in "qkvogud")
        return total + size(self.head) + self.norm.numel() * self.norm.element_size()


def layer_step_shared(x, lw: dict, k_cache, v_cache, cos, sin, write_idx, mask, n_heads: int, n_kv: int,
                      head_dim: int, eps: float):
    """`sif.fastgen.decoder.layer_step` on referenced weights: the same arithmetic, unfused projections."""
    import torch.nn.functional as F

    bsz = x.shape[0]
    h = rms_norm(x, lw["ln1"], eps)
    attn = attend_new_token(lin(h, lw["q"]).view(bsz, n_heads, head_dim), lin(h, lw["k"]).view(bsz, n_kv, head_dim),
                            lin(h, lw["v"]).view(bsz, n_kv, head_dim), k_cache, v_cache, cos, sin, write_idx, mask,
                            n_heads, n_kv, head_dim, eps, lw["qn"], lw["kn"])
    x = x + lin(attn, lw["o"])
    h = rms_norm(x, lw["ln2"], eps)
    return x + lin(F.silu(lin(h, lw["g"])) * lin(h, lw["u"]), lw["d"])
