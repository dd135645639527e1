"""stage=sft: the warm-up (spec §2) on TRL's SFTTrainer: prompt = THE prompt with [RGB, depth] images, completion
= the sample's chain, loss on the completion only.

Every sample is checked before training (images, depth, chain grammar, token length with image tokens);
bad ones are skipped and counted by id (strict=false) or stop the run with the full list (strict=true).
The run folder gets checkpoints/ (resumable: stage.resume=auto), final/ (model or LoRA adapter + processor),
merged/ (LoRA merged into a standalone checkpoint, with stage.merge_lora), metrics.jsonl, loss_curve.png,
skipped.jsonl and summary.json, whose "checkpoint" is what the next stage loads.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from sif.registry import STAGES
from sif.stages._base import Stage

log = logging.getLogger("sif.sft")

@STAGES.register("sft")
class SFTStage(Stage):
    name = "sft"

    def run(self) -> dict:
        from trl import SFTConfig

        from sif.training.args import configure_logger_env, eval_kwargs, training_kwargs
        from sif.views import view_of

        cfg, st, run_dir = self.cfg, self.stage_cfg, self.ctx.run_dir
        view = view_of(st.image_inputs)
        with_depth = view.with_depth
        configure_logger_env(cfg.logger, run_dir)
        args = SFTConfig(
            **training_kwargs(st, cfg, run_dir), **eval_kwargs(st, st.eval_fraction > 0),
            max_length=int(st.max_length), completion_only_loss=True,
        )
        started = time.perf_counter()
        report, samples_file = self._checked_samples(args, with_depth)
        checked_s = time.perf_counter() - started
        from sif.training.dataset import ExampleTransform, build_dataset, split_train_eval

        train_items, eval_items = split_train_eval(report.kept, float(st.eval_fraction), int(cfg.seed))
        if not eval_items:  # too few samples to hold any out
            from transformers.trainer_utils import IntervalStrategy

            args.eval_strategy, args.do_eval = IntervalStrategy.NO, False
        transform = ExampleTransform(with_depth=with_depth, completion=True,
                                     max_pixels=int(cfg.dataset.max_pixels), blank=view.blank, style=str(st.prompt))
        train_ds = build_dataset(train_items, transform)
        eval_ds = build_dataset(eval_items, transform) if eval_items else None
        log.info("sft: %d train / %d eval samples (%d skipped) from %s, checked in %.1f s", len(train_items),
                 len(eval_items), len(report.rejected), samples_file, checked_s)

        started = time.perf_counter()
        trainer, metrics_cb = self._trainer(args, train_ds, eval_ds)
        log.info("sft: model and trainer ready in %.1f s", time.perf_counter() - started)
        from sif.training.resume import resolve_resume

        resume = resolve_resume(st.resume, run_dir / "checkpoints")
        output = trainer.train(resume_from_checkpoint=resume)
        eval_loss = _last(trainer.state.log_history, "eval_loss")
        if eval_loss is None and eval_ds is not None:
            eval_loss = trainer.evaluate().get("eval_loss")
        started = time.perf_counter()
        from sif.training.final import save_final

        final_dir, merged_dir = save_final(trainer, self.ctx, self.cfg.model,
                                           merge=bool(self.stage_cfg.merge_lora))
        log.info("sft: saved %s in %.1f s", merged_dir or final_dir, time.perf_counter() - started)

        summary = self._summary(trainer, output.metrics, metrics_cb, report, eval_loss, final_dir, merged_dir)
        summary.update(samples_path=str(samples_file), resumed_from=resume,
                       samples_train=len(train_items), samples_eval=len(eval_items))
        if self.ctx.is_main:
            self._write_plots(trainer)
        return summary

    # ---- data ------------------------------------------------------------------------------------------
    def _checked_samples(self, args: Any, with_depth: bool):
        """Every sample checked (files, chain, token length) before any model is loaded; strict stops here."""
        from sif.generate.dataset_cache import samples_path
        from sif.models.factory import load_processor
        from sif.training.dataset import sft_example
        from sif.training.lengths import TokenCounter
        from sif.training.samples import drop_too_long, load_checked_samples

        cfg, st = self.cfg, self.stage_cfg
        # rank 0 generates the synthetic cache and builds the tiny model's; the others wait, then find them
        with args.main_process_first(desc="sft data"):
            path = samples_path(cfg, "train")
            self.weights()
        report = load_checked_samples(
            path, image_root=cfg.dataset.image_root, allow_escape=bool(cfg.dataset.allow_path_escape),
            with_depth=with_depth, require_chain=True, paper_compat=bool(cfg.reward.paper_compat),
            max_pixels=int(cfg.dataset.max_pixels),
        )
        processor = load_processor(self.weights(), cfg.model)
        drop_too_long(report, TokenCounter(processor), lambda item: sft_example(item, with_depth, str(st.prompt)),
                      int(st.max_length))
        if self.ctx.is_main:
            report.write_rejections(self.ctx.path("skipped.jsonl"))
        report.raise_if_bad(bool(cfg.strict))
        if not report.kept:
            raise ValueError(f"no usable sample in {path} ({report.by_reason()})")
        return report, path

    # ---- model and trainer -------------------------------------------------------------------------------
    def _trainer(self, args: Any, train_ds: Any, eval_ds: Any):
        from trl import SFTTrainer

        from sif.models.factory import load_model_and_processor
        from sif.models.lora import apply_lora
        from sif.training.callbacks import MetricsJsonlCallback
        from sif.training.resume import ConvertedCheckpointResumeMixin
        from sif.training.vision_grads import drop_frozen_vision_input_grads

        class SIFSFTTrainer(ConvertedCheckpointResumeMixin, SFTTrainer):
            pass

        cfg = self.cfg
        model, processor = load_model_and_processor(cfg.model, self.ctx.cache_dir, path=self.weights(),
                                                    training=True)
        if cfg.model.lora.enabled:
            model = apply_lora(model, cfg.model.lora)
            if self.ctx.is_main:
                model.print_trainable_parameters()
        metrics_cb = MetricsJsonlCallback(self.ctx.path("metrics.jsonl"))
        extra: dict[str, Any] = {}
        if bool(getattr(self.stage_cfg, "zoom", False)):  # crop turns after the areas (the zoom node's rules)
            from sif.zoom.settings import rollout_settings
            from sif.zoom.sft import ZoomSFTCollator

            settings = rollout_settings(cfg.get("zoom"), max_new_tokens=int(args.max_length or 2048))
            extra["data_collator"] = ZoomSFTCollator(processor, settings, max_length=args.max_length)
        trainer = SIFSFTTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                             processing_class=processor, callbacks=[metrics_cb], **extra)
        drop_frozen_vision_input_grads(trainer.model)
        return trainer, metrics_cb

    # ---- reporting ---------------------------------------------------------------------------------------
    def _summary(self, trainer: Any, train_metrics: dict, metrics_cb: Any, report: Any, eval_loss: Any,
                 final_dir: Path, merged_dir: Path | None) -> dict:
        from sif.training.summary import objective, train_numbers

        numbers = train_numbers(trainer.state.log_history, metrics_cb.session, train_metrics)
        summary: dict[str, Any] = {
            "checkpoint": str(merged_dir or final_dir),
            "final_dir": str(final_dir),
            "merged_dir": str(merged_dir) if merged_dir else None,
            "lora": bool(self.cfg.model.lora.enabled),
            "global_step": int(trainer.state.global_step),
            "eval_loss": float(eval_loss) if eval_loss is not None else None,
            **numbers,
            **report.to_summary(),
        }
        summary["objective"] = objective(summary["eval_loss"], summary["train_loss_last"])
        log.info("sft: loss %s -> %s, eval_loss %s, %s tokens/s; checkpoint %s", summary["train_loss_first"],
                 summary["train_loss_last"], summary["eval_loss"], summary["tokens_per_s"], summary["checkpoint"])
        return summary

    def _write_plots(self, trainer: Any) -> None:
        from sif.training.callbacks import plot_loss_curve

        try:
            plot_loss_curve(trainer.state.log_history, self.ctx.path("loss_curve.png"), title="sft loss")
        except Exception as exc:  # noqa: BLE001 - a plot must never fail a finished training run
            log.warning("could not draw the loss curve: %s", exc)


def _last(history: list[dict], key: str) -> float | None:
    for rec in reversed(history):
        if isinstance(rec.get(key), (int, float)):
            return float(rec[key])
    return None
