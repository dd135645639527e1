"""A chain's focus areas drawn on its image: one colour per step, the last step thicker, every box
labelled with its step number and predicted depth; ground-truth boxes (when given) in dashed white."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Optional, Sequence

from PIL import Image, ImageDraw, ImageFont

# distinct colours (Sasha Trubetskoy's list), cycled when a chain has more steps
PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60), (0, 128, 128), (170, 110, 40)]


@lru_cache(maxsize=16)
def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _pixels(box: Sequence[float], w: int, h: int) -> Optional[tuple[int, int, int, int]]:
    try:
        x1, y1, x2, y2 = (float(v) for v in box)
    except (TypeError, ValueError):
        return None
    if not all(v == v and abs(v) < 1e6 for v in (x1, y1, x2, y2)):
        return None
    px = [round(min(max(x1, 0.0), 1.0) * (w - 1)), round(min(max(y1, 0.0), 1.0) * (h - 1)),
          round(min(max(x2, 0.0), 1.0) * (w - 1)), round(min(max(y2, 0.0), 1.0) * (h - 1))]
    if px[2] <= px[0] or px[3] <= px[1]:
        return None
    return px[0], px[1], px[2], px[3]


def _dashed(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], width: int, dash: int) -> None:
    x1, y1, x2, y2 = box
    for a, b, fixed, horizontal in ((x1, x2, y1, True), (x1, x2, y2, True), (y1, y2, x1, False), (y1, y2, x2, False)):
        for s in range(a, b, 2 * dash):
            e = min(s + dash, b)
            line = [(s, fixed), (e, fixed)] if horizontal else [(fixed, s), (fixed, e)]
            draw.line(line, fill=(255, 255, 255), width=width)


def draw_chain(image: Image.Image, areas: Sequence[Sequence[Any]], gt_boxes: Sequence[Sequence[float]] = (),
               max_side: Optional[int] = None) -> Image.Image:
    """A copy of `image` (shrunk so its longer side is <= max_side) with the areas drawn.

    `areas[i]` are the foci of step i (objects with `.bbox` and `.depth`, as `sif.chain.parse_chain` gives);
    boxes outside the image are clipped to it, degenerate ones are skipped."""
    img = image.convert("RGB")
    if max_side is not None and max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    else:
        img = img.copy()
    w, h = img.size
    draw = ImageDraw.Draw(img)
    base = max(1, round(min(w, h) / 160))
    font = _font(max(10, round(min(w, h) / 22)))
    for box in gt_boxes:
        px = _pixels(box, w, h)
        if px is not None:
            _dashed(draw, px, base, max(3, 3 * base))
    last = len(areas) - 1
    labels: list[tuple[tuple[int, int], str, tuple[int, int, int]]] = []
    for i, area in enumerate(areas):
        colour = PALETTE[i % len(PALETTE)]
        width = 3 * base if i == last else base
        for focus in area:
            px = _pixels(getattr(focus, "bbox", ()), w, h)
            if px is None:
                continue
            draw.rectangle(px, outline=colour, width=width)
            try:
                depth = f"{float(focus.depth):.2f}"
            except (TypeError, ValueError, AttributeError):
                depth = "?"
            labels.append(((px[0] + width, px[1] + width), f"{i + 1} d={depth}", colour))
    for (x, y), text, colour in labels:  # labels on top of every box
        l, t, r, b = draw.textbbox((x, y), text, font=font)
        draw.rectangle((l - 1, t - 1, r + 1, b + 1), fill=colour)
        luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
        draw.text((x, y), text, fill=(0, 0, 0) if luminance > 150 else (255, 255, 255), font=font)
    return img


def save_picture(img: Image.Image, path: str | Path, quality: int = 88) -> Path:
    """Save atomically as PNG or JPEG (by the suffix)."""
    from sif.io import atomic_path

    path = Path(path)
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    with atomic_path(path) as tmp:
        img.save(tmp, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return path
