"""No backward pass through a frozen vision tower.

TRL's SFT and GRPO trainers call `enable_input_require_grads()` on a PEFT model trained with gradient
checkpointing. In transformers 5.x that hooks EVERY input embedding the model exposes, and Qwen2.5-VL's vision
tower exposes its `patch_embed`: the patch embeddings then require grad, so autograd records the whole vision
tower and the backward pass recomputes and differentiates it for every picture of every sample - although no
vision weight is trained (LoRA leaves the tower out by default) and nothing else needs those gradients.

The hook exists only for reentrant checkpointing, which needs a checkpointed segment's input to require grad.
Where the tower's blocks hold no trainable parameter, no checkpointed vision segment has anything to
differentiate, so removing the hook changes no gradient (tests/training/test_vision_grads.py) and saves the
tower's backward. The language model's hook is left as TRL set it.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("sif.training")

REQUIRE_GRADS_HOOK = "make_inputs_require_grads"  # the hook transformers' enable_input_require_grads registers


def _base(model: Any) -> Any:
    get_base = getattr(model, "get_base_model", None)  # PEFT wrapper
    return get_base() if callable(get_base) else model


def drop_frozen_vision_input_grads(model: Any) -> bool:
    """Remove the require-grad hook from the vision tower's patch embedding when none of the tower's blocks
    trains. Returns True when a hook was removed."""
    from sif.models.factory import vision_modules

    base = _base(model)
    tower_name, _ = vision_modules(base)
    if tower_name is None:
        return False
    tower = base.get_submodule(tower_name)
    patch_embed = getattr(tower, "patch_embed", None)
    if patch_embed is None:
        return False
    trains = any(p.requires_grad for n, p in tower.named_parameters() if not n.startswith("merger."))
    if trains:
        return False
    # every enable_input_require_grads() call adds a hook and forgets the previous handles (PEFT calls it, then
    # TRL does), so the hooks are found on the module itself, by the function transformers registers
    stale = [key for key, fn in patch_embed._forward_hooks.items()
             if getattr(fn, "__name__", "") == REQUIRE_GRADS_HOOK]
    for key in stale:  # what RemovableHandle.remove() would do, for handles nobody kept
        for table in ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called"):
            getattr(patch_embed, table, {}).pop(key, None)
    for owner in base.modules():
        hooks = getattr(owner, "_require_grads_hooks", None)
        if hooks:
            hooks[:] = [h for h in hooks if h.id not in stale]
            if getattr(owner, "_require_grads_hook", None) is not None and \
                    owner._require_grads_hook.id in stale:  # the single-hook spelling of older versions
                if hooks:
                    owner._require_grads_hook = hooks[0]
                else:
                    del owner._require_grads_hook
    removed = bool(stale)
    if removed:
        log.info("vision tower frozen: its patch embeddings no longer require grad (no backward through it)")
    return removed
