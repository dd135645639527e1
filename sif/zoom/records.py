"""The crops a model saw, written beside a run's records: one PNG per crop and a JSON-ready description."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from sif.zoom.crop import Crop

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def save_crops(crops: Sequence[Crop], folder: Path, stem: str, relative_to: Path) -> list[dict]:
    """Write each crop as `<folder>/<stem>-zoom<k>.png` (k from 1, in the order the model saw them); returns
    [{"box", "pixels", "shown_size", "image"}] with `image` relative to `relative_to`."""
    folder.mkdir(parents=True, exist_ok=True)
    safe = _SAFE.sub("_", stem)[:80] or "item"
    out = []
    for k, crop in enumerate(crops, 1):
        path = folder / f"{safe}-zoom{k}.png"
        crop.rgb.save(path)
        out.append({"box": [round(v, 6) for v in crop.box], "pixels": list(crop.pixels),
                    "shown_size": list(crop.rgb.size), "image": str(path.relative_to(relative_to))})
    return out
