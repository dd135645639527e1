"""Samples -> GRPO rows: THE prompt (same two images as SFT and eval), the pictures, and every reward column.

Each row, as the trainer's dataloader sees it (a lazy `set_transform`, see `sif.training.dataset`):

    prompt      the user turn of `sif.prompt.build_messages(question, choices, with_depth)` - RGB and depth
                images with their labels (the original dropped the depth image in RL: spec bug 15)
    images      [rgb, depth colour picture] (or [rgb] with stage.image_inputs=rgb), PIL, loaded on access
    id, answer, choices, gt_boxes, question, category, num_objects, chain
    image       absolute RGB path (the judge sends it), depth: absolute .npy path (the depth reward reads it)

Samples are checked first (schema, paths, images, depth; `sif.training.samples`); a chain is not required.
With `curriculum.order_by != none` the rows follow the curriculum's easy -> hard order and the trainer's
shuffling is turned off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

if TYPE_CHECKING:
    import datasets

    from sif.training.samples import CheckedSample, SampleReport

log = logging.getLogger("sif.grpo")

# Columns handed to the reward functions (besides prompts/completions); JSON-decoded where they are lists.
REWARD_COLUMNS = ("id", "answer", "choices", "gt_boxes", "image", "depth", "question", "category",
                  "num_objects", "chain")


def build_messages_check(style: str, with_depth: bool) -> None:
    """Fail before any work when the prompt style cannot take the pictures (the paper's RL prompt: RGB only)."""
    from sif.prompt import build_messages

    build_messages("q", None, with_depth=with_depth, style=style, phase="rl")


def with_depth_images(image_inputs: str) -> bool:
    """Whether the prompt shows the depth picture (sif.views reads `image_inputs`; a typo fails there)."""
    from sif.views import view_of

    return view_of(image_inputs).with_depth


@dataclass
class GRPORows:
    dataset: "datasets.Dataset"
    items: list["CheckedSample"]
    report: "SampleReport"
    samples_path: Path
    ordered: bool  # follows a curriculum order (the trainer must not shuffle)


def check_samples(cfg: Any, path: Path, with_depth: bool) -> "SampleReport":
    """Every sample of `path` checked (files decoded, depth present when the prompt shows it)."""
    from sif.training.samples import load_checked_samples

    report = load_checked_samples(
        path, image_root=cfg.dataset.image_root, allow_escape=bool(cfg.dataset.allow_path_escape),
        with_depth=with_depth, require_chain=False, paper_compat=bool(cfg.reward.paper_compat),
        max_pixels=int(cfg.dataset.max_pixels),
    )
    # Rewards need a depth map even when the prompt shows RGB only (depth_consistency reads the .npy).
    missing = [item for item in report.kept if item.depth is None]
    if missing:
        from sif.data.records import Rejection

        report.kept = [item for item in report.kept if item.depth is not None]
        report.rejected += [Rejection(item.sample.id, "depth_missing", "no depth map (the depth reward needs one)")
                            for item in missing]
    return report


def curriculum_order(items: Sequence["CheckedSample"], curriculum: Any,
                     seed: int) -> tuple[list["CheckedSample"], bool]:
    """Items in the curriculum's easy -> hard order when it asks for one (order_by != none)."""
    if curriculum is None or str(getattr(curriculum, "order_by", "none")) == "none":
        return list(items), False
    order = curriculum.sample_order([item.sample.to_dict() for item in items], seed=seed)
    if sorted(order) != list(range(len(items))):
        raise ValueError("curriculum.sample_order must return a permutation of the sample indices")
    return [items[i] for i in order], True


def rows_dict(items: Sequence["CheckedSample"]) -> dict[str, list]:
    """Column-wise plain data: sif.training.dataset.rows plus num_objects (-1 when unknown)."""
    from sif.training.dataset import rows

    out = rows(items)
    out["num_objects"] = [int(i.sample.num_objects) if i.sample.num_objects is not None else -1 for i in items]
    return out


class GRPOTransform:
    """Row batch -> GRPO examples: prompt + images (sif.training's transform, no completion) + reward columns."""

    def __init__(self, with_depth: bool, max_pixels: int, blank: bool = False, style: str = "sif") -> None:
        from sif.training.dataset import ExampleTransform

        passthrough = tuple(c for c in REWARD_COLUMNS if c != "num_objects")
        self.inner = ExampleTransform(with_depth=with_depth, completion=False, passthrough=passthrough,
                                      max_pixels=max_pixels, blank=blank, style=style, phase="rl")

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        out = self.inner(batch)
        out["num_objects"] = [None if int(n) < 0 else int(n) for n in batch["num_objects"]]
        return out


def build_rows(cfg: Any, stage: Any, curriculum: Any = None, samples_file: Optional[Path] = None) -> GRPORows:
    """The GRPO training rows of the dataset group (the synthetic cache is generated on first use)."""
    import datasets

    from sif.generate.dataset_cache import samples_path

    from sif.views import view_of

    view = view_of(stage.image_inputs)
    with_depth = view.with_depth
    path = Path(samples_file) if samples_file is not None else samples_path(cfg, "train")
    report = check_samples(cfg, path, with_depth)
    items, ordered = curriculum_order(report.kept, curriculum, int(cfg.seed))
    ds = datasets.Dataset.from_dict(rows_dict(items))
    style = str(getattr(stage, "prompt", "sif"))
    build_messages_check(style, with_depth)
    ds.set_transform(GRPOTransform(with_depth, int(cfg.dataset.max_pixels), blank=view.blank, style=style))
    return GRPORows(dataset=ds, items=items, report=report, samples_path=path, ordered=ordered)
