"""A contact sheet of probe answers: each held-out picture with the answered box (red) and the truth (green)."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from PIL import Image, ImageDraw

ANSWER, TRUTH = (230, 25, 75), (60, 180, 75)


def _pixels(box: Sequence[float], w: int, h: int) -> Optional[tuple[int, int, int, int]]:
    x1, y1, x2, y2 = (min(max(float(v), 0.0), 1.0) for v in box)
    if x2 <= x1 or y2 <= y1:
        return None
    return round(x1 * (w - 1)), round(y1 * (h - 1)), round(x2 * (w - 1)), round(y2 * (h - 1))


def contact_sheet(items: Sequence[Any], preds: Sequence[Optional[Sequence[float]]], columns: int = 4,
                  scale: int = 2) -> Image.Image:
    """`items` (ProbeItems) in a grid, each scaled by `scale`, with its answer box (if any) and true box."""
    if not items:
        raise ValueError("no items to draw")
    w, h = items[0].image.size
    w, h = w * scale, h * scale
    rows = (len(items) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * w, rows * h), (255, 255, 255))
    for k, (item, pred) in enumerate(zip(items, preds)):
        tile = item.image.convert("RGB").resize((w, h))
        draw = ImageDraw.Draw(tile)
        for box, colour in ((item.box, TRUTH), (pred, ANSWER)):
            px = _pixels(box, w, h) if box is not None else None
            if px is not None:
                draw.rectangle(px, outline=colour, width=2)
        sheet.paste(tile, ((k % columns) * w, (k // columns) * h))
    return sheet
