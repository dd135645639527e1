"""stage=pipeline: generate -> sft -> grpo -> [blind] -> eval, each step's output handed to the next.

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


TRAIN_STEPS = ("probe", "sft", "grpo")  # each starts from the checkpoint of the one before it
KNOWN_STEPS = ("generate", "probe", "sft", "grpo", "blind", "eval")


@STAGES.register("pipeline")
class PipelineStage(Stage):
    """The steps in order. `probe` is the grounding warm-up (sif/stages/probe.py: "Where is the <object>?" ->
    its box), whose checkpoint the next training step starts from, as the paper starts from a VLM that can
    already ground. `blind` is the blind-control arm (issue 14): the training steps of the list (probe, sft,
    grpo) run again with every picture blank (`image_inputs=blank`, sif.views) into blind/<step>/, then that
    arm's eval; the main `eval` (which must come after it) shows its numbers among the controls."""

    name = "pipeline"

    def run(self) -> dict:
        st = self.cfg.stage
        steps = list(st.steps)
        unknown = [s for s in steps if s not in KNOWN_STEPS]
        if unknown:
            raise ValueError(f"unknown pipeline steps {unknown}; known: {', '.join(KNOWN_STEPS)}")
        if "blind" in steps and "eval" in steps and steps.index("blind") > steps.index("eval"):
            raise ValueError("pipeline step 'blind' must come before 'eval' (the eval shows the blind arm)")
        results: dict[str, dict] = {}
        data_path: str | None = str(self.cfg.dataset.path) if self.cfg.dataset.path else None
        checkpoint: str | None = None
        blind_results: str | None = None
        for step in steps:
            if step == "generate":
                data_path = self._generate(results)
            elif step == "blind":
                arm = [s for s in steps if s in TRAIN_STEPS] + ["eval"]
                blind = self._arm(arm, self.ctx.run_dir / "blind", data_path, blank=True, prefix="blind_")
                results.update(blind)
                blind_results = str(Path(blind["blind_eval"].get("run_dir", self.ctx.run_dir / "blind" / "eval")))
            else:
                extra = {"blind_results": blind_results} if step == "eval" and blind_results else {}
                results.update(self._arm([step], self.ctx.run_dir, data_path, blank=False, checkpoint=checkpoint,
                                         extra=extra))
                checkpoint = results[step].get("checkpoint", checkpoint)
        summary: dict = {"steps": {k: {m: v for m, v in r.items() if not isinstance(v, (dict, list))}
                                   for k, r in results.items()}}
        if "eval" in results:  # the eval step has just printed its table and the report's path
            ev = results["eval"]
            summary["objective"] = ev.get("objective")
            summary["report"] = str(Path(ev.get("run_dir", self.ctx.run_dir / "eval")) / "report.html")
        return summary

    def _generate(self, results: dict) -> str:
        from sif.runner import run as run_stage

        st = self.cfg.stage
        extra = dict(OmegaConf.to_container(st.generate, resolve=True)) if st.generate else {}
        for split in ("train", "eval"):
            sub = sub_config(self.cfg, "generate", extra, None)
            OmegaConf.set_struct(sub, False)
            sub.dataset.split = split
            results[f"generate_{split}"] = run_stage(sub, run_dir=self.ctx.run_dir / "generate" / split)
        return results["generate_train"]["samples_path"]

    def _arm(self, steps: list[str], root: Path, data_path: str | None, blank: bool, prefix: str = "",
             checkpoint: str | None = None, extra: dict | None = None) -> dict[str, dict]:
        """Run `steps` (sft / grpo / eval) in order under `root`, each from the previous one's checkpoint."""
        from sif.runner import run as run_stage

        st, results = self.cfg.stage, {}
        for step in steps:
            opts: dict = dict(OmegaConf.to_container(st[step], resolve=True)) if st[step] else {}
            opts.update(extra or {})
            if step in ("sft", "grpo"):
                opts.setdefault("max_steps", int(st.sft_max_steps if step == "sft" else st.grpo_max_steps))
            if step in TRAIN_STEPS:
                if checkpoint:
                    opts.setdefault("init_from", checkpoint)
                if blank:
                    opts["image_inputs"] = "blank"
            elif step == "eval" and checkpoint:
                opts.setdefault("checkpoint", checkpoint)
            sub = sub_config(self.cfg, step, opts, data_path)
            if blank and step == "eval":
                OmegaConf.set_struct(sub, False)
                sub.backend.image_inputs = "blank"
                sub.stage.blind_results = None
                OmegaConf.set_struct(sub, True)
            log.info("pipeline: %s%s -> %s", prefix, step, root / step)
            results[prefix + step] = run_stage(sub, run_dir=root / step)
            checkpoint = results[prefix + step].get("checkpoint", checkpoint)
        return results
