"""Position channels for Qwen2-VL / Qwen2.5-VL models trained FROM SCRATCH (the offline `tiny` builder).

Why: a from-scratch model of the stock architecture cannot tell image columns apart (issue 14). Qwen2.5-VL's
M-RoPE gives the temporal, height and width axes consecutive chunks of the rotary frequencies, so width gets
the slowest ones: with rope_theta 1e6 the fastest width frequency turns 1.8e-4 rad per column, and over the
6-11 token columns of a small picture the keys of different columns are the same to attention. The vision
tower has only relative 2-D RoPE and no absolute position embedding. A pretrained checkpoint grounds anyway
(its tower learned position-bearing features from web-scale data); a random one has no channel for x.
Two remedies, each named in the saved config so every consumer applies the same rule:

* `text_mrope: interleaved` - frequency i goes to axis (temporal, height, width)[i mod 3] within the
  sections' reach, exactly Qwen3-VL's layout (`Qwen3VLTextRotaryEmbedding`; the test compares the two), so
  every axis gets fast and slow frequencies;
* `vision: sincos2d` - a fixed (parameter-free) sine/cosine code of the NORMALISED centre ((col + 0.5) / grid
  width, (row + 0.5) / grid height) is added twice: to each patch embedding (as Qwen3-VL adds its learned,
  interpolated absolute position embedding) and to each merged token the tower hands to the language model,
  where attention's values can read it directly. Measured (benchmarks/grounding_recipes.py, docs/RESULTS.md):
  with the patch-level code alone x emerged between 500 and >1,000 probe steps depending on the seed; with
  both, by 500 steps in every seed tried. Normalised, so it says where a token lies in the picture at any
  resolution, which is what normalised boxes ask for.

The choice lives in the model config under `sif_position_channel` (written by the tiny builder, kept by
every `save_pretrained`: SFT/GRPO checkpoints, merged exports). `apply_position_channel` is called by
`sif.models.factory.load_model`, so training, HF generate, the fast rollout (its prefill is the model's own
forward; decode positions are equal on all three axes, where the layout makes no difference), eval and export
use it alike. A config without the key (every pretrained checkpoint) is left exactly as the library builds it.
Loading such a folder with plain transformers (or vLLM) ignores the key: use SIF's loader.
"""

from __future__ import annotations

import logging
import math
import types
from typing import Any, Optional

import torch

log = logging.getLogger("sif.models")

CONFIG_KEY = "sif_position_channel"
TEXT_MROPE = ("chunked", "interleaved")  # chunked = the library's layout
VISION_POSITION = ("none", "sincos2d")
_APPLIED = "_sif_position_channel"
SINCOS_MAX_FREQUENCY = 64.0  # cycles across the picture of the fastest component (the slowest: half a cycle)


def position_channel_of(config: Any) -> dict[str, str]:
    """The model config's position channel, validated; {} when the config names none (pretrained models)."""
    raw = getattr(config, CONFIG_KEY, None)
    if not raw:
        return {}
    channel = {"text_mrope": str(raw.get("text_mrope", "chunked")), "vision": str(raw.get("vision", "none"))}
    unknown = sorted(set(raw) - set(channel))
    if unknown or channel["text_mrope"] not in TEXT_MROPE or channel["vision"] not in VISION_POSITION:
        raise ValueError(f"config {CONFIG_KEY}={dict(raw)!r}: expected text_mrope in {list(TEXT_MROPE)} and vision "
                         f"in {list(VISION_POSITION)}, no other keys")
    return channel


# ---- text: interleaved M-RoPE -------------------------------------------------------------------------
def interleave_mrope(freqs: torch.Tensor, mrope_section: list[int]) -> torch.Tensor:
    """(3, ..., dim/2) per-axis rotary angles (or their cos/sin) -> (..., dim): frequency i from axis 1 (height)
    when i = 1 mod 3 and i < 3 * section[1], from axis 2 (width) when i = 2 mod 3 and i < 3 * section[2], else
    from axis 0 (temporal); then duplicated for the rotate-half convention, as the library's recomposition."""
    out = freqs[0].clone()
    for axis, offset in ((1, 1), (2, 2)):
        index = slice(offset, int(mrope_section[axis]) * 3, 3)
        out[..., index] = freqs[axis, ..., index]
    return torch.cat((out, out), dim=-1)


