"""stage=export: merge a LoRA adapter into a standalone checkpoint that reloads with plain transformers."""

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
        from sif.models.lora import merge_lora_checkpoint

        adapter = self.cfg.stage.checkpoint
        if not adapter:
            raise ValueError("stage=export needs stage.checkpoint=<adapter folder> (e.g. an sft run's final/)")
        adapter_dir = Path(str(adapter)).expanduser().resolve()
        if not (adapter_dir / "adapter_config.json").exists():
            raise FileNotFoundError(f"{adapter_dir} holds no LoRA adapter (adapter_config.json)")
        out = self.ctx.run_dir / "merged"
        if self.ctx.is_main:
            merge_lora_checkpoint(str(adapter_dir), str(out), self.cfg.model, self.ctx.cache_dir, overwrite=True)
            log.info("merged %s into %s", adapter_dir, out)
        return {"checkpoint": str(out), "adapter": str(adapter_dir)}
