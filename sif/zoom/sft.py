"""SFT in the multi-turn zoom format (`stage=sft stage.zoom=true`): each training chain is cut after its
areas, and the crop turn a zoom rollout would insert there goes in between, so the warm-up teaches the
model the format it will meet in `rollout=zoom` and `backend.zoom=true`.

Why the crops are built here and not stored by `stage=generate`: a crop is a pure function of the picture and
the area's boxes (`sif.zoom.crop`), so the collator makes exactly the tokens and pictures the rollout engine
makes, from the same code, under the zoom settings of the run - stored crops would fix those settings at
generation time and could drift from the engine. Labels: the model's text (each chain segment and the final
end-of-turn) is learned; the prompt and every inserted turn are -100.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from PIL import Image

from sif.zoom.crop import zoom
from sif.zoom.rollout import AREA_CLOSE, ZoomRolloutSettings, last_area_boxes
from sif.zoom.turns import build_zoom_turn

IGNORE = -100


@dataclass
class ZoomExample:
    input_ids: list[int]
    labels: list[int]
    images: list[Image.Image]
    zooms: int


def chain_segments(chain: str, max_zooms: int) -> list[str]:
    """The chain cut after each of its first `max_zooms` closed areas (the pieces join back to the chain)."""
    pieces, rest = [], chain
    while len(pieces) < max_zooms:
        at = rest.find(AREA_CLOSE)
        if at < 0:
            break
        pieces.append(rest[:at + len(AREA_CLOSE)])
        rest = rest[at + len(AREA_CLOSE):]
    return pieces + [rest]


def zoom_example(processor: Any, prompt_text: str, images: list[Image.Image], chain: str,
                 settings: ZoomRolloutSettings, end_of_turn: str = "<|im_end|>") -> ZoomExample:
    """One training sequence: prompt, then the chain's segments with the crop turns between them."""
    tok = getattr(processor, "tokenizer", processor)
    ids = [int(t) for t in processor(text=[prompt_text], images=images, return_tensors="pt")["input_ids"][0]]
    labels = [IGNORE] * len(ids)
    shown = list(images)
    rgb = images[0]
    depth = images[1] if settings.with_depth and len(images) > 1 else None
    segments = chain_segments(chain, settings.max_zooms)
    zooms = 0
    for k, seg in enumerate(segments):
        last = k == len(segments) - 1
        seg_ids = tok(seg + (end_of_turn if last else ""), add_special_tokens=False)["input_ids"]
        ids += seg_ids
        labels += seg_ids
        if last:
            break
        crops = zoom(rgb, last_area_boxes(seg), settings.crop, depth=depth)
        if crops:  # an area with no valid box inserts nothing, as in the rollout engine
            turn = build_zoom_turn(processor, crops, depth is not None)
            ids += turn.ids
            labels += [IGNORE] * len(turn.ids)
            shown += turn.images
            zooms += 1
    return ZoomExample(ids, labels, shown, zooms)


class ZoomSFTCollator:
    """TRL-compatible data collator over the SFT transform's examples (prompt, completion, images)."""

    def __init__(self, processor: Any, settings: ZoomRolloutSettings, max_length: Optional[int] = None) -> None:
        self.processor, self.settings, self.max_length = processor, settings, max_length
        self.tok = getattr(processor, "tokenizer", processor)
        self.image_pad = self.tok.convert_tokens_to_ids("<|image_pad|>")
        self.vision_start = self.tok.convert_tokens_to_ids("<|vision_start|>")
        self.with_types = "mm_token_type_ids" in list(getattr(processor, "model_input_names", []) or [])

    def _truncate(self, ex: ZoomExample) -> ZoomExample:
        """Cut to max_length; a cut inside a picture's tokens drops that picture and everything after it."""
        if self.max_length is None or len(ex.input_ids) <= self.max_length:
            return ex
        ids, labels = ex.input_ids[:self.max_length], ex.labels[:self.max_length]
        starts = [i for i, t in enumerate(ex.input_ids) if t == self.vision_start]
        keep = len(ex.images)
        for n, s in enumerate(starts):
            end = s + 1
            while end < len(ex.input_ids) and ex.input_ids[end] == self.image_pad:
                end += 1
            if end >= self.max_length:  # this picture's tokens do not all fit
                ids, labels, keep = ids[:s], labels[:s], n
                break
        return ZoomExample(ids, labels, ex.images[:keep], ex.zooms)

    def example(self, features: dict) -> ZoomExample:
        prompt_text = self.processor.apply_chat_template(features["prompt"], tokenize=False,
                                                         add_generation_prompt=True)
        completion = features["completion"]
        chain = completion if isinstance(completion, str) else "".join(
            part.get("text", "") for msg in completion for part in (msg["content"] if isinstance(msg["content"], list)
                                                                    else [{"text": msg["content"]}]))
        return self._truncate(zoom_example(self.processor, prompt_text, list(features["images"]), chain,
                                           self.settings))

    def __call__(self, features: list[dict]) -> dict[str, Any]:
        import torch

        examples = [self.example(f) for f in features]
        width = max(len(e.input_ids) for e in examples)
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        ids = torch.full((len(examples), width), pad, dtype=torch.long)
        labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        for i, e in enumerate(examples):  # right padding, as TRL's SFT collators pad
            ids[i, :len(e.input_ids)] = torch.tensor(e.input_ids)
            labels[i, :len(e.labels)] = torch.tensor(e.labels)
            mask[i, :len(e.input_ids)] = 1
        out: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        pictures = [im for e in examples for im in e.images]
        if pictures:
            out.update(dict(self.processor.image_processor(images=pictures, return_tensors="pt")))
        if self.with_types:
            out["mm_token_type_ids"] = (ids == self.image_pad).long() * mask
        return out
