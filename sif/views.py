"""What the model is shown: the one reading of `image_inputs` and the one builder of its pictures, shared by
sft, grpo, probe and eval (so what a model trains on and what it is evaluated on cannot drift apart).

* `rgb+depth` - the RGB picture and the colour depth picture (THE prompt of sif.prompt; the default);
* `rgb` - the RGB picture only (a model trained without the depth image);
* `blank` - the two-picture layout of `rgb+depth` with both pictures replaced by uniform mid-grey of the same
  sizes: the same prompt, the same number of image tokens, no visual information. Training and evaluating
  with it gives the **blind control** of issue 14: whatever such a model scores comes from the question and
  the answer statistics alone, so a model that looks must beat it.

A value outside these fails with the key's name (a typo must not silently mean "with depth").

The depth picture is the colour PNG beside the depth `.npy` (stage=generate writes both); when that PNG is
missing it is drawn from the `.npy` with `sif.depth.map.colorize` in memory (the data folder may be
read-only). A `depth` entry that is itself an image file is used as the picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from sif.config.enums import ImageInputs, values
from sif.data.images import ImageProblem, open_rgb

IMAGE_INPUTS = values(ImageInputs)  # ("rgb+depth", "rgb", "blank"), checked by OmegaConf at compose time
BLANK_GREY = (128, 128, 128)
DEFAULT_MAX_PIXELS = 50_000_000


class DepthProblem(ImageProblem):
    """The depth map of a sample is missing or unreadable."""


@dataclass(frozen=True)
class View:
    with_depth: bool  # the prompt shows the depth picture after the RGB one
    blank: bool  # every picture is replaced by mid-grey of its size


def view_of(image_inputs: Any, key: str = "stage.image_inputs") -> View:
    value = str(image_inputs)
    if value not in IMAGE_INPUTS:
        raise ValueError(f"{key}={value!r} is not one of {list(IMAGE_INPUTS)}")
    return View(with_depth=value != "rgb", blank=value == "blank")


def blank_picture(size: tuple[int, int]) -> Any:
    """Uniform mid-grey RGB of (width, height)."""
    from PIL import Image

    return Image.new("RGB", (int(size[0]), int(size[1])), BLANK_GREY)


def blanked(pictures: Sequence[Any]) -> list[Any]:
    """Each picture (PIL image, or a path to one, opened as every picture is: a bad file fails the same way)
    replaced by mid-grey of its size."""
    return [blank_picture((picture if hasattr(picture, "size") else open_rgb(picture)).size) for picture in pictures]


# ---- the pictures ---------------------------------------------------------------------------------------------

def depth_png_path(depth: str | Path) -> Path:
    """The colour picture of a depth map: the `.npy`'s sibling `.png` (or the path itself when not `.npy`)."""
    depth = Path(depth)
    return depth.with_suffix(".png") if depth.suffix.lower() == ".npy" else depth


def depth_image(depth: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Any:
    """The depth picture as a backend takes it: the PNG's path when it exists (loaded where it is used), else
    the map colourized now. Raises DepthProblem ("depth map missing" or "... unreadable")."""
    depth, png = Path(depth), depth_png_path(depth)
    if png.is_file():
        return str(png)
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


def load_depth_picture(depth: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Any:
    """`depth_image`, opened: an RGB PIL image (a bad PNG raises DepthProblem too)."""
    picture = depth_image(depth, max_pixels)
    if not isinstance(picture, str):
        return picture
    try:
        return open_rgb(picture, max_pixels)
    except ImageProblem as exc:
        reason = "depth map missing" if exc.reason == "image missing" else f"depth map unreadable ({exc.reason})"
        raise DepthProblem(reason, picture) from None


def load_pictures(image: str | Path, depth: str | Path | None, with_depth: bool,
                  max_pixels: int = DEFAULT_MAX_PIXELS) -> list[Any]:
    """[rgb] or [rgb, depth picture] as PIL images, in the order of the prompt's image placeholders."""
    pictures = [open_rgb(image, max_pixels)]
    if with_depth:
        if depth is None:
            raise DepthProblem("depth map missing", "(no depth path in the sample)")
        pictures.append(load_depth_picture(depth, max_pixels))
    return pictures
