"""The end of a training stage (sft, grpo): the final weights into final/, and with LoRA a merged standalone
checkpoint into merged/ - the checkpoint the run's summary hands on."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from sif.training.ranks import barrier


def save_final(trainer: Any, ctx: Any, model_cfg: Any, merge: bool,
               extra_state: Optional[Callable[[Path], None]] = None) -> tuple[Path, Optional[Path]]:
    """final/ (every rank takes part: ZeRO-3 gathers), `extra_state(final/)` (e.g. the GRPO curriculum), the
    trainer state on rank 0, then merged/ on rank 0 when `merge` (LoRA only); every rank waits for it."""
    from sif.models.checkpoints import merge_lora_checkpoint

    final_dir = ctx.path("final")
    trainer.save_model(str(final_dir))
    if extra_state is not None:
        extra_state(final_dir)
    if ctx.is_main:
        trainer.state.save_to_json(str(final_dir / "trainer_state.json"))
    if not (model_cfg.lora.enabled and merge):
        return final_dir, None
    merged_dir = ctx.path("merged")
    if ctx.is_main:
        merge_lora_checkpoint(final_dir, merged_dir, model_cfg, ctx.cache_dir, overwrite=True)
    barrier()
    return final_dir, merged_dir
