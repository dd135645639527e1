"""stage=grpo: GRPO-SIF (spec §3) on TRL's GRPOTrainer.

Prompt = THE prompt with [RGB, depth] images (as SFT and eval); rewards = the reward group's registered
functions (weights from the group, moved by the curriculum at every step); the progress memory and the
curriculum state are saved in every checkpoint and restored on resume. The run folder gets checkpoints/
(stage.resume=auto continues from the newest), final/ (model or LoRA adapter + processor), merged/ (LoRA
merged into a standalone checkpoint), metrics.jsonl, completions/ (text + pictures every
stage.save_completions_every steps), skipped.jsonl and summary.json, whose "checkpoint" is what eval loads.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from sif.registry import STAGES
from sif.stages._base import Stage

log = logging.getLogger("sif.grpo")


@STAGES.register("grpo")
class GRPOStage(Stage):
    name = "grpo"

    def run(self) -> dict:
        from trl import GRPOConfig

        from sif.grpo.args import grpo_kwargs
        from sif.grpo.data import build_rows
        from sif.grpo.rollout import rollout_plan
        from sif.training.args import configure_logger_env

        cfg, st, run_dir = self.cfg, self.stage_cfg, self.ctx.run_dir
        plan = rollout_plan(cfg.rollout, cfg.zoom)  # fails now (e.g. vllm missing) rather than after loading data
        configure_logger_env(cfg.logger, run_dir)
        funcs, weights, suite, memory = self._rewards()
        names = [f.__name__ for f in funcs]
        from sif.curriculum import build_curriculum

        curriculum = build_curriculum(cfg.curriculum, dict(zip(names, weights)))
        start_weights = curriculum.weight_vector(0.0, names)
        ordered = str(cfg.curriculum.order_by) != "none"
        args = GRPOConfig(**grpo_kwargs(st, cfg, run_dir, start_weights, self.ctx.world_size, plan.args,
                                        shuffle=not ordered))
        with args.main_process_first(desc="grpo data"):  # rank 0 generates the synthetic cache; others wait
            data = build_rows(cfg, st, curriculum)
        if self.ctx.is_main:
            data.report.write_rejections(self.ctx.path("skipped.jsonl"))
        data.report.raise_if_bad(bool(cfg.strict))
        if not data.items:
            raise ValueError(f"no usable sample in {data.samples_path} ({data.report.by_reason()})")
        log.info("grpo: %d samples (%d skipped) from %s; rewards %s; rollout=%s", len(data.items),
                 len(data.report.rejected), data.samples_path, dict(zip(names, start_weights)), plan.name)

        trainer, callbacks = self._trainer(args, data.dataset, funcs, curriculum, memory, suite, plan)
        from sif.training.resume import resolve_resume

        resume = resolve_resume(st.resume, run_dir / "checkpoints")
        restored = trainer.restore_sif_state(resume)
        if resume and self.ctx.is_main:  # what this session continues from, for the record (and the tests)
            from sif.io import write_json

            write_json(self.ctx.path("resumed_from.json"), {
                "checkpoint": resume, "found": restored, "curriculum": curriculum.state_dict(),
                "progress_memory": memory.state_dict()})
        started = time.time()
        output = trainer.train(resume_from_checkpoint=resume)
        train_time = time.time() - started
        from sif.training.final import save_final

        final_dir, merged_dir = save_final(trainer, self.ctx, self.cfg.model, merge=True,
                                           extra_state=trainer.save_sif_state)
        summary = self._summary(trainer, output.metrics, names, args, final_dir, merged_dir, train_time)
        summary.update(samples_path=str(data.samples_path), resumed_from=resume, restored=restored,
                       rollout=plan.name, curriculum=curriculum.state_dict(), **data.report.to_summary())
        summary["completion_snapshots"] = [str(p) for p in callbacks["snapshots"].written]
        judge = getattr(suite, "judge", None)
        if judge is not None:  # every judge call, retry and fallback, by reason, in the run summary
            summary["judge"] = judge.stats.to_dict()
        if suite is not None:
            summary["reward_counters"] = dict(getattr(suite, "counters", {}) or {})
        return summary

    # ---- rewards -----------------------------------------------------------------------------------------
    def _rewards(self) -> tuple[list, list[float], Any, Any]:
        from sif.rewards import ProgressMemory, build_reward_funcs

        cfg = self.cfg
        judge = None
        if str(cfg.reward.answer_scorer) == "judge":
            if str(cfg.judge.name) == "none":
                raise ValueError("reward.answer_scorer=judge needs a judge endpoint: set judge=openai (and "
                                 "judge.base_url / judge.model), or reward.answer_scorer=rule")
            from sif.llm.judge import Judge

            judge = Judge(cfg.judge, cache_dir=self.ctx.cache_dir / "llm")
        memory = ProgressMemory()
        funcs, weights = build_reward_funcs(cfg.reward, judge=judge, progress_memory=memory)
        suite = getattr(funcs[0], "suite", None)
        return funcs, weights, suite, memory

    # ---- model and trainer -------------------------------------------------------------------------------
    def _trainer(self, args: Any, dataset: Any, funcs: list, curriculum: Any, memory: Any, suite: Any,
                 plan: Any) -> tuple[Any, dict]:
        from sif.curriculum import CurriculumCallback
        from sif.models.factory import load_model_and_processor
        from sif.grpo.model import lora_peft_config
        from sif.grpo.snapshots import CompletionSnapshotCallback, SnapshotColumns
        from sif.grpo.trainer import SIFGRPOTrainer, SuiteStatsCallback
        from sif.training.callbacks import MetricsJsonlCallback

        cfg, st = self.cfg, self.stage_cfg
        # rank 0 builds the tiny model or merges an init adapter first, the others wait
        path = self.weights(args.main_process_first)
        from sif.training.vision_grads import drop_frozen_vision_input_grads

        model, processor = load_model_and_processor(cfg.model, self.ctx.cache_dir, path=path, training=True)
        peft_config = lora_peft_config(model, cfg.model.lora) if cfg.model.lora.enabled else None
        callbacks = {
            "metrics": MetricsJsonlCallback(self.ctx.path("metrics.jsonl")),
            "curriculum": CurriculumCallback(curriculum),
            "suite": SuiteStatsCallback(suite),
            "snapshots": CompletionSnapshotCallback(self.ctx.path("completions"), int(st.save_completions_every),
                                                    int(st.num_completions_to_save)),
        }
        reward_funcs = [SnapshotColumns(funcs[0]), *funcs[1:]]
        trainer = SIFGRPOTrainer(model=model, reward_funcs=reward_funcs, args=args, train_dataset=dataset,
                                 processing_class=processor, peft_config=peft_config,
                                 callbacks=list(callbacks.values()), **plan.trainer_kwargs)
        trainer.sif_curriculum, trainer.sif_progress_memory = curriculum, memory
        if bool(getattr(st, "step_split", False)):
            trainer.enable_step_split()
        drop_frozen_vision_input_grads(trainer.model)
        for key in ("curriculum", "suite", "snapshots"):
            callbacks[key].trainer = trainer
        if peft_config is not None and self.ctx.is_main:
            trainer.model.print_trainable_parameters()
        return trainer, callbacks

    # ---- reporting ---------------------------------------------------------------------------------------
    def _summary(self, trainer: Any, train_metrics: dict, names: list[str], args: Any, final_dir: Path,
                 merged_dir: Path | None, train_time: float) -> dict:
        from sif.grpo.summary import grpo_numbers

        state = trainer.state
        per_step = int(args.per_device_train_batch_size) * self.ctx.world_size * int(args.gradient_accumulation_steps)
        numbers = grpo_numbers(state.log_history, names, per_step)
        summary: dict[str, Any] = {
            "checkpoint": str(merged_dir or final_dir),
            "final_dir": str(final_dir),
            "merged_dir": str(merged_dir) if merged_dir else None,
            "lora": bool(self.cfg.model.lora.enabled),
            "global_step": int(state.global_step),
            "steps": int(state.global_step),
            "reward_names": names,
            "reward_weights_final": {n: float(w) for n, w in zip(names, trainer.reward_weights.tolist())},
            "train_runtime": train_metrics.get("train_runtime"),
            "train_session_s": round(train_time, 3),
            **numbers,
        }
        log.info("grpo: %d steps, reward %s -> %s (objective %s), %.2f s/step, %s completion tokens/s; checkpoint %s",
                 summary["steps"], summary["reward_first"], summary["reward_last"], summary["objective"],
                 summary["step_time_s"] or float("nan"), summary["completion_tokens_per_s"], summary["checkpoint"])
        return summary
