"""stage=pipeline: generate -> sft -> grpo -> eval, each step's output handed to the next.

Each step is a normal stage run in its own sub-folder of the pipeline's run folder, through the same
runner, so each is resumable on its own: re-running the command skips finished steps (DONE markers) and
resumes an interrupted one from its checkpoints.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sif.config.store import STAGE_SCHEMAS
from sif.registry import STAGES
from sif.stages._base import Stage

log = logging.getLogger("sif.pipeline")
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def stage_node(name: str, overrides: dict) -> DictConfig:
    """The typed config of stage `name`: its schema, its conf/stage/<name>.yaml, then `overrides`."""
    node = OmegaConf.structured(STAGE_SCHEMAS[name])
    yaml_path = CONF_DIR / "stage" / f"{name}.yaml"
    if yaml_path.exists():
        data = OmegaConf.load(yaml_path)
        data.pop("defaults", None)
        node = OmegaConf.merge(node, data)
    return OmegaConf.merge(node, overrides)


def sub_config(cfg: DictConfig, name: str, overrides: dict, dataset_path: str | None) -> DictConfig:
    sub = cfg.copy()
    OmegaConf.set_struct(sub, False)
    sub.stage = stage_node(name, overrides)
    if dataset_path is not None:
        sub.dataset.path = dataset_path
    OmegaConf.set_struct(sub, True)
    return sub


@STAGES.register("pipeline")
class PipelineStage(Stage):
    name = "pipeline"

    def run(self) -> dict:
        from sif.runner import run as run_stage

        st = self.cfg.stage
        steps = list(st.steps)
        unknown = [s for s in steps if s not in ("generate", "sft", "grpo", "eval")]
        if unknown:
            raise ValueError(f"unknown pipeline steps {unknown}; known: generate, sft, grpo, eval")
        results: dict[str, dict] = {}
        data_path: str | None = str(self.cfg.dataset.path) if self.cfg.dataset.path else None
        checkpoint: str | None = None
        for step in steps:
            folder = self.ctx.run_dir / step
            extra: dict = dict(OmegaConf.to_container(st[step], resolve=True)) if st[step] else {}
            if step == "generate":
                for split in ("train", "eval"):
                    sub = sub_config(self.cfg, "generate", extra, None)
                    OmegaConf.set_struct(sub, False)
                    sub.dataset.split = split
                    results[f"generate_{split}"] = run_stage(sub, run_dir=folder / split)
                data_path = results["generate_train"]["samples_path"]
                continue
            if step == "sft":
                extra.setdefault("max_steps", int(st.sft_max_steps))
                if checkpoint:
                    extra.setdefault("init_from", checkpoint)
            elif step == "grpo":
                extra.setdefault("max_steps", int(st.grpo_max_steps))
                if checkpoint:
                    extra.setdefault("init_from", checkpoint)
            elif step == "eval" and checkpoint:
                extra.setdefault("checkpoint", checkpoint)
            log.info("pipeline: %s -> %s", step, folder)
            results[step] = run_stage(sub_config(self.cfg, step, extra, data_path), run_dir=folder)
            checkpoint = results[step].get("checkpoint", checkpoint)
        summary: dict = {"steps": {k: {m: v for m, v in r.items() if not isinstance(v, (dict, list))}
                                   for k, r in results.items()}}
        if "eval" in results:  # the eval step has just printed its table and the report's path
            ev = results["eval"]
            summary["objective"] = ev.get("objective")
            summary["report"] = str(Path(ev.get("run_dir", self.ctx.run_dir / "eval")) / "report.html")
        return summary
