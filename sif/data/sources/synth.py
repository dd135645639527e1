"""Synthetic scenes as a source: one question per scene, exact depth, exact visible boxes."""

from __future__ import annotations

import zlib
from typing import Iterator

from sif.data.sources.base import SourceItem
from sif.registry import SOURCES

EVAL_INDEX_OFFSET = 10_000_000  # the held-out split draws scenes from a disjoint index range


def scene_params(dataset_cfg):
    from sif.data.scenes import SceneParams

    return SceneParams(width=int(dataset_cfg.image_width), height=int(dataset_cfg.image_height),
                       min_objects=int(dataset_cfg.min_objects), max_objects=int(dataset_cfg.max_objects),
                       mc_fraction=float(dataset_cfg.mc_fraction), question_types=tuple(dataset_cfg.question_types),
                       object_scale=float(dataset_cfg.get("object_scale", 1.0)))


def stable_seed(*parts: object) -> int:
    return zlib.crc32("/".join(str(p) for p in parts).encode())


def synth_item(index: int, seed: int, split: str, params) -> SourceItem:
    from sif.data.scenes import render_scene

    offset = EVAL_INDEX_OFFSET if split == "eval" else 0
    scene = render_scene(index + offset, seed, params)
    q = scene.questions[0]  # render_scene balances question types across indices
    targets = [{"name": scene.objects[i].name, "box": list(scene.objects[i].box),
                "depth": float(scene.objects[i].mean_depth)} for i in q.objects]
    return SourceItem(
        id=f"synth-{split}-{index:06d}", question=q.question, answer=q.answer, answer_text=q.answer_text,
        gt_boxes=[tuple(b) for b in q.boxes], rgb=scene.rgb, depth=scene.depth, choices=q.choices,
        category=q.qtype, num_objects=len(scene.objects),
        facts={"qtype": q.qtype, "num_objects": len(scene.objects), "targets": targets,
               "target_names": [t["name"] for t in targets]},
    )


def _render_star(args: tuple) -> SourceItem:
    return synth_item(*args)


@SOURCES.register("synth")
def synth_items(cfg, strict: bool, indices: list[int] | None = None, num_workers: int = 1) -> Iterator[SourceItem]:
    split = str(cfg.dataset.split)
    count = int(cfg.dataset.eval_samples if split == "eval" else cfg.dataset.num_samples)
    params = scene_params(cfg.dataset)
    wanted = list(range(count)) if indices is None else indices
    jobs = [(i, int(cfg.seed), split, params) for i in wanted]
    if num_workers > 1 and len(jobs) > 16:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(num_workers) as pool:
            yield from pool.imap(_render_star, jobs, chunksize=8)
    else:
        for job in jobs:
            yield _render_star(job)
