"""The `zoom` node: how a focus area becomes the crop shown next (issue 17), one home for every user of it.

Turned on per stage: `rollout=zoom` (GRPO), `backend.zoom=true` (eval, infer). The crop rules are those of
`sif.zoom.crop` (read there); `max_zooms` bounds the inserted turns per completion.
"""

from __future__ import annotations

from dataclasses import dataclass

from sif.config.enums import ZoomMode, ZoomOutside


@dataclass
class ZoomConfig:
    mode: ZoomMode = ZoomMode["union"]  # union: one crop over the area's boxes | per_box: one crop per box
    margin: float = 0.1  # each side widened by this fraction of the box's side
    min_size: int = 28  # pixels: the shortest side of a crop
    max_pixels: int = 200704  # pixel budget per crop (native resolution up to it; 256 merged 28x28 patches)
    max_crops: int = 4  # per area, in per_box mode
    outside: ZoomOutside = ZoomOutside["clip"]  # a box partly outside the picture: clip | refuse
    max_zooms: int = 2  # zoom turns per completion
    with_depth: bool = True  # each crop comes with its depth crop when the prompt shows depth
    fast: bool = False  # rollout=zoom: generate each round with the fast path (sif.fastgen) instead of generate
