"""backend.zoom=true: eval and infer with active zoom - the hf backend's requests run through the multi-turn
zoom engine (sif.zoom.rollout), and the crops each item's model saw are kept for the report."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sif.eval.backends.base import GenRequest, load_image, request_messages
from sif.zoom.crop import Crop
from sif.zoom.hf_step import HFStepGenerator
from sif.zoom.rollout import Trajectory, ZoomRolloutSettings, run_zoom_rollout


def zoom_generate(model: Any, processor: Any, generation_config: Any, settings: ZoomRolloutSettings,
                  requests: list[GenRequest]) -> tuple[list[str], dict[str, list[Crop]]]:
    """The model's own text per request (turns removed: what the scorers read) and the crops by request id."""
    trajs = []
    for r in requests:
        images = [load_image(im) for im in r.images]
        text = processor.apply_chat_template(request_messages(r), tokenize=False, add_generation_prompt=True)
        ids = processor(text=[text], images=images, return_tensors="pt")["input_ids"][0].tolist()
        trajs.append(Trajectory(prompt_ids=ids, images=list(images), rgb=images[0],
                                depth=images[1] if len(images) > 1 else None))
    run = replace(settings, max_new_tokens=int(generation_config.max_new_tokens),
                  with_depth=settings.with_depth and all(t.depth is not None for t in trajs))
    eos = generation_config.eos_token_id
    eos = [eos] if isinstance(eos, int) else list(eos or [])
    run_zoom_rollout(trajs, HFStepGenerator(model, processor, generation_config), processor, run, eos)
    tokenizer = getattr(processor, "tokenizer", processor)
    return [t.model_text(tokenizer) for t in trajs], {r.id: list(t.crops) for r, t in zip(requests, trajs)}
