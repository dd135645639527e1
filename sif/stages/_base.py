"""The stage interface: a config, a run folder, and `run()` returning the run's summary."""

from __future__ import annotations

from typing import Any, ClassVar

from omegaconf import DictConfig, OmegaConf

from sif.runinfo import RunContext


class Stage:
    name: ClassVar[str] = ""
    uses_torch: ClassVar[bool] = True  # the runner seeds torch (and imports it) only for these

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        self.cfg = cfg
        self.ctx = ctx

    @property
    def stage_cfg(self) -> Any:
        """This stage's typed config (its dataclass instance)."""
        return OmegaConf.to_object(self.cfg.stage)

    def weights(self, main_process_first: Any = None) -> str:
        """The weights this stage starts from: `stage.init_from` (training) or `stage.checkpoint` (eval, export),
        any source sif.models.checkpoints knows (nothing, hub id, checkpoint, LoRA adapter, run folder)."""
        from sif.models.checkpoints import resolve_weights

        st = self.cfg.stage
        source = st.get("init_from") if "init_from" in st else st.get("checkpoint")
        return resolve_weights(source, self.cfg.model, self.ctx.cache_dir, main_process_first)

    def run(self) -> dict:  # pragma: no cover - interface
        raise NotImplementedError
