"""What the model is shown: the one reading of `image_inputs`, shared by sft, grpo and eval.

* `rgb+depth` - the RGB picture and the colour depth picture (THE prompt of sif.prompt; the default);
* `rgb` - the RGB picture only (a model trained without the depth image);
* `blank` - the two-picture layout of `rgb+depth` with both pictures replaced by uniform mid-grey of the same
  sizes: the same prompt, the same number of image tokens, no visual information. Training and evaluating
  with it gives the **blind control** of issue 14: whatever such a model scores comes from the question and
  the answer statistics alone, so a model that looks must beat it.

A value outside these fails with the key's name (a typo must not silently mean "with depth").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

IMAGE_INPUTS = ("rgb+depth", "rgb", "blank")
BLANK_GREY = (128, 128, 128)


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
    from sif.data.images import open_rgb

    return [blank_picture((picture if hasattr(picture, "size") else open_rgb(picture)).size) for picture in pictures]
