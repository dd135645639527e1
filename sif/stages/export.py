"""stage=export: a standalone checkpoint that reloads with plain transformers, from any weight source of
sif.models.checkpoints (a LoRA adapter is merged into its base; a run folder hands on its checkpoint)."""

from __future__ import annotations

import logging
from pathlib import Path

from sif.registry import STAGES
from sif.stages._base import Stage

log = logging.getLogger("sif.export")


@STAGES.register("export")
class ExportStage(Stage):
    name = "export"

    def run(self) -> dict:
        from sif.models.checkpoints import (is_adapter_dir, merge_lora_checkpoint, resolve_init_from,
                                            resolve_weights, save_standalone)

        source = self.cfg.stage.checkpoint
        if not source:
            raise ValueError("stage=export needs stage.checkpoint=<adapter, checkpoint or run folder, or hub id> "
                             "(e.g. an sft run's final/)")
        out = self.ctx.run_dir / "merged"
        followed = resolve_init_from(str(source))  # a run folder's checkpoint; else the source itself
        if is_adapter_dir(followed):  # merged straight into the run folder, not through the merge cache
            adapter = str(Path(followed).expanduser().resolve())
            if self.ctx.is_main:
                merge_lora_checkpoint(adapter, str(out), self.cfg.model, self.ctx.cache_dir, overwrite=True)
                log.info("merged %s into %s", adapter, out)
            return {"checkpoint": str(out), "adapter": adapter, "source": str(source)}
        weights = resolve_weights(str(source), self.cfg.model, self.ctx.cache_dir)
        if self.ctx.is_main:
            save_standalone(weights, out, self.cfg.model)
            log.info("exported %s into %s", weights, out)
        return {"checkpoint": str(out), "adapter": None, "source": str(source)}
