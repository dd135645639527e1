"""Multi-turn zoom rollouts: generate until the model closes an `</area>`, show it the crop, go on.

One engine for every caller (GRPO's rollouts, eval and infer): it owns the turn logic and the masks, and
asks a `StepGenerator` for tokens. All live trajectories advance together, one batched generation per round:
rows that may still zoom stop at `</area>`, the others (zoom budget spent) only at EOS or the token budget.

Per trajectory it keeps the completion as the loss sees it - the model's tokens and the inserted turns in
order - and a mask with 1 for the model's own tokens and 0 for every inserted token (turn markers, labels,
image placeholders), so only the model's tokens carry policy loss, KL and log-probabilities. The token
budget (`max_new_tokens`) counts both, as TRL's `max_completion_length` does with tool turns. A round that
ends at `</area>` zooms on that area's boxes (`sif.zoom.crop` rules); an area whose boxes are all refused, or
whose turn would not fit the budget, adds nothing and the model goes on in the same turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from PIL import Image

from sif.chain import check_area
from sif.zoom.crop import Crop, ZoomSettings, zoom
from sif.zoom.turns import build_zoom_turn

AREA_CLOSE = "</area>"
_LAST_AREA = re.compile(r"<area>(.*?)</area>", re.S)

# rows (prompt + completion so far), their pictures in order, the most new tokens, stop at </area>?
StepGenerator = Callable[[list[list[int]], list[list[Image.Image]], int, bool], list[list[int]]]


@dataclass(frozen=True)
class ZoomRolloutSettings:
    crop: ZoomSettings = ZoomSettings()
    max_zooms: int = 2  # inserted zoom turns per completion
    max_new_tokens: int = 256  # the whole completion: the model's tokens and the inserted turns
    with_depth: bool = True  # each crop comes with its depth crop (the prompt shows depth)
    fast: bool = False  # generate each round through sif.fastgen (the callers pick the step generator)

    def __post_init__(self) -> None:
        if self.max_zooms < 0 or self.max_new_tokens < 1:
            raise ValueError(f"max_zooms must be >= 0 and max_new_tokens >= 1, got {self.max_zooms}, "
                             f"{self.max_new_tokens}")


@dataclass
class Trajectory:
    prompt_ids: list[int]
    images: list[Image.Image]  # what the model has been shown, in order: the prompt's pictures, then the crops
    rgb: Image.Image  # the original picture the crops are cut from
    depth: Optional[Image.Image] = None  # its depth picture (cut alike when with_depth)
    completion_ids: list[int] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)  # 1: the model's token, 0: inserted
    crops: list[Crop] = field(default_factory=list)
    zooms: int = 0
    refused_areas: int = 0  # areas closed whose boxes gave no crop
    out_of_room: bool = False  # a zoom turn did not fit the token budget: no more zooms
    finished: bool = False
    ended_by: str = ""  # eos | budget

    @property
    def model_ids(self) -> list[int]:
        return [t for t, m in zip(self.completion_ids, self.mask) if m]

    def model_text(self, tokenizer: Any) -> str:
        """The model's own text, turns removed: the chain the rewards and scorers read."""
        return tokenizer.decode(self.model_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)


def last_area_boxes(text: str) -> list[Any]:
    """The boxes of the last complete `<area>...</area>` of `text` (parsed, never evaluated; may be [])."""
    found = _LAST_AREA.findall(text)
    if not found:
        return []
    focuses, _ = check_area(found[-1])
    return [f.bbox for f in focuses]


def _cut(new: Sequence[int], tokenizer: Any, eos: set[int], stop_at_area: bool) -> tuple[int, str]:
    """Where this round's tokens end: (length kept, why) with why = eos | area | '' (ran to its end)."""
    end, why = len(new), ""
    for i, t in enumerate(new):
        if t in eos:
            end, why = i + 1, "eos"
            break
    if stop_at_area:
        text = tokenizer.decode(list(new[:end]), skip_special_tokens=False)
        if AREA_CLOSE in text:
            for k in range(1, end + 1):
                if AREA_CLOSE in tokenizer.decode(list(new[:k]), skip_special_tokens=False):
                    return k, "area"
    return end, why


def _advance(t: Trajectory, new: Sequence[int], processor: Any, settings: ZoomRolloutSettings, eos: set[int],
             stop_at_area: bool) -> None:
    tokenizer = getattr(processor, "tokenizer", processor)
    room = settings.max_new_tokens - len(t.completion_ids)
    new = list(new)[:room]
    keep, why = _cut(new, tokenizer, eos, stop_at_area)
    new = new[:keep]
    t.completion_ids += new
    t.mask += [1] * len(new)
    if why == "eos":
        t.finished, t.ended_by = True, "eos"
        return
    if why == "area":
        boxes = last_area_boxes(tokenizer.decode(new, skip_special_tokens=False))
        crops = zoom(t.rgb, boxes, settings.crop, depth=t.depth if settings.with_depth else None)
        if not crops:
            t.refused_areas += 1
        else:
            turn = build_zoom_turn(processor, crops, settings.with_depth)
            if len(t.completion_ids) + len(turn.ids) < settings.max_new_tokens:
                t.completion_ids += turn.ids
                t.mask += [0] * len(turn.ids)
                t.images += turn.images
                t.crops += crops
                t.zooms += 1
            else:  # no room for the crop and an answer: no more zooms, the model goes on in this turn
                t.out_of_room = True
    # the budget is spent, or the generator stopped without EOS or </area> (its token budget ran out)
    if len(t.completion_ids) >= settings.max_new_tokens or why == "":
        t.finished, t.ended_by = True, "budget"


def run_zoom_rollout(trajectories: list[Trajectory], generate: StepGenerator, processor: Any,
                     settings: ZoomRolloutSettings, eos_ids: Sequence[int]) -> list[Trajectory]:
    """Advance every trajectory to EOS or the budget (in place; also returned)."""
    eos = {int(e) for e in eos_ids}
    while True:
        live = [t for t in trajectories if not t.finished]
        if not live:
            return trajectories
        for stop_at_area in (True, False):
            rows = [t for t in live if (t.zooms < settings.max_zooms and not t.out_of_room) == stop_at_area]
            if not rows:
                continue
            budget = max(settings.max_new_tokens - len(t.completion_ids) for t in rows)
            outs = generate([t.prompt_ids + t.completion_ids for t in rows], [list(t.images) for t in rows],
                            budget, stop_at_area)
            if len(outs) != len(rows):
                raise RuntimeError(f"the step generator returned {len(outs)} rows for {len(rows)}")
            for t, new in zip(rows, outs):
                _advance(t, new, processor, settings, eos, stop_at_area)
