"""rollout=zoom inside TRL's GRPOTrainer: multi-turn zoom rollouts, the rest of TRL's step unchanged.

Why not TRL's own extension points: `rollout_func` hands back token ids only - TRL then forwards the
completions WITHOUT any picture (it sets `images=None` for that path), so the crops the model saw would be
missing from the loss forward; the tool-calling loop needs tool calls in the chat template's JSON schema,
while a SIF chain zooms on plain `<area>` text. What does fit is the step after generation: TRL already
forwards completions that carry pictures (tool images) with the image tokens inside the completion, and masks
inserted tokens out of the loss and the KL with its `tool_mask`. So this mixin replaces only `_generate`:
prompts are tokenized by TRL (`_tokenize_prompts`), the zoom engine (`sif.zoom.rollout`) generates, and the
result goes back in TRL's own shape (completion ids with the inserted turns, tool_mask = 1 for the model's
tokens, the pictures per row, the crops as tool images). TRL takes its tool-image forward path when
`self.tools` is truthy; while a zoom batch with crops is being scored, `tools` reads as a one-element list
(never called: no prompt is rendered with it), and as the trainer's own tools otherwise.

Rewards see the model's own text (`Trajectory.model_text`), so every reward and scorer reads the chain as
it would without zoom. Log-probabilities, the policy loss and the KL count only the model's tokens.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import replace
from typing import Any, Optional

from sif.zoom.rollout import Trajectory, ZoomRolloutSettings, run_zoom_rollout

log = logging.getLogger("sif.zoom")


def _zoom_marker() -> None:
    """Stands for the zoom turns in TRL's `tools` check; never called."""


class ZoomRolloutMixin:
    sif_zoom: Optional[ZoomRolloutSettings] = None
    _sif_zoom_images_live: bool = False

    @property
    def tools(self) -> Any:  # noqa: D401 - see the module docstring
        given = self.__dict__.get("_sif_tools")
        if self._sif_zoom_images_live and not given:
            return [_zoom_marker]
        return given

    @tools.setter
    def tools(self, value: Any) -> None:
        self.__dict__["_sif_tools"] = value

    def _generate_and_score_completions(self, inputs):  # noqa: ANN001 - TRL's signature
        try:
            return super()._generate_and_score_completions(inputs)
        finally:
            self._sif_zoom_images_live = False

    def _generate(self, prompts: list):
        if self.sif_zoom is None:
            return super()._generate(prompts)
        import copy

        import torch
        from trl.models import unwrap_model_for_generation

        self._sif_zoom_images_live = False
        mode = "train" if self.model.training else "eval"
        prompts = copy.deepcopy(prompts)
        prompt_ids, images, _ = self._tokenize_prompts(prompts)
        if images is None:
            raise ValueError("rollout=zoom needs pictures in the prompts")
        settings = self.sif_zoom
        trajs = []
        for ids, imgs in zip(prompt_ids, images):
            imgs = list(imgs or [])
            with_depth = settings.with_depth and len(imgs) > 1
            trajs.append(Trajectory(prompt_ids=list(ids), images=imgs, rgb=imgs[0],
                                    depth=imgs[1] if with_depth else None))
        n_prompt_images = [len(t.images) for t in trajs]
        run_settings = replace(settings, max_new_tokens=int(self.max_completion_length),
                               with_depth=settings.with_depth and all(t.depth is not None for t in trajs))
        dist = getattr(self, "_dist", None)
        summon = dist.summon_full_params(self.model_wrapped, recurse=False) if dist is not None else nullcontext()
        with (
            unwrap_model_for_generation(
                self.model_wrapped, self.accelerator, gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                generation_kwargs=getattr(self, "generation_kwargs", None),
                gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs,
            ) as unwrapped,
            torch.no_grad(),
            summon,
        ):
            step = self._sif_zoom_step_generator(unwrapped)
            run_zoom_rollout(trajs, step, self.processing_class, run_settings, self.eos_token_ids)

        tokenizer = self._tokenizer
        completion_ids = [t.completion_ids for t in trajs]
        tool_mask = [t.mask for t in trajs]
        completions = [[{"role": "assistant", "content": t.model_text(tokenizer)}] for t in trajs]
        images_out = [list(t.images) for t in trajs]
        tool_images = [list(t.images[n:]) for t, n in zip(trajs, n_prompt_images)]
        self._sif_zoom_images_live = any(tool_images)
        self._log_zoom_metrics(mode, trajs, prompt_ids)
        return prompt_ids, completion_ids, tool_mask, completions, None, {}, images_out, tool_images

    def _sif_zoom_step_generator(self, unwrapped: Any) -> Any:
        """What generates each round: transformers' generate on the unwrapped policy, or (zoom.fast) the fast
        path, whose generator (compiled graphs, merged LoRA copy) is kept across steps."""
        from sif.zoom.hf_step import FastStepGenerator, HFStepGenerator

        if self.sif_zoom is not None and self.sif_zoom.fast:
            from sif.fastgen.generator import FastGenerator

            gen = getattr(self, "_sif_fast_generator", None)
            if gen is None:
                gen = FastGenerator(unwrapped, self.processing_class, getattr(self, "sif_fast_rollout", None))
                self._sif_fast_generator = gen
            return FastStepGenerator(unwrapped, self.processing_class, self.generation_config, gen)
        return HFStepGenerator(unwrapped, self.processing_class, self.generation_config)

    def _log_zoom_metrics(self, mode: str, trajs: list[Trajectory], prompt_ids: list) -> None:
        import torch

        device = self.accelerator.device
        own = torch.tensor([sum(t.mask) for t in trajs], device=device, dtype=torch.float32)
        zooms = torch.tensor([t.zooms for t in trajs], device=device, dtype=torch.float32)
        refused = torch.tensor([t.refused_areas for t in trajs], device=device, dtype=torch.float32)
        clipped = torch.tensor([t.ended_by != "eos" for t in trajs], device=device, dtype=torch.float32)
        total = torch.tensor([len(p) + len(t.completion_ids) for p, t in zip(prompt_ids, trajs)], device=device)
        own, zooms, refused, clipped = (self.accelerator.gather(x) for x in (own, zooms, refused, clipped))
        if mode == "train":
            self.state.num_input_tokens_seen += int(self.accelerator.gather(total).sum().item())
        m = self._metrics[mode]
        m["num_tokens"] = [self.state.num_input_tokens_seen]
        m["completions/mean_length"].append(own.mean().item())
        m["completions/min_length"].append(own.min().item())
        m["completions/max_length"].append(own.max().item())
        m["completions/clipped_ratio"].append(clipped.mean().item())
        m["zoom/per_completion"].append(zooms.mean().item())
        m["zoom/max_per_completion"].append(zooms.max().item())
        m["zoom/refused_areas"].append(refused.mean().item())
