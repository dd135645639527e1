"""Opening untrusted images: missing, empty, truncated, corrupt and oversized files get clear errors."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError


class ImageProblem(ValueError):
    def __init__(self, reason: str, path: str | Path) -> None:
        super().__init__(f"{reason}: {path}")
        self.reason = reason


def open_rgb(path: str | Path, max_pixels: int = 50_000_000) -> Image.Image:
    """Load an image fully as RGB; anything that cannot be decoded is refused (ImageProblem).

    Conversions (documented in docs/RELIABILITY.md): palette (P), CMYK, YCbCr, greyscale (L, 1) and alpha
    (RGBA, LA, PA; the alpha is dropped, not composited) go through Pillow's `convert("RGB")`; 16-bit and
    32-bit integer greyscale (I;16*, I) keep their top 8 bits (v / 256); 32-bit float greyscale (F) is taken
    as 0..1 intensity when its values lie in [0, 1] (x 255) and as 0..255 otherwise, clipped. Only the first
    frame of a multi-frame file is read. Images over `max_pixels` (dataset.max_pixels) are refused from
    their header, before any pixel is decoded."""
    path = Path(path)
    if not path.is_file():
        raise ImageProblem("image missing", path)
    if path.stat().st_size == 0:
        raise ImageProblem("image file is empty", path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > max_pixels:
                    raise ImageProblem(f"image too large ({im.width}x{im.height} > {max_pixels} pixels)", path)
                im.load()
                if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                    im = im.point(lambda v: v * (1 / 256)).convert("L")
                elif im.mode == "F":
                    import numpy as np

                    arr = np.nan_to_num(np.asarray(im, dtype=np.float32), nan=0.0, posinf=255.0, neginf=0.0)
                    scale = 255.0 if arr.size and 0.0 <= float(arr.min()) and float(arr.max()) <= 1.0 else 1.0
                    im = Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8), "L")
                return im.convert("RGB")
    except ImageProblem:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageProblem("image too large (decompression bomb guard)", path) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageProblem(f"image unreadable or truncated ({exc.__class__.__name__})", path) from None


def image_size(path: str | Path, max_pixels: int = 50_000_000) -> tuple[int, int]:
    return open_rgb(path, max_pixels).size
