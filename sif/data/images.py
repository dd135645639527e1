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
    """Load an image fully as RGB. Palette, CMYK, 16-bit, greyscale and alpha images are converted (a
    documented, lossless-for-our-purpose normalisation); anything that cannot be decoded is refused."""
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
                return im.convert("RGB")
    except ImageProblem:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageProblem("image too large (decompression bomb guard)", path) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageProblem(f"image unreadable or truncated ({exc.__class__.__name__})", path) from None


def image_size(path: str | Path, max_pixels: int = 50_000_000) -> tuple[int, int]:
    return open_rgb(path, max_pixels).size
