"""`StepGenerator`s: transformers' `generate`, or SIF's fast path, one batched call per zoom round.

Rows are token ids (prompt + completion so far, inserted zoom turns included) with their pictures in order;
they are left-padded, the pictures go through the processor's image processor (the same one the prompt and
the loss forward use, so every crop gets the same number of image tokens everywhere), and the multimodal
token types are read off the ids. Stopping at `</area>` uses generate's own `stop_strings`.
"""

from __future__ import annotations

import copy
from typing import Any

from PIL import Image

from sif.zoom.rollout import AREA_CLOSE


class HFStepGenerator:
    def __init__(self, model: Any, processor: Any, generation_config: Any) -> None:
        self.model, self.processor, self.base = model, processor, generation_config
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.image_pad = self.tokenizer.convert_tokens_to_ids("<|image_pad|>")
        names = list(getattr(processor, "model_input_names", []) or [])
        self.with_types = "mm_token_type_ids" in names

    def inputs(self, rows: list[list[int]], images: list[list[Image.Image]]) -> dict[str, Any]:
        import torch

        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r):] = 1
        out: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        flat = [im for row in images for im in row]
        if flat:
            out.update(dict(self.processor.image_processor(images=flat, return_tensors="pt")))
        if self.with_types:
            out["mm_token_type_ids"] = (ids == self.image_pad).long() * mask
        device = next(self.model.parameters()).device
        return {k: (v.to(device) if hasattr(v, "to") else v) for k, v in out.items()}

    def __call__(self, rows: list[list[int]], images: list[list[Image.Image]], max_new_tokens: int,
                 stop_at_area: bool) -> list[list[int]]:
        import torch

        config = copy.deepcopy(self.base)
        config.max_new_tokens = int(max_new_tokens)
        extra: dict[str, Any] = {}
        if stop_at_area:
            config.stop_strings = [AREA_CLOSE]
            extra["tokenizer"] = self.tokenizer
        batch = self.inputs(rows, images)
        with torch.no_grad():
            out = self.model.generate(**batch, generation_config=config, **extra)
        width = batch["input_ids"].shape[1]
        return [row[width:].tolist() for row in out.cpu()]


class FastStepGenerator(HFStepGenerator):
    """Each round through `sif.fastgen.FastGenerator` (static cache, CUDA graphs on a GPU; the same tokens as
    `generate`). Its decode loop has no stop strings: a round runs to EOS or its budget and the engine cuts it
    at the first `</area>` (`sif.zoom.rollout._cut`), dropping what followed - correct, at the price of the
    dropped tokens, which the fast path generates several times faster than `generate` writes the kept ones."""

    def __init__(self, model: Any, processor: Any, generation_config: Any, fast: Any) -> None:
        super().__init__(model, processor, generation_config)
        self.fast = fast

    def __call__(self, rows: list[list[int]], images: list[list[Image.Image]], max_new_tokens: int,
                 stop_at_area: bool) -> list[list[int]]:
        import torch

        config = copy.deepcopy(self.base)
        config.max_new_tokens = int(max_new_tokens)
        batch = self.inputs(rows, images)
        with torch.no_grad():
            out = self.fast.generate(**batch, generation_config=config, model=self.model)
        width = batch["input_ids"].shape[1]
        return [row[width:].tolist() for row in out.cpu()]
