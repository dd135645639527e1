"""The pictures a training example shows the model: the RGB image and the colour depth image.

The depth picture is the PNG beside the depth `.npy` (stage=generate writes both); when that PNG is missing
it is drawn from the `.npy` with `sif.depth.map.colorize` in memory (the data folder may be read-only).
A `depth` entry that is itself an image file is used as the picture.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from sif.data.images import ImageProblem, open_rgb

DEFAULT_MAX_PIXELS = 50_000_000


class DepthProblem(ImageProblem):
    """The depth map of a sample is missing or unreadable."""


def depth_png_path(depth: str | Path) -> Path:
    """The colour picture of a depth map: the `.npy`'s sibling `.png` (or the path itself when not `.npy`)."""
    depth = Path(depth)
    return depth.with_suffix(".png") if depth.suffix.lower() == ".npy" else depth


def load_depth_picture(depth: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The RGB colour picture of a depth map; raises DepthProblem (reason "depth map missing" or "... unreadable")."""
    depth = Path(depth)
    png = depth_png_path(depth)
    if png.is_file():
        try:
            return open_rgb(png, max_pixels)
        except ImageProblem as exc:
            raise DepthProblem(_depth_reason(exc.reason), png) from None
    if depth.suffix.lower() != ".npy" or not depth.is_file():
        raise DepthProblem("depth map missing", depth)
    import numpy as np

    from sif.depth.map import colorize

    try:
        arr = np.load(depth, allow_pickle=False)
        if arr.ndim != 2 or arr.size == 0 or arr.shape[0] * arr.shape[1] > max_pixels:
            raise ValueError(f"shape {arr.shape}")
        return colorize(arr.astype(np.float32))
    except (OSError, ValueError, EOFError) as exc:
        raise DepthProblem(f"depth map unreadable ({exc.__class__.__name__})", depth) from None


def _depth_reason(reason: str) -> str:
    return "depth map missing" if reason == "image missing" else f"depth map unreadable ({reason})"


def load_pictures(image: str | Path, depth: str | Path | None, with_depth: bool,
                  max_pixels: int = DEFAULT_MAX_PIXELS) -> list[Image.Image]:
    """[rgb] or [rgb, depth picture], in the order of the prompt's image placeholders."""
    pictures = [open_rgb(image, max_pixels)]
    if with_depth:
        if depth is None:
            raise DepthProblem("depth map missing", "(no depth path in the sample)")
        pictures.append(load_depth_picture(depth, max_pixels))
    return pictures