def _interleaved_recomposition(self: Any, freq: torch.Tensor) -> torch.Tensor:
    return interleave_mrope(freq, self.mrope_section)


def _interleave_text_rotary(model: torch.nn.Module) -> int:
    swapped = 0
    for module in model.modules():
        if (hasattr(module, "mrope_section") and hasattr(module, "inv_freq")
                and callable(getattr(type(module), "recomposition_frequencies", None))):
            half = int(module.inv_freq.numel())
            if sum(int(s) for s in module.mrope_section) != half:
                raise ValueError(f"mrope_section {module.mrope_section} does not add up to {half} frequencies")
            module.recomposition_frequencies = types.MethodType(_interleaved_recomposition, module)
            swapped += 1
    if not swapped:
        raise ValueError("text_mrope=interleaved: no M-RoPE rotary module (with recomposition_frequencies) found; "
                         "this transformers version or architecture is not supported")
    return swapped


# ---- vision: fixed 2-D sine/cosine code of the normalised patch centre ----------------------------------------
def patch_grid_order(t: int, h: int, w: int, merge: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, col) of each patch in the processor's order: merge x merge blocks row-major, and inside each block
    its patches row-major (Qwen2-VL's image processor; the tower's own rotary positions use the same order)."""
    rows = torch.arange(h).view(h // merge, merge, 1, 1).expand(h // merge, merge, w // merge, merge)
    cols = torch.arange(w).view(1, 1, w // merge, merge).expand(h // merge, merge, w // merge, merge)
    rows = rows.permute(0, 2, 1, 3).reshape(-1).repeat(t)
    cols = cols.permute(0, 2, 1, 3).reshape(-1).repeat(t)
    return rows, cols


def sincos_2d(grid_thw: torch.Tensor, dim: int, merge: int) -> torch.Tensor:
    """[patches, dim]: for each patch, sin/cos of x = (col + 0.5) / w and of y = (row + 0.5) / h at dim/4
    frequencies from 0.5 to SINCOS_MAX_FREQUENCY cycles per picture (geometric), in the order [sin x, cos x,
    sin y, cos y]; zero-padded when dim is not a multiple of 4."""
    quarter = dim // 4
    if quarter < 1:
        raise ValueError(f"vision hidden size {dim} < 4: no room for a 2-D sine/cosine code")
    spread = torch.arange(quarter, dtype=torch.float64) / max(1, quarter - 1)
    angular = math.pi * (2.0 * SINCOS_MAX_FREQUENCY) ** spread  # pi (half a cycle) .. 2 pi * max_frequency
    parts = []
    for t, h, w in grid_thw.tolist():
        rows, cols = patch_grid_order(int(t), int(h), int(w), merge)
        x = (cols.double() + 0.5) / w
        y = (rows.double() + 0.5) / h
        code = [torch.sin(x[:, None] * angular), torch.cos(x[:, None] * angular),
                torch.sin(y[:, None] * angular), torch.cos(y[:, None] * angular)]
        parts.append(torch.cat(code, dim=-1))
    out = torch.cat(parts) if parts else torch.zeros(0, 4 * quarter, dtype=torch.float64)
    if out.shape[1] < dim:
        out = torch.nn.functional.pad(out, (0, dim - out.shape[1]))
    return out


class _GridOfCall:
    """The image grid of the tower call in progress, shared by the tower (writes) and its patch embedding
    (reads). A plain object, so `copy.deepcopy` of the model gives the copy its own."""

    def __init__(self) -> None:
        self.grid_thw: Optional[torch.Tensor] = None


def merged_code(grid_thw: torch.Tensor, dim: int, merge: int) -> torch.Tensor:
    """The sine/cosine code of each MERGED token's centre ([tokens, dim], the merger's output order: merged
    blocks row-major per image), i.e. sincos_2d on the grid divided by the merge size."""
    grid = grid_thw.clone()
    grid[:, 1:] = grid[:, 1:] // merge
    return sincos_2d(grid, dim, 1)


def _add_to_output(out: Any, code: torch.Tensor) -> Any:
    if isinstance(out, torch.Tensor):
        return out + code.to(device=out.device, dtype=out.dtype)
    pooled = out.pooler_output
    out.pooler_output = pooled + code.to(device=pooled.device, dtype=pooled.dtype)
    return out


def _tower_forward(self: Any, hidden_states: torch.Tensor, grid_thw: Optional[torch.Tensor] = None, *args: Any,
                   **kwargs: Any) -> Any:
    grid = grid_thw if grid_thw is not None else kwargs.get("grid_thw")
    self._sif_grid.grid_thw = grid
    try:
        out = self._sif_library_tower_forward(hidden_states, grid_thw, *args, **kwargs)
    finally:
        self._sif_grid.grid_thw = None
    pooled = out if isinstance(out, torch.Tensor) else out.pooler_output
    return _add_to_output(out, merged_code(grid, pooled.shape[-1], int(self.spatial_merge_size)))


def _patch_embed_forward(self: Any, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    out = self._sif_library_patch_forward(hidden_states, *args, **kwargs)
    grid = self._sif_grid.grid_thw
    if grid is None:
        raise RuntimeError("vision position code: the patch embedding ran outside a tower call (no image grid)")
    code = sincos_2d(grid, out.shape[-1], self._sif_merge)
    if code.shape[0] != out.shape[0]:
        raise RuntimeError(f"vision position code: {code.shape[0]} patch positions for {out.shape[0]} patches")
    return out + code.to(device=out.device, dtype=out.dtype)


def _vision_towers(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in model.modules() if hasattr(m, "patch_embed") and hasattr(m, "spatial_merge_size")
            and isinstance(getattr(m, "patch_embed"), torch.nn.Module)]


def _add_vision_sincos(model: torch.nn.Module) -> int:
    towers = _vision_towers(model)
    if not towers:
        raise ValueError("vision=sincos2d: no vision tower with a patch embedding found")
    for tower in towers:
        grid = _GridOfCall()
        tower._sif_grid = grid
        tower._sif_library_tower_forward = tower.forward
        tower.forward = types.MethodType(_tower_forward, tower)
        embed = tower.patch_embed
        embed._sif_grid = grid
        embed._sif_merge = int(tower.spatial_merge_size)
        embed._sif_library_patch_forward = embed.forward
        embed.forward = types.MethodType(_patch_embed_forward, embed)
    return len(towers)


def refuse_position_channel(path: str) -> None:
    """Raise when the checkpoint at `path` names a position channel: engines that load it themselves (vLLM)
    would silently run the library's layout, i.e. a different model."""
    import json
    from pathlib import Path

    config = Path(str(path)) / "config.json"
    if config.is_file() and json.loads(config.read_text(encoding="utf-8")).get(CONFIG_KEY):
        raise ValueError(f"{path} names a position channel ({CONFIG_KEY}); vLLM would ignore it and run another "
                         "model: use backend=hf (or backend.fast=true) for models built by SIF from scratch")


def apply_position_channel(model: torch.nn.Module) -> dict[str, str]:
    """Apply the position channel named in `model.config` (idempotent); returns it ({} for none)."""
    channel = position_channel_of(getattr(model, "config", None))
    if not channel or getattr(model, _APPLIED, None) == channel:
        return channel
    if getattr(model, _APPLIED, None):
        raise RuntimeError(f"position channel already applied as {getattr(model, _APPLIED)}; not re-applied")
    if channel["text_mrope"] == "interleaved":
        _interleave_text_rotary(model)
    if channel["vision"] == "sincos2d":
        _add_vision_sincos(model)
    setattr(model, _APPLIED, dict(channel))
    log.debug("position channel %s applied", channel)
    return channel
