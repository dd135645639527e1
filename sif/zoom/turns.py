"""The inserted zoom turn: after the model closes an `</area>`, its assistant turn ends, a user turn shows the
crop (and its depth crop), and a new assistant turn begins, where the model goes on with its chain.

The turn's text comes from the processor's own chat template (the part a conversation gains when a user turn
with images follows an assistant turn), so every model family gets its own markers; the processor then
expands each image placeholder to the crop's number of image tokens. Each crop is labelled with its box in
the ORIGINAL picture's normalized coordinates, the frame every later box of the chain is written in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from PIL import Image

from sif.zoom.crop import Crop

_MARK = "\u2063SIFZOOM\u2063"  # an assistant text no template alters: the split point of the rendered turn


@dataclass(frozen=True)
class ZoomTurn:
    """Tokens inserted into a trajectory (all masked out of the loss) and the pictures they show, in order."""

    ids: list[int]
    images: list[Image.Image]


def _box_label(box: Sequence[float]) -> str:
    return "[" + ",".join(f"{v:.3f}" for v in box) + "]"


def turn_content(crops: Sequence[Crop], with_depth: bool) -> list[dict]:
    """The user turn's content: for each crop its label and picture (and the depth crop after it)."""
    content: list[dict] = []
    for i, crop in enumerate(crops):
        lead = "" if i == 0 else "\n"
        content += [{"type": "text", "text": f"{lead}Zoom on {_box_label(crop.box)}: "}, {"type": "image"}]
        if with_depth:
            content += [{"type": "text", "text": "\nDepth of the zoom: "}, {"type": "image"}]
    return content


def turn_text(processor: Any, content: list[dict]) -> str:
    """What the chat template writes between the end of an assistant's text and the next assistant's text
    when a user turn with `content` comes between them (generation prompt included)."""
    conv = [{"role": "user", "content": [{"type": "text", "text": "q"}]},
            {"role": "assistant", "content": [{"type": "text", "text": _MARK}]},
            {"role": "user", "content": content}]
    rendered = processor.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
    if rendered.count(_MARK) != 1:
        raise ValueError("the chat template does not keep the assistant's text verbatim; zoom turns need it")
    return rendered.split(_MARK, 1)[1]


def build_zoom_turn(processor: Any, crops: Sequence[Crop], with_depth: bool) -> ZoomTurn:
    """The inserted tokens (image placeholders expanded for these crops) and the pictures they stand for."""
    if not crops:
        raise ValueError("a zoom turn needs at least one crop")
    images: list[Image.Image] = []
    for crop in crops:
        images.append(crop.rgb)
        if with_depth:
            if crop.depth is None:
                raise ValueError("with_depth: every crop needs its depth crop")
            images.append(crop.depth)
    text = turn_text(processor, turn_content(crops, with_depth))
    enc = processor(text=[text], images=images, return_tensors="pt")
    return ZoomTurn(ids=[int(t) for t in enc["input_ids"][0]], images=images)
