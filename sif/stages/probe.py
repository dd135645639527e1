"""stage=probe: the grounding probe (issue 14) - can this model learn to say WHERE an object is?

It trains the model group's model (any `model=`; LoRA where the group enables it) with TRL's SFTTrainer on
"Where is the <object>?" -> "[x1,y1,x2,y2]" over synthetic scenes (sif.probe.tasks: a fresh scene for every
training example by default), then answers the same question greedily on held-out scenes and scores the
boxes: per-axis R^2 of the box centre, mean IoU and Acc@0.5, beside the mean-box prior (the training boxes'
mean, given to every held-out scene). With one object per scene it asks for position alone: a model without
a position channel for an axis (issue 14: stock Qwen2.5-VL from scratch, x) stays at R^2 <= 0 there.
`stage.image_inputs=blank` is the blind control (the same training on mid-grey pictures).

Run folder: checkpoints/ (resumable), final/, probe.json (config, metrics, prior, timings), probe.md,
predictions.jsonl (every held-out answer) and probe.png (held-out pictures with the answer's box in red, the
truth in green).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sif.registry import STAGES
from sif.stages._base import Stage

log = logging.getLogger("sif.probe")


class ProbeRows:
    """Dataset rows (scene indices) -> TRL examples, rendered on access (picklable for dataloader workers)."""

    def __init__(self, task: Any) -> None:
        self.task = task

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        from sif.probe.tasks import completion_messages, probe_item, prompt_messages

        out: dict[str, list] = {"prompt": [], "completion": [], "images": []}
        for index in batch["index"]:
            item = probe_item(self.task, int(index))
            out["prompt"].append(prompt_messages(item, self.task.question_first))
            out["completion"].append(completion_messages(item))
            out["images"].append([item.image])
        return out


@STAGES.register("probe")
class ProbeStage(Stage):
    name = "probe"

    def run(self) -> dict:
        import datasets
        from trl import SFTConfig

        from sif.probe.tasks import ProbeTask
        from sif.training.args import configure_logger_env, training_kwargs
        from sif.training.resume import resolve_resume
        from sif.views import view_of

        cfg, st, run_dir = self.cfg, self.stage_cfg, self.ctx.run_dir
        view = view_of(st.image_inputs)
        if view.with_depth and not view.blank:
            raise ValueError(f"stage.image_inputs={str(st.image_inputs)!r}: the probe shows one picture (rgb | blank)")
        task = ProbeTask(width=int(st.image_width or cfg.dataset.image_width),
                         height=int(st.image_height or cfg.dataset.image_height),
                         min_objects=int(st.min_objects), max_objects=int(st.max_objects), seed=int(cfg.seed),
                         blank=view.blank, question_first=bool(st.question_first))
        configure_logger_env(cfg.logger, run_dir)
        args = SFTConfig(**training_kwargs(st, cfg, run_dir), eval_strategy="no", max_length=int(st.max_length),
                         completion_only_loss=True)
        per_step = int(st.per_device_train_batch_size) * int(st.gradient_accumulation_steps) * max(1, args.world_size)
        scenes = int(st.train_scenes) if int(st.train_scenes) > 0 else max(1, int(st.max_steps)) * per_step
        rows = datasets.Dataset.from_dict({"index": list(range(scenes))})
        rows.set_transform(ProbeRows(task))

        trainer, processor = self._trainer(args, rows)
        started = time.perf_counter()
        trainer.train(resume_from_checkpoint=resolve_resume(st.resume, run_dir / "checkpoints"))
        train_s = time.perf_counter() - started
        final_dir = self.ctx.path("final")
        trainer.save_model(str(final_dir))
        summary: dict[str, Any] = {"checkpoint": str(final_dir), "global_step": int(trainer.state.global_step),
                                   "train_scenes": scenes, "train_seconds": round(train_s, 1),
                                   "task": {k: getattr(task, k) for k in task.__dataclass_fields__}}
        if self.ctx.is_main:
            summary.update(self._evaluate(trainer.model, processor, task, scenes))
        return summary

    def _trainer(self, args: Any, rows: Any):
        from trl import SFTTrainer

        from sif.models.factory import load_model_and_processor
        from sif.models.lora import apply_lora
        from sif.training.callbacks import MetricsJsonlCallback
        from sif.training.resume import ConvertedCheckpointResumeMixin
        from sif.training.vision_grads import drop_frozen_vision_input_grads

        class ProbeTrainer(ConvertedCheckpointResumeMixin, SFTTrainer):
            pass

        cfg = self.cfg
        path = self.weights(args.main_process_first)
        model, processor = load_model_and_processor(cfg.model, self.ctx.cache_dir, path=path, training=True)
        if cfg.model.lora.enabled:
            model = apply_lora(model, cfg.model.lora)
        trainer = ProbeTrainer(model=model, args=args, train_dataset=rows, processing_class=processor,
                               callbacks=[MetricsJsonlCallback(self.ctx.path("metrics.jsonl"))])
        drop_frozen_vision_input_grads(trainer.model)
        return trainer, processor

    # ---- held-out answers ------------------------------------------------------------------------------
    def _evaluate(self, model: Any, processor: Any, task: Any, train_scenes: int) -> dict:
        import torch
        from tqdm import tqdm

        from sif.io import JsonlAppender, write_json, write_text
        from sif.probe.metrics import grounding_metrics, mean_box, parse_box
        from sif.probe.tasks import probe_item, prompt_messages

        st = self.stage_cfg
        items = [probe_item(task, i, held_out=True) for i in range(int(st.held_out))]
        prior_box = mean_box([probe_item(task, i).box for i in range(min(train_scenes, int(st.prior_scenes)))])
        tokenizer = processor.tokenizer
        tokenizer.padding_side = "left"
        model.eval()
        device = next(model.parameters()).device
        answers: list[str] = []
        started = time.perf_counter()
        size = max(1, int(st.eval_batch_size))
        for start in tqdm(range(0, len(items), size), desc="probe held-out", unit="batch"):
            chunk = items[start:start + size]
            texts = [processor.apply_chat_template(prompt_messages(it, task.question_first), tokenize=False,
                                                   add_generation_prompt=True) for it in chunk]
            inputs = processor(text=texts, images=[[it.image] for it in chunk], padding=True, return_tensors="pt")
            inputs = {k: v.to(device) for k, v in inputs.items()}
            with torch.no_grad():
                out = model.generate(**inputs, max_new_tokens=int(st.max_new_tokens), do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id)
            width = inputs["input_ids"].shape[1]
            answers += tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
        eval_s = time.perf_counter() - started
        preds = [parse_box(a) for a in answers]
        truths = [it.box for it in items]
        metrics = grounding_metrics(preds, truths)
        prior = grounding_metrics([prior_box] * len(items), truths)
        store = JsonlAppender(self.ctx.path("predictions.jsonl"))
        try:
            for it, text, pred in zip(items, answers, preds):
                store.append({"index": it.index, "question": it.question, "answer": text, "box": pred,
                              "gt_box": list(it.box)})
        finally:
            store.close()
        result = {"metrics": metrics, "mean_box_prior": {**prior, "box": list(prior_box)},
                  "eval_seconds": round(eval_s, 1)}
        write_json(self.ctx.path("probe.json"), result)
        table = probe_table(metrics, prior, title=f"grounding probe · {self.cfg.model.name} · "
                                                  f"{'blank pictures' if task.blank else 'pictures'}")
        write_text(self.ctx.path("probe.md"), table)
        print("\n" + table, flush=True)
        self._picture(items[:16], preds[:16])
        return {**result, "objective": metrics["acc_at_iou"], "table": table}

    def _picture(self, items: list, preds: list) -> None:
        try:
            from sif.eval.report.draw import save_picture
            from sif.probe.picture import contact_sheet

            save_picture(contact_sheet(items, preds), self.ctx.path("probe.png"))
        except Exception as exc:  # noqa: BLE001 - a picture must never fail a finished probe
            log.warning("probe: could not draw probe.png: %s", exc)


def probe_table(metrics: dict, prior: dict, title: str = "grounding probe") -> str:
    from sif.eval.report.markdown import fmt

    lines = [f"### {title}", "", "| | R^2 x | R^2 y | mean IoU | Acc@0.5 | parsed |", "|---|---|---|---|---|---|"]
    for name, m in (("this model", metrics), ("mean-box prior", prior)):
        lines.append(f"| {name} | {fmt(m['r2_x'])} | {fmt(m['r2_y'])} | {fmt(m['mean_iou'])} | "
                     f"{fmt(m['acc_at_iou'])} | {fmt(m['parsed'])} |")
    return "\n".join(lines) + "\n"
